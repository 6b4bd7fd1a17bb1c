// Eviction at `--max-nodes` (SPEC §3): every node kind counts against the bound, and what goes
// first is what diagnosis needs least: ended processes, then resources with no edges (oldest
// first), then the oldest error nodes, then processes that are neither running nor ended, and
// running processes last. Past the bound a twentieth of it is freed in one go, so the sorts
// are paid rarely. Each removal counts under its node kind (xctl_graph_evictions_total{kind}).
import { isEnded } from "../events/schema.ts";
import { type ErrorNode, type ProcessNode, type ResourceNode } from "./nodes.ts";
import type { LeaveReason } from "./options.ts";

export type EvictedKind = "process" | "resource" | "error";

/** What eviction needs of the graph. */
export interface Evictable {
  readonly processes: ReadonlyMap<number, ProcessNode>;
  readonly resources: ReadonlyMap<string, ResourceNode>;
  readonly errors: ReadonlyMap<string, ErrorNode>;
  readonly nodeCount: number;
  readonly maxNodes: number;
  readonly evictions: Map<EvictedKind, number>;
  removeProcess(p: ProcessNode, reason?: LeaveReason): void;
  removeResource(r: ResourceNode): void;
  removeError(e: ErrorNode): void;
}

export function newEvictionCounts(): Map<EvictedKind, number> {
  return new Map<EvictedKind, number>([
    ["process", 0],
    ["resource", 0],
    ["error", 0],
  ]);
}

type Aged = { updatedWall: number; updatedTs: number };
const _oldestFirst = (a: Aged, b: Aged) => a.updatedWall - b.updatedWall || a.updatedTs - b.updatedTs;

export function evict(g: Evictable, notRunning: Iterable<ProcessNode>): void {
  const target = g.maxNodes - Math.max(1, Math.floor(g.maxNodes / 20));
  const count = (kind: EvictedKind) => g.evictions.set(kind, g.evictions.get(kind)! + 1);
  const processes = (ps: Iterable<ProcessNode>) => {
    for (const p of ps) {
      if (g.nodeCount <= target) return;
      g.removeProcess(p, "evicted");
      count("process");
    }
  };
  const resources = (rs: Iterable<ResourceNode>) => {
    for (const r of rs) {
      if (g.nodeCount <= target) return;
      g.removeResource(r);
      count("resource");
    }
  };
  const edgeless = () => [...g.resources.values()].filter((r) => r.consumers.size === 0 && r.waiters.size === 0).sort(_oldestFirst);

  const idle = [...notRunning];
  processes(idle.filter((p) => isEnded(p.state)));
  if (g.nodeCount > target) resources(edgeless());
  if (g.nodeCount > target) {
    for (const e of [...g.errors.values()].sort(_oldestFirst)) {
      if (g.nodeCount <= target) break;
      g.removeError(e);
      count("error");
    }
  }
  if (g.nodeCount > target) processes(idle.filter((p) => !isEnded(p.state)).sort(_oldestFirst));
  if (g.nodeCount > target) processes([...g.processes.values()].sort(_oldestFirst));
  // Resources whose processes all went above have no edges left.
  if (g.nodeCount > target) resources(edgeless());
}
