// Read-only views of the state graph for the API and the CLI: process rows, a why answer,
// nodes and edges as JSON or Graphviz DOT. These walk the graph, so they serve API reads
// only, never the event path or a scrape; every list is bounded by a caller's limit.
import { blockedType } from "./blocking.ts";
import type { StateGraph } from "./graph.ts";
import { RESOURCE_KEYS, reportedMeta, type ErrorNode, type ProcessNode, type ResourceNode } from "./nodes.ts";

export const DEFAULT_VIEW_LIMIT = 10_000;

export interface ProcessRow {
  pid: number;
  job_id: string | null;
  state: string;
  /** Resources the process consumes or waits on, sorted. */
  resources: string[];
  waits_on: string[];
  /** Error node ids. */
  blocked_by: string[];
  /** Event time of the last update, ISO 8601. */
  updated_at: string | null;
}

export interface ProcessList {
  rows: ProcessRow[];
  /** Processes in the graph; more than rows.length when the limit cut the list. */
  total: number;
}

/** Processes sorted by pid, at most `limit` of them. */
export function processRows(graph: StateGraph, limit = DEFAULT_VIEW_LIMIT): ProcessList {
  const pids = [...graph.processes.keys()].sort((a, b) => a - b);
  const rows: ProcessRow[] = [];
  for (const pid of pids.length > limit ? pids.slice(0, limit) : pids) {
    const p = graph.processes.get(pid)!;
    const resources = new Set<string>();
    for (const r of p.consumes) resources.add(r.id);
    for (const r of p.waitsOn) resources.add(r.id);
    rows.push({
      pid,
      job_id: p.jobId,
      state: p.state,
      resources: [...resources].sort(),
      waits_on: _ids(p.waitsOn),
      blocked_by: _ids(p.blockedBy),
      updated_at: isoTime(p.updatedTs),
    });
  }
  return { rows, total: pids.length };
}

export interface RootCause {
  /** The error node id, `error-<entity>`. */
  error: string;
  entity: string;
  error_type: string;
  /** Event time of the fault that made this error concern the process (a newcomer: the fault that hit it, not an earlier one). */
  since: string | null;
  /** Event time of its last report: the error window runs from there. */
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
  root_causes: RootCause[];
  waits_on: ResourceRef[];
  consumes: ResourceRef[];
  /** Diagnosis scenes that name this process; filled by the diagnosis through `scenesFor`. */
  scenes: unknown[];
}

/** Supplies the matching scenes of one process (the diagnosis engine plugs in here). */
export type ScenesFor = (pid: number) => unknown[];

/**
 * SPEC §3's root cause of one process, or undefined for an unknown pid. blocked_by edges are
 * followed transitively; in this graph they run process → error and errors have no edges of
 * their own, so every error reached is one hop away.
 */
export function whyView(graph: StateGraph, pid: number, scenesFor?: ScenesFor): WhyAnswer | undefined {
  const p = graph.processes.get(pid);
  if (p === undefined) return undefined;
  // Each error with the value of the fault that blocked this process (its node keeps only the
  // last value, which may be another process's fault on the same entity).
  const causes = p.blockedBy.map((e, i) => ({ e, type: blockedType(p, i), since: p.blockedAt[i] }));
  causes.sort((a, b) => b.e.updatedTs - a.e.updatedTs || (a.e.id < b.e.id ? -1 : 1));
  return {
    pid,
    job_id: p.jobId,
    state: p.state,
    root_causes: causes.map((c) => _rootCause(c.e, c.type, c.since)),
    waits_on: _refs(p.waitsOn),
    consumes: _refs(p.consumes),
    scenes: scenesFor?.(pid) ?? [],
  };
}

export interface GraphNodeView {
  id: string;
  type: "process" | "resource" | "error";
  [key: string]: unknown;
}

export interface GraphEdgeView {
  type: "consumes" | "waits_on" | "blocked_by";
  from: string;
  to: string;
}

export interface GraphJson {
  nodes: GraphNodeView[];
  edges: GraphEdgeView[];
  /** True when the limit left nodes or edges out. */
  truncated: boolean;
}

/**
 * Nodes (processes by pid, then resources, then errors, by id) and the edges between the
 * nodes shown. At most `limit` nodes and 4 × `limit` edges.
 */
export function graphView(graph: StateGraph, limit = DEFAULT_VIEW_LIMIT): GraphJson {
  const nodes: GraphNodeView[] = [];
  const shown = new Set<string>();
  let truncated = false;
  const add = (n: GraphNodeView): boolean => {
    if (nodes.length >= limit) {
      truncated = true;
      return false;
    }
    nodes.push(n);
    shown.add(n.id);
    return true;
  };

  const procs = [...graph.processes.values()].sort((a, b) => a.pid - b.pid);
  for (const p of procs) if (!add(_processNode(p))) break;
  const resources = [...graph.resources.values()].sort(_byId);
  for (const r of resources) if (!add(_resourceNode(r))) break;
  const errors = [...graph.errors.values()].sort(_byId);
  for (const e of errors) if (!add(_errorNode(e))) break;

  const edges: GraphEdgeView[] = [];
  const maxEdges = limit * 4;
  const link = (type: GraphEdgeView["type"], from: string, to: { id: string }): boolean => {
    if (!shown.has(to.id)) return true;
    if (edges.length >= maxEdges) {
      truncated = true;
      return false;
    }
    edges.push({ type, from, to: to.id });
    return true;
  };
  outer: for (const p of procs) {
    if (!shown.has(p.id)) break;
    for (const r of [...p.consumes].sort(_byId)) if (!link("consumes", p.id, r)) break outer;
    for (const r of [...p.waitsOn].sort(_byId)) if (!link("waits_on", p.id, r)) break outer;
    for (const e of [...p.blockedBy].sort(_byId)) if (!link("blocked_by", p.id, e)) break outer;
  }
  return { nodes, edges, truncated };
}

// One look per node type and one per edge kind, so the picture reads without a legend.
const _NODE_STYLE: Record<GraphNodeView["type"], string> = {
  process: 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
  resource: 'shape=ellipse, style=filled, fillcolor="#e8f4e0"',
  error: 'shape=octagon, style=filled, fillcolor="#f8d4d4", color="#b00020"',
};
const _EDGE_STYLE: Record<GraphEdgeView["type"], string> = {
  consumes: 'style=solid, color="#4a6fa5"',
  waits_on: 'style=dashed, color="#d08000"',
  blocked_by: 'style=bold, color="#b00020"',
};

/** The same view as Graphviz DOT: every id quoted, one style per node type and edge kind. */
export function graphDot(view: GraphJson): string {
  const out: string[] = ["digraph xctl {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];'];
  if (view.truncated) out.push(`  label=${_quote("truncated: raise ?limit= to see everything")};`);
  for (const n of view.nodes) {
    out.push(`  ${_quote(n.id)} [label=${_quote(_dotLabel(n))}, ${_NODE_STYLE[n.type]}];`);
  }
  for (const e of view.edges) {
    out.push(`  ${_quote(e.from)} -> ${_quote(e.to)} [label=${_quote(e.type)}, ${_EDGE_STYLE[e.type]}];`);
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** Event time as ISO 8601; null where the number is outside what a Date can hold. */
export function isoTime(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  return new Date(ms).toISOString();
}

function _processNode(p: ProcessNode): GraphNodeView {
  return { id: p.id, type: "process", pid: p.pid, job_id: p.jobId, state: p.state, updated_at: isoTime(p.updatedTs) };
}

function _resourceNode(r: ResourceNode): GraphNodeView {
  return { id: r.id, type: "resource", ..._meta(r), updated_at: isoTime(r.updatedTs) };
}

function _errorNode(e: ErrorNode): GraphNodeView {
  return { id: e.id, type: "error", entity: e.entityId, error_type: e.errorType, updated_at: isoTime(e.updatedTs) };
}

function _rootCause(e: ErrorNode, type: string, since: number): RootCause {
  return { error: e.id, entity: e.entityId, error_type: type, since: isoTime(since), updated_at: isoTime(e.updatedTs) };
}

function _refs(set: Iterable<ResourceNode>): ResourceRef[] {
  return [...set].sort(_byId).map((r) => ({ resource: r.id, meta: _meta(r) }));
}

function _meta(r: ResourceNode): Record<string, string> {
  return reportedMeta(r.meta);
}

function _ids(set: Iterable<{ id: string }>): string[] {
  return [...set].map((n) => n.id).sort();
}

function _byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function _dotLabel(n: GraphNodeView): string {
  switch (n.type) {
    case "process":
      return `${n.id}\n${n.job_id ?? "-"} ${n.state}`;
    case "error":
      return `${n.id}\n${n.error_type}`;
    case "resource": {
      const meta = RESOURCE_KEYS.filter((k) => n[k] !== undefined).map((k) => `${k}=${n[k]}`);
      return meta.length > 0 ? `${n.id}\n${meta.join(" ")}` : n.id;
    }
  }
}

/** A DOT double-quoted string: backslash and quote escaped, newlines as \n line breaks. */
function _quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => "\\" + c).replace(/\r?\n/g, "\\n") + '"';
}
