// Active scenes as the status command, the landing page and the logs show them: the rule's
// title and priority, a one-line root cause, the pids and jobs affected.
import type { DiagnosisResult } from "../diagnosis/engine.ts";
import { matchCauses, type Cause, type ConditionEvidence } from "../diagnosis/evidence.ts";
import type { Rule } from "../diagnosis/rule.ts";
import { blockingFaults } from "../graph/blocking.ts";
import type { StateGraph } from "../graph/graph.ts";

export interface ActiveScene {
  scene: string;
  rule: string;
  priority: number;
  /** The rule's root cause, with the concrete errors behind it where the run named them. */
  root_cause: string;
  /** Error nodes among the evidence: `XID_79 on gpu-0`; the first 8, sorted. */
  errors: string[];
  /** True when the scene names more errors than `errors` lists (8), or its run found more causes than it kept. */
  errors_cut: boolean;
  affected_pids: number[];
  affected_jobs: string[];
  /** True when more processes are affected than `affected_pids` lists (the first 32 the run found); `ps` shows each. */
  affected_pids_cut: boolean;
  /**
   * False while the scene is held only by `--scene-settle`: the latest host-wide run no longer
   * found it, and the pids, jobs and errors are those of the last run that did (at `matched_at`).
   */
  matching: boolean;
  /** When the run that named these pids started (ISO time), or null when no kept run names the scene. */
  matched_at: string | null;
}

const _MAX_ERRORS = 8;

/**
 * The active scenes, highest priority first, each described from the newest of `runs`
 * (host-wide results, newest first) that found it: the latest run for a scene that still
 * matches, the last one that matched for a scene that only settles.
 */
export function activeScenes(active: ReadonlySet<string>, rules: readonly Rule[], runs: readonly DiagnosisResult[], graph: StateGraph): ActiveScene[] {
  const out: ActiveScene[] = [];
  for (const rule of rules) {
    if (!active.has(rule.scene)) continue;
    const run = runs.find((r) => r.matches.some((m) => m.scene === rule.scene));
    const summary = run?.matches.find((m) => m.scene === rule.scene);
    const pids = summary?.affected_pids ?? [];
    const top = run?.scene === rule.scene ? run : undefined;
    // A scene that is not the run's top one: the errors in its own evidence, not every fault
    // that blocks its pids (a network stall is not caused by an Xid on the same process's GPU).
    const all = top !== undefined ? _errorsOf(top.causes) : _errorsOfEvidence(summary?.evidence ?? [], graph, (summary && matchCauses(summary)) ?? []);
    const errors = all.slice(0, _MAX_ERRORS);
    // The jobs as the run found them (from the process then, or its events): a pid it named may
    // belong to another job now (reused), and one that ended has left the graph.
    const jobs = [...(summary?.affected_jobs ?? [])];
    const primary = rule.root_cause_pattern.primary;
    const scene: ActiveScene = {
      scene: rule.scene,
      rule: rule.name,
      priority: rule.priority,
      root_cause: errors.length > 0 ? `${primary} (${errors.slice(0, 3).join(", ")}${errors.length > 3 ? ", ..." : ""})` : primary,
      errors,
      errors_cut: all.length > errors.length || (top ?? summary)?.causes_cut === true,
      affected_pids: [...pids],
      affected_jobs: jobs,
      affected_pids_cut: summary?.affected_pids_cut === true,
      matching: run !== undefined && run === runs[0],
      matched_at: run?.started_at ?? null,
    };
    _allErrors.set(scene, all);
    out.push(scene);
  }
  return out.sort((a, b) => b.priority - a.priority);
}

/** Every error a scene names (`errors` lists the first 8): none of them is unexplained. */
const _allErrors = new WeakMap<ActiveScene, readonly string[]>();

function _errorsOf(causes: readonly Cause[]): string[] {
  const out: string[] = [];
  for (const c of causes) if (c.kind === "error") out.push(`${c.error_type} on ${c.entity_id}`);
  // An error event whose node has left (evicted at --max-nodes) is still the scene's evidence: named.
  for (const c of causes) {
    if (c.kind !== "event" || !_ERROR_EVENTS.has(c.event_type)) continue;
    const named = `${c.value} on ${c.entity_id}`;
    if (!out.some((x) => x.endsWith(` on ${c.entity_id}`))) out.push(named);
  }
  return out;
}

const _ERROR_EVENTS: ReadonlySet<string> = new Set(["error.hw", "error.net", "topo.link_down"]);

/**
 * The errors among what made a match's conditions hold: the error events and error nodes its
 * conditions matched; only when there are none (process_crash: "while it has a blocked_by edge"),
 * the faults behind the blocked_by edges it matched. A loose "some blocked_by edge" condition
 * beside a matched I/O error must not add an Xid that blocks the same process.
 */
function _errorsOfEvidence(evidence: readonly ConditionEvidence[], graph: StateGraph, causes: readonly Cause[]): string[] {
  const direct = new Set<string>();
  const blocking = new Set<string>();
  // The error events its conditions matched: the evidence shows four per condition, the causes
  // name the rest (six hot GPUs are six errors the scene explains).
  for (const c of causes) if (c.kind === "event" && _ERROR_EVENTS.has(c.event_type)) direct.add(`${c.value} on ${c.entity_id}`);
  for (const c of evidence) {
    for (const ev of c.events ?? []) if (_ERROR_EVENTS.has(ev.event_type)) direct.add(`${ev.value} on ${ev.entity_id}`);
    for (const n of c.nodes ?? []) if (n.type === "error" && n.values.error_type) direct.add(`${n.values.error_type} on ${n.values.entity_id}`);
    for (const ed of c.edges ?? []) {
      if (ed.type !== "blocked_by") continue;
      const p = graph.processes.get(Number(ed.from.slice("pid-".length)));
      const i = p === undefined ? -1 : p.blockedBy.findIndex((e) => e.id === ed.to);
      // The value of the fault that concerns this process, not the error node's last one (its own and a device fault since: both).
      if (p !== undefined && i >= 0) for (const f of blockingFaults(p, i, graph.eventNow, Date.now(), graph.errorWindowMs)) blocking.add(`${f.type} on ${p.blockedBy[i].entityId}`);
    }
  }
  return [...(direct.size > 0 ? direct : blocking)].sort();
}

/** An error node inside the window that no active scene names: a fault no rule explains. */
export interface UnexplainedError {
  entity: string;
  error_type: string;
  /** Event times (ISO) of its first and last report. */
  since: string;
  updated_at: string;
}

const _MAX_UNEXPLAINED = 8;

/**
 * The errors in the graph that none of `scenes` names (an NFS server not responding, a
 * non-fatal SXid, a probe's own error kind), newest first, at most 8: so "no scene is active"
 * never hides a fault the graph holds. Walks the error nodes, which the error window keeps few.
 */
export function unexplainedErrors(graph: StateGraph, scenes: readonly ActiveScene[]): { shown: UnexplainedError[]; total: number } {
  // Every entity a scene's error line (`TYPE on ENTITY`) can end with: one lookup per error node.
  const named = new Set<string>();
  for (const s of scenes) {
    for (const x of _allErrors.get(s) ?? s.errors) for (let i = x.indexOf(" on "); i >= 0; i = x.indexOf(" on ", i + 1)) named.add(x.slice(i + 4));
  }
  const left = [...graph.errors.values()].filter((e) => !named.has(e.entityId));
  left.sort((a, b) => b.updatedTs - a.updatedTs);
  const shown = left.slice(0, _MAX_UNEXPLAINED).map((e) => ({ entity: e.entityId, error_type: e.errorType, since: _iso(e.sinceTs), updated_at: _iso(e.updatedTs) }));
  return { shown, total: left.length };
}

function _iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}
