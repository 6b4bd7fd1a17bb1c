// Process rows for GET /api/v1/processes and `ps`: what each process uses, waits on, what
// blocks it (with the error types) and the scenes that name it. Walks the graph, so it serves
// API reads only, never the event path or a scrape; the list is bounded by the caller's limit.
import { blockingFaults } from "../graph/blocking.ts";
import type { StateGraph } from "../graph/graph.ts";
import type { ErrorNode, ProcessNode } from "../graph/nodes.ts";
import { ageSeconds, isoTime } from "./time.ts";

export const DEFAULT_VIEW_LIMIT = 10_000;

/** One error blocking a process. */
export interface BlockingError {
  /** The error node id, `error-<entity>`. */
  error: string;
  entity: string;
  error_type: string;
}

export interface ProcessRow {
  pid: number;
  job_id: string | null;
  state: string;
  /** Resources the process consumes or waits on, sorted. */
  resources: string[];
  /** Resources it consumes (GPUs, NPUs), sorted. */
  consumes: string[];
  waits_on: string[];
  /** Error node ids. */
  blocked_by: string[];
  /** The same errors with their entity and type. */
  blocked_by_errors: BlockingError[];
  /** Active scenes whose latest host-wide run naming them named this process (a settling scene: the last run that found it). */
  scenes: string[];
  /** Those of `scenes` that only settle (`--scene-settle`): the latest run no longer found them; `ps` marks them. */
  settling_scenes: string[];
  /** Event time of the last update, ISO 8601. */
  updated_at: string | null;
  /** Seconds since the exporter last received an event about this process. */
  age_s: number | null;
}

export interface ProcessList {
  rows: ProcessRow[];
  /** Processes in the graph; more than rows.length when the limit cut the list. */
  total: number;
}

/** Scenes naming each pid (from the latest host-wide diagnosis run). */
export type ScenesByPid = ReadonlyMap<number, readonly string[]>;

/** Processes sorted by pid, at most `limit` of them. */
export function processRows(graph: StateGraph, limit = DEFAULT_VIEW_LIMIT, scenes: ScenesByPid = new Map(), nowWall = Date.now(), settling: ReadonlySet<string> = new Set()): ProcessList {
  const pids = [...graph.processes.keys()].sort((a, b) => a - b);
  const rows: ProcessRow[] = [];
  for (const pid of pids.length > limit ? pids.slice(0, limit) : pids) rows.push(processRow(graph.processes.get(pid)!, scenes, nowWall, graph, settling));
  return { rows, total: pids.length };
}

export function processRow(p: ProcessNode, scenes: ScenesByPid, nowWall: number, clock: { eventNow: number; errorWindowMs: number }, settling: ReadonlySet<string> = new Set()): ProcessRow {
  const named = scenes.get(p.pid) ?? [];
  const resources = new Set<string>();
  for (const r of p.consumes) resources.add(r.id);
  for (const r of p.waitsOn) resources.add(r.id);
  // Each error with the value of the fault that concerns this process (blocking.ts).
  // Its own fault there and a device fault since are both said (blocking.ts `blockingFaults`).
  const errors = p.blockedBy.map((e, i) => ({ id: e.id, e, types: blockingFaults(p, i, clock.eventNow, nowWall, clock.errorWindowMs).map((f) => f.type) })).sort(byId);
  return {
    pid: p.pid,
    job_id: p.jobId,
    state: p.state,
    resources: [...resources].sort(),
    consumes: ids(p.consumes),
    waits_on: ids(p.waitsOn),
    blocked_by: errors.map((x) => x.id),
    blocked_by_errors: errors.flatMap((x) => x.types.map((t) => blockingError(x.e, t))),
    scenes: [...named],
    settling_scenes: named.filter((s) => settling.has(s)),
    updated_at: isoTime(p.updatedTs),
    age_s: ageSeconds(p.updatedWall, nowWall),
  };
}

export function blockingError(e: ErrorNode, type = e.errorType): BlockingError {
  return { error: e.id, entity: e.entityId, error_type: type };
}

export function ids(set: Iterable<{ id: string }>): string[] {
  return [...set].map((n) => n.id).sort();
}

export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
