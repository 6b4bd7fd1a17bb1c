// Removing one edge whose reason is over while both its ends stay (graph.ts): a wait the
// process's own readings say ended (or drops that stopped), a fault that left the error window
// for this process; and every edge of a process or a resource that leaves the graph.
import { setEdgeBit } from "./edge-bits.ts";
import type { ErrorNode, ProcessNode, ResourceNode } from "./nodes.ts";
import type { EdgeCounts, GraphObserver } from "./options.ts";

/** Removes `p`'s `waits_on` edge to `r`: its own reading there says it moves data again. */
export function unwait(p: ProcessNode, r: ResourceNode, edges: EdgeCounts, observer: GraphObserver | undefined): void {
  p.waitsOn.delete(r);
  r.waiters.delete(p);
  p.waitReadings?.delete(r);
  if (r.ix >= 0) setEdgeBit(p, 1, r.ix, false);
  edges.waits_on--;
  observer?.edgeRemoved("waits_on", p, r);
}

/** Removes every edge of `p`, which leaves the graph: its edge bits die with it and need no clearing. */
export function detachProcess(p: ProcessNode, edges: EdgeCounts, obs: GraphObserver | undefined): void {
  for (const r of p.consumes) {
    r.consumers.delete(p);
    edges.consumes--;
    obs?.edgeRemoved("consumes", p, r);
  }
  for (const r of p.waitsOn) {
    r.waiters.delete(p);
    edges.waits_on--;
    obs?.edgeRemoved("waits_on", p, r);
  }
  for (const e of p.blockedBy) {
    e.blocked.delete(p);
    e.ownEdges.delete(p);
    edges.blocked_by--;
    obs?.edgeRemoved("blocked_by", p, e);
  }
  p.consumes.clear();
  p.waitsOn.clear();
  p.waitReadings = null;
  p.blockedBy.length = 0;
  p.blockedAt.length = 0;
  p.blockedType.length = 0;
  p.blockedLast.length = 0;
  p.blockedLastWall.length = 0;
  p.ownEarlier = null;
}

/** Removes every edge into `r`, which leaves the graph (its TTL, eviction). */
export function unlinkResource(r: ResourceNode, edges: EdgeCounts, observer: GraphObserver | undefined): void {
  for (const p of r.consumers) {
    p.consumes.delete(r);
    if (r.ix >= 0) setEdgeBit(p, 0, r.ix, false);
    edges.consumes--;
    observer?.edgeRemoved("consumes", p, r);
  }
  for (const p of r.waiters) {
    p.waitsOn.delete(r);
    p.waitReadings?.delete(r);
    if (r.ix >= 0) setEdgeBit(p, 1, r.ix, false);
    edges.waits_on--;
    observer?.edgeRemoved("waits_on", p, r);
  }
  r.consumers.clear();
  r.waiters.clear();
}
