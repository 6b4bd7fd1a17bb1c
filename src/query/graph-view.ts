// GET /api/v1/graph: nodes and edges of the live graph as JSON, bounded by a caller's limit.
import type { StateGraph } from "../graph/graph.ts";
import { reportedMeta, type ErrorNode, type ProcessNode, type ResourceNode } from "../graph/nodes.ts";
import { byId } from "./processes.ts";
import { isoTime } from "./time.ts";

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
export function graphView(graph: StateGraph, limit: number): GraphJson {
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
  const resources = [...graph.resources.values()].sort(byId);
  for (const r of resources) if (!add(_resourceNode(r))) break;
  const errors = [...graph.errors.values()].sort(byId);
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
    for (const r of [...p.consumes].sort(byId)) if (!link("consumes", p.id, r)) break outer;
    for (const r of [...p.waitsOn].sort(byId)) if (!link("waits_on", p.id, r)) break outer;
    for (const e of [...p.blockedBy].sort(byId)) if (!link("blocked_by", p.id, e)) break outer;
  }
  return { nodes, edges, truncated };
}

function _processNode(p: ProcessNode): GraphNodeView {
  return { id: p.id, type: "process", pid: p.pid, job_id: p.jobId, state: p.state, updated_at: isoTime(p.updatedTs) };
}

function _resourceNode(r: ResourceNode): GraphNodeView {
  return { id: r.id, type: "resource", ...reportedMeta(r.meta), updated_at: isoTime(r.updatedTs) };
}

function _errorNode(e: ErrorNode): GraphNodeView {
  return { id: e.id, type: "error", entity: e.entityId, error_type: e.errorType, updated_at: isoTime(e.updatedTs) };
}
