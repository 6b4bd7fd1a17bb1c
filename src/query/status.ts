// Active scenes as the status command, the landing page and the logs show them: the rule's
// title and priority, a one-line root cause, the pids and jobs affected.
import type { DiagnosisResult } from "../diagnosis/engine.ts";
import type { Cause } from "../diagnosis/evidence.ts";
import type { Rule } from "../diagnosis/rule.ts";
import { blockedType } from "../graph/blocking.ts";
import type { StateGraph } from "../graph/graph.ts";

export interface ActiveScene {
  scene: string;
  rule: string;
  priority: number;
  /** The rule's root cause, with the concrete errors behind it where the run named them. */
  root_cause: string;
  /** Error nodes among the evidence: `XID_79 on gpu-0`. */
  errors: string[];
  affected_pids: number[];
  affected_jobs: string[];
}

const _MAX_ERRORS = 8;

/** The active scenes, highest priority first, described from the latest host-wide run. */
export function activeScenes(active: ReadonlySet<string>, rules: readonly Rule[], run: DiagnosisResult | undefined, graph: StateGraph): ActiveScene[] {
  const out: ActiveScene[] = [];
  for (const rule of rules) {
    if (!active.has(rule.scene)) continue;
    const summary = run?.matches.find((m) => m.scene === rule.scene);
    const pids = summary?.affected_pids ?? [];
    const top = run?.scene === rule.scene ? run : undefined;
    const errors = top !== undefined ? _errorsOf(top.causes) : _errorsOfPids(pids, graph);
    const jobs = top !== undefined ? [...top.affected_jobs] : _jobsOf(pids, graph);
    const primary = rule.root_cause_pattern.primary;
    out.push({
      scene: rule.scene,
      rule: rule.name,
      priority: rule.priority,
      root_cause: errors.length > 0 ? `${primary} (${errors.slice(0, 3).join(", ")}${errors.length > 3 ? ", ..." : ""})` : primary,
      errors,
      affected_pids: [...pids],
      affected_jobs: jobs,
    });
  }
  return out.sort((a, b) => b.priority - a.priority);
}

function _errorsOf(causes: readonly Cause[]): string[] {
  const out: string[] = [];
  for (const c of causes) if (c.kind === "error" && out.length < _MAX_ERRORS) out.push(`${c.error_type} on ${c.entity_id}`);
  return out;
}

function _errorsOfPids(pids: readonly number[], graph: StateGraph): string[] {
  const out = new Set<string>();
  for (const pid of pids) {
    const p = graph.processes.get(pid);
    if (p === undefined) continue;
    // The value of the fault that concerns this process, not the error node's last one.
    p.blockedBy.forEach((e, i) => {
      if (out.size < _MAX_ERRORS) out.add(`${blockedType(p, i)} on ${e.entityId}`);
    });
  }
  return [...out].sort();
}

function _jobsOf(pids: readonly number[], graph: StateGraph): string[] {
  const out = new Set<string>();
  for (const pid of pids) {
    const job = graph.processes.get(pid)?.jobId;
    if (job) out.add(job);
  }
  return [...out].sort();
}
