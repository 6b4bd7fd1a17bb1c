// The result of one diagnosis run, as the API keeps and serves it.
import type { Cause, ConditionEvidence, SceneMatch } from "./evidence.ts";
import type { Severity, SolutionStep } from "./rule.ts";

/** Why a run happened: automatic runs (`auto`, a replay's final `replay`) move scene state; `api` runs do not. */
export type RunTrigger = "auto" | "api" | "replay";

/** A match as listed among all scenes of a run. */
export interface MatchSummary {
  scene: string;
  rule: string;
  priority: number;
  severity: Severity;
  confidence: number;
  affected_pids: number[];
  /** The jobs of those pids when the run found them (a pid may belong to another job later). */
  affected_jobs: string[];
  /** True when more processes are affected than `affected_pids` lists (SceneMatch.affected_pids_cut). */
  affected_pids_cut: boolean;
  /** True when the match named more causes than its cap (SceneMatch.causes_cut). */
  causes_cut: boolean;
}

export interface DiagnosisResult {
  id: number;
  trigger: RunTrigger;
  /** The process a per-pid run looked at, or null for the whole host. */
  pid: number | null;
  started_at: string;
  duration_ms: number;
  /** The highest-priority matching scene, or null when none matches. */
  scene: string | null;
  rule: string | null;
  severity: Severity | null;
  confidence: number;
  root_cause: { primary: string; secondary: string[] } | null;
  causes: Cause[];
  /** True when more causes were found than `causes` lists (it names 16 at most). */
  causes_cut: boolean;
  /** What made each condition of the top scene hold. */
  evidence: ConditionEvidence[];
  affected_pids: number[];
  affected_jobs: string[];
  affected_pids_cut: boolean;
  solution_steps: SolutionStep[];
  /** Every matching scene, highest priority first, each with its evidence. */
  matches: (MatchSummary & { evidence: ConditionEvidence[] })[];
}

export function toResult(id: number, trigger: RunTrigger, pid: number | null, matches: SceneMatch[], seconds: number, wall: number): DiagnosisResult {
  const top = matches[0];
  return {
    id,
    trigger,
    pid,
    started_at: new Date(wall).toISOString(),
    duration_ms: Math.round(seconds * 1e6) / 1000,
    scene: top?.scene ?? null,
    rule: top?.rule ?? null,
    severity: top?.severity ?? null,
    confidence: top?.confidence ?? 0,
    root_cause: top?.root_cause ?? null,
    causes: top?.causes ?? [],
    causes_cut: top?.causes_cut ?? false,
    evidence: top?.evidence ?? [],
    affected_pids: top?.affected_pids ?? [],
    affected_jobs: top?.affected_jobs ?? [],
    affected_pids_cut: top?.affected_pids_cut ?? false,
    solution_steps: top?.solution_steps ?? [],
    matches: matches.map((x) => ({
      scene: x.scene,
      rule: x.rule,
      priority: x.priority,
      severity: x.severity,
      confidence: x.confidence,
      affected_pids: x.affected_pids,
      affected_jobs: x.affected_jobs,
      affected_pids_cut: x.affected_pids_cut,
      causes_cut: x.causes_cut,
      evidence: x.evidence,
    })),
  };
}
