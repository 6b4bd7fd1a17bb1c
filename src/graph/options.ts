// What a StateGraph is built with, and what it tells its observer (graph.ts).
import type { FaultScopeTable } from "./fault-scope.ts";
import type { EdgeKind, EdgeTarget, GraphNode, ProcessNode } from "./nodes.ts";

export interface GraphOptions {
  /** Error nodes expire this long after their last update (ms). */
  errorWindowMs?: number;
  /** A process that is neither running nor ended leaves after this long without updates. */
  idleProcessMs?: number;
  /** Resources not updated for this long leave; 0 keeps them forever. */
  resourceTtlMs?: number;
  /** Bound on processes + resources + error nodes. */
  maxNodes?: number;
  /** How often event time triggers a cleanup (ms of event time). */
  cleanupEveryMs?: number;
  /**
   * Targets (resources and error nodes) that get a bit in `ProcessNode.edgeBits` at once
   * (default 1024); the edges of the others are checked in the sets, slower but exact. A host
   * has a few hundred; the bound caps the bitmaps at 128 bytes per edge kind per process.
   */
  indexedTargets?: number;
  /** Which error kinds are device faults and which process faults (default: the built-in table). */
  faultScope?: FaultScopeTable;
  /**
   * A device fault links at most this many users at once (default 512); the rest follow in
   * chunks of the same size on later events or `drainLinks`, so one error on an entity with
   * 50,000 users never holds the event loop.
   */
  linkChunk?: number;
}

/** Told about every change, so the diagnosis can keep its match state without walking. */
export interface GraphObserver {
  edgeAdded(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void;
  edgeRemoved(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void;
  /** A node was created or one of its values changed (`key`, or undefined when created). */
  nodeChanged(node: GraphNode, key: string | undefined): void;
  nodeRemoved(node: GraphNode): void;
}

export type EdgeCounts = Record<EdgeKind, number>;

/**
 * Why a process leaves the graph: `ended` (cleanup after its exit, kill or zombie, or a new
 * process on its pid after it ended), `idle` (neither running nor ended, quiet for the idle
 * time), `pid_reused` (another process took its pid before any end was reported), `evicted`
 * (`--max-nodes`).
 */
export type LeaveReason = "ended" | "idle" | "pid_reused" | "evicted";

/** Told of a process about to leave the graph, while it still has every edge (StateGraph.onLeave). */
export type ProcessLeaving = (p: ProcessNode, reason: LeaveReason) => void;
