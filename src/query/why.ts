// The answer of GET /api/v1/why/:pid and `why`: SPEC §3's root cause of one process, and the
// diagnosis's own matches for it (typed as the diagnosis produces them).
import type { ConditionEvidence, SceneMatch } from "../diagnosis/evidence.ts";
import { blockedLastTs, blockedType, blockingFaults } from "../graph/blocking.ts";
import type { StateGraph } from "../graph/graph.ts";
import { reportedMeta, sparedBy, type ErrorNode, type ProcessNode, type ResourceMeta, type ResourceNode } from "../graph/nodes.ts";
import { byId } from "./processes.ts";
import { isoTime } from "./time.ts";

export type { ConditionEvidence, SceneMatch };

export interface RootCause {
  /** The error node id, `error-<entity>`. */
  error: string;
  entity: string;
  error_type: string;
  /** Event time of the fault that made this error concern the process (a newcomer: the fault that hit it, not an earlier one). */
  since: string | null;
  /** Event time of the last fault there that concerns this process (its own, or a device fault): the error window runs from there. */
  updated_at: string | null;
}

export interface ResourceRef {
  resource: string;
  meta: Record<string, string>;
}

export interface WhyAnswer {
  pid: number;
  job_id: string | null;
  state: string;
  /** False for a process in the graph; true for the last answer about one that has left it (ended.ts). */
  ended: boolean;
  root_causes: RootCause[];
  waits_on: ResourceRef[];
  consumes: ResourceRef[];
  /** Diagnosis scenes that match this process, with their evidence. */
  scenes: SceneMatch[];
  /**
   * Active scenes that only settle (`--scene-settle`: the latest run no longer found them) whose
   * last run that found them named this process (`ps` shows them); not among `scenes`, which is
   * what matches it now. Their evidence then is in that run (GET /api/v1/diagnoses).
   */
  settling?: { scene: string; rule: string; matched_at: string | null }[];
  /** A live process's pid held by an earlier process that left the graph lately: which (its answer: `?ended=true`). */
  ended_before?: { job_id: string | null; state: string; left_at: string | null };
  /**
   * Other processes of its job that errors block now, each with the faults that block it, at
   * most `MAX_JOB_PEERS` (a live answer about a process with a job id only). Facts beside its
   * root causes, never among them: a rank whose GPU fell off the bus holds every rank of its
   * collective, whose own devices are fine, and their `why` said "none known".
   */
  job_blocked?: JobPeer[];
  /** How many such processes there are: more than `job_blocked` lists when it is cut (present with it). */
  job_blocked_total?: number;
  /**
   * Faults inside the error window on what it uses that do not block it, each with the reason
   * (a live answer, present when there is one): the fault a host-wide scene names on its GPU is
   * not its root cause, and the answer says why rather than "none known" alone.
   */
  not_charged?: NotCharged[];
  /** How many such faults there are: more than `not_charged` lists when it is cut (present with it). */
  not_charged_total?: number;
  /**
   * How many root causes, waits and resources there were, each present only when its list is cut
   * (an ended process's answer keeps MAX_LIST of each, ended.ts; a live answer is never cut).
   */
  root_causes_total?: number;
  waits_on_total?: number;
  consumes_total?: number;
}

/**
 * A fault on a resource the process uses that is not charged to it, and why:
 * `started_after`: it started after the device fault (its start told); `start_unknown`: the
 * device fault came before the exporter saw the device's users and its start was never told (it
 * may have come after: a wrong blame is worse than none); `came_after`: it came to the device
 * after the device fault (in these three, the next report of the fault there charges it);
 * `another_process`: another process's own fault there (an OOM, an Xid 13 naming its pid), `pid`.
 */
export interface NotCharged {
  entity: string;
  error_type: string;
  at: string | null;
  reason: "started_after" | "start_unknown" | "came_after" | "another_process";
  pid?: number;
}

/** Faults `not_charged` lists at most (newest first); `not_charged_total` says how many there are. */
export const MAX_NOT_CHARGED = 16;

/** A process of the same job and the faults that block it. */
export interface JobPeer {
  pid: number;
  state: string;
  errors: { entity: string; error_type: string }[];
}

/** Peers `job_blocked` names at most. */
export const MAX_JOB_PEERS = 8;

/** Supplies the matching scenes of one process (the diagnosis engine plugs in here). */
export type ScenesFor = (pid: number) => SceneMatch[] | undefined;

/**
 * The root cause of one process, or undefined for an unknown pid. blocked_by edges are
 * followed transitively; in this graph they run process → error and errors have no edges of
 * their own, so every error reached is one hop away.
 */
export function whyView(graph: StateGraph, pid: number, scenesFor?: ScenesFor): WhyAnswer | undefined {
  const p = graph.processes.get(pid);
  if (p === undefined) return undefined;
  const a = whyOf(p, scenesFor?.(pid) ?? [], Infinity, graph);
  const peers = jobBlocked(graph, p);
  if (peers.length > 0) {
    a.job_blocked = peers.length > MAX_JOB_PEERS ? peers.slice(0, MAX_JOB_PEERS) : peers;
    a.job_blocked_total = peers.length;
  }
  const spared = notCharged(graph, p);
  if (spared.length > 0) a.not_charged = spared.length > MAX_NOT_CHARGED ? spared.slice(0, MAX_NOT_CHARGED) : spared;
  if (spared.length > MAX_NOT_CHARGED) a.not_charged_total = spared.length;
  return a;
}

/** See `WhyAnswer.not_charged`: the faults inside the window on `p`'s resources that block it not, newest first. */
export function notCharged(graph: StateGraph, p: ProcessNode): NotCharged[] {
  const out: (NotCharged & { ts: number })[] = [];
  if (graph.pendingLinks !== 0) return out; // a first fault's links still being made: not yet known whom it spares
  const wall = Date.now();
  const fresh = (ts: number, at: number) => graph.eventNow - ts <= graph.errorWindowMs && wall - at <= graph.errorWindowMs;
  for (const r of new Set([...p.consumes, ...p.waitsOn])) {
    const e = graph.errors.get(r.id);
    if (e === undefined || e.blocked.has(p)) continue;
    if (e.deviceTs !== -Infinity && !e.deviceSwept) {
      const reason = sparedBy(p, r, e.deviceTs) ?? "came_after";
      out.push({ entity: e.entityId, error_type: e.deviceType, at: isoTime(e.deviceTs), reason, ts: e.deviceTs });
    }
    for (const q of e.ownEdges.keys()) {
      const i = q.blockedBy.indexOf(e);
      if (q === p || i === -1 || !fresh(q.blockedLast[i], q.blockedLastWall[i])) continue;
      out.push({ entity: e.entityId, error_type: q.blockedType[i], at: isoTime(q.blockedLast[i]), reason: "another_process", pid: q.pid, ts: q.blockedLast[i] });
    }
  }
  out.sort((a, b) => b.ts - a.ts || (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : (a.pid ?? 0) - (b.pid ?? 0)));
  return out.map(({ ts: _, ...f }) => f);
}

/**
 * Every other process of `p`'s job that errors block now (see `WhyAnswer.job_blocked`), by pid.
 * One walk over the processes: an on-demand answer's cost, never an event's.
 */
export function jobBlocked(graph: StateGraph, p: ProcessNode): JobPeer[] {
  const job = p.jobId;
  if (job === null) return [];
  const wall = Date.now();
  const out: JobPeer[] = [];
  for (const q of graph.processes.values()) {
    if (q === p || q.jobId !== job || q.blockedBy.length === 0) continue;
    const errors = q.blockedBy.flatMap((e, i) => blockingFaults(q, i, graph.eventNow, wall, graph.errorWindowMs).map((f) => ({ entity: e.entityId, error_type: f.type })));
    out.push({ pid: q.pid, state: q.state, errors });
  }
  out.sort((a, b) => a.pid - b.pid);
  return out;
}

/** The graph's clock and error window: which faults are still inside it (blocking.ts `blockingFaults`). */
export interface FaultClock {
  readonly eventNow: number;
  readonly errorWindowMs: number;
}

/** The answer about process `p` as the graph holds it now, with `scenes`; each list cut at `max` entries. */
export function whyOf(p: ProcessNode, scenes: SceneMatch[], max = Infinity, clock?: FaultClock): WhyAnswer {
  // Each error with the value of the fault that blocked this process (its node keeps only the
  // last value, which may be another process's fault on the same entity); its own fault there
  // and a device fault since, both (blocking.ts `blockingFaults`).
  const wall = Date.now();
  const causes = p.blockedBy.flatMap((e, i) =>
    (clock === undefined ? [{ type: blockedType(p, i), since: p.blockedAt[i], last: blockedLastTs(p, i) }] : blockingFaults(p, i, clock.eventNow, wall, clock.errorWindowMs)).map((f) => ({ e, type: f.type, since: f.since, last: f.last })),
  );
  causes.sort((a, b) => b.last - a.last || (a.e.id < b.e.id ? -1 : 1));
  const answer: WhyAnswer = {
    pid: p.pid,
    job_id: p.jobId,
    state: p.state,
    ended: false,
    root_causes: causes.slice(0, max).map((c) => _rootCause(c.e, c.type, c.since, c.last)),
    waits_on: _refs(p.waitsOn, p.waitReadings, max),
    consumes: _refs(p.consumes, null, max),
    scenes,
  };
  // A cut list says how long it was, so the reader knows there is more than it shows.
  if (causes.length > max) answer.root_causes_total = causes.length;
  if (p.waitsOn.size > max) answer.waits_on_total = p.waitsOn.size;
  if (p.consumes.size > max) answer.consumes_total = p.consumes.size;
  return answer;
}

function _rootCause(e: ErrorNode, type: string, since: number | null, last: number): RootCause {
  return { error: e.id, entity: e.entityId, error_type: type, since: since === null ? null : isoTime(since), updated_at: isoTime(last) };
}

/** `own`: the process's own readings, shown over the resource's last (another process's, maybe). */
function _refs(set: Iterable<ResourceNode>, own: ReadonlyMap<ResourceNode, ResourceMeta> | null, max: number): ResourceRef[] {
  const sorted = [...set].sort(byId);
  if (sorted.length > max) sorted.length = max;
  return sorted.map((r) => {
    const mine = own?.get(r);
    return { resource: r.id, meta: mine === undefined ? reportedMeta(r.meta) : { ...reportedMeta(r.meta), ...reportedMeta(mine) } };
  });
}
