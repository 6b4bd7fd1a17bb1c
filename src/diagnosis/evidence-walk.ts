// How a match's evidence is gathered: the leaves under the holding conditions of a rule, with
// their paths as the rule file has them, the fresh events of an event condition newest first,
// the processes at the start of a graph condition's edges, and a node's values as evidence.
import { reportedMeta, type EdgeTarget, type GraphNode, type ProcessNode } from "../graph/nodes.ts";
import type { EventCond, Seen } from "./conditions/event.ts";
import type { GraphCond } from "./conditions/graph.ts";
import { GroupCond, type CondNode, type ProcessContext } from "./conditions/node.ts";

/**
 * Visits the leaves under holding conditions (all children of `all`, holding ones of `any`), with
 * their paths as the rule file has them: `conditions[2].conditions[0]`, or in upstream's form
 * `conditions.all[1].any[0]`.
 */
export function walkHolding(conds: readonly CondNode[], at: string, holds: (c: CondNode) => boolean, visit: (leaf: CondNode, path: string) => void): void {
  conds.forEach((c, i) => {
    if (!holds(c)) return;
    if (!(c instanceof GroupCond)) return visit(c, `${at}[${i}]`);
    const path = c.written === "top" ? at : `${at}[${i}]`;
    walkHolding(c.children, `${path}.${c.written === undefined ? "conditions" : c.op}`, holds, visit);
  });
}

/**
 * Up to `max` fresh events of a condition that concern someone, newest first: the last per
 * entity concerning its users, the last per pid of its own. Each map gives its `max` newest
 * (a reading condition tracks thousands of pids: a run must not sort them all).
 */
export function freshNewestFirst(leaf: EventCond, ctx: ProcessContext, max: number): Seen[] {
  const out = new Map<Seen["ev"], Seen>();
  for (const m of [leaf.byDevice, leaf.byPid, leaf.byEntity]) {
    for (const s of m.newest(max)) if (!out.has(s.ev) && leaf.isFresh(s.ts, s.wall, ctx.nowTs, ctx.nowWall)) out.set(s.ev, s);
  }
  return [...out.values()].sort((a, b) => b.ts - a.ts).slice(0, max);
}

export function edgeFroms(leaf: GraphCond, to: EdgeTarget): Iterable<ProcessNode> {
  if (to.kind === "error") return to.blocked;
  return leaf.kind === "waits_on" ? to.waiters : to.consumers;
}

export function nodeValues(n: GraphNode): Record<string, string> {
  if (n.kind === "resource") return reportedMeta(n.meta) as Record<string, string>;
  if (n.kind === "error") return { error_type: n.errorType, entity_id: n.entityId };
  const v: Record<string, string> = { state: n.state };
  if (n.jobId !== null) v.job_id = n.jobId;
  return v;
}
