// `metric` conditions (SPEC §4): hold while some node matches every entry. The matching nodes
// are kept as a set (and a bit on each node); a process holds the condition when it matches
// itself or reaches a matching node over its edges.
import type { GraphNode, ProcessNode } from "../../graph/nodes.ts";
import { nodeValue } from "../../graph/nodes.ts";
import { IdPattern } from "../pattern.ts";
import type { MetricCondition, NodeType } from "../rule.ts";
import { Comparison } from "./compare.ts";
import { CondNode, idMatches, userCount, usersOf, type Candidates, type ProcessContext } from "./node.ts";

export class MetricCond extends CondNode {
  readonly nodeType: NodeType | undefined;
  readonly keys: ReadonlySet<string>;
  private readonly _entity: IdPattern | undefined;
  readonly entries: readonly Comparison[];
  /** The matching nodes. */
  readonly nodes = new Set<GraphNode>();
  /**
   * This condition's bit in `GraphNode.marks` (set while the node is in `nodes`), or 0 past
   * the 31st metric condition. A reading that leaves a node on the same side of the
   * condition, which is nearly every reading, then costs a bit test instead of a set update.
   */
  private readonly _bit: number;

  constructor(
    readonly spec: MetricCondition,
    bit = 0,
  ) {
    super();
    const c = spec;
    this.nodeType = c.node_type;
    this._entity = c.entity_id_pattern === undefined ? undefined : new IdPattern(c.entity_id_pattern);
    this.entries = c.metrics.map((m) => new Comparison(m));
    this.keys = new Set(c.metrics.map((m) => m.key));
    this._bit = bit;
  }

  /**
   * The number this condition compares `key` with, when that comparison is all it asks of a
   * node's values (one numeric entry, on `key`); otherwise undefined.
   */
  threshold(key: string): number | undefined {
    const e = this.entries;
    return e.length === 1 && e[0].key === key ? e[0].threshold : undefined;
  }

  test(node: GraphNode): boolean {
    if (this.nodeType !== undefined && node.kind !== this.nodeType) return false;
    if (this._entity !== undefined && !idMatches(node, this._bit, this._entity, true)) return false;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!e.test(nodeValue(node, e.key))) return false;
    }
    return true;
  }

  update(node: GraphNode): void {
    const now = this.test(node);
    const bit = this._bit;
    if (bit !== 0) {
      if (((node.marks & bit) !== 0) === now) return;
      node.marks ^= bit;
    }
    const changed = now ? !this.nodes.has(node) : this.nodes.has(node);
    if (now) this.nodes.add(node);
    else this.nodes.delete(node);
    const was = this.holds;
    this._set(this.nodes.size > 0);
    if (changed && was === this.holds) this._touch();
  }

  removed(node: GraphNode): void {
    const bit = this._bit;
    if (bit !== 0) {
      if ((node.marks & bit) === 0) return;
      node.marks ^= bit;
    }
    if (this.nodes.delete(node)) {
      const was = this.holds;
      this._set(this.nodes.size > 0);
      if (was === this.holds) this._touch();
    }
  }

  /** The nodes `p` is or reaches that match, up to `max`. */
  reached(p: ProcessNode, max: number): GraphNode[] {
    const out: GraphNode[] = [];
    if (this.nodes.size === 0) return out;
    if (this.nodes.has(p)) out.push(p);
    if (this.nodeType === "process") return out;
    for (const set of [p.consumes, p.waitsOn, p.blockedBy] as Iterable<GraphNode>[]) {
      for (const n of set) {
        if (out.length >= max) return out;
        if (this.nodes.has(n) && !out.includes(n)) out.push(n);
      }
    }
    return out;
  }

  holdsFor(p: ProcessNode): boolean {
    if (!this.holds) return false;
    const nodes = this.nodes;
    if (nodes.has(p)) return true;
    if (this.nodeType === "process") return false;
    // Whichever is smaller: the matching nodes (asked whether p uses them), or p's edges.
    if (nodes.size <= p.consumes.size + p.waitsOn.size + p.blockedBy.length) {
      for (const n of nodes) {
        if (n.kind === "resource" ? n.consumers.has(p) || n.waiters.has(p) : n.kind === "error" && n.blocked.has(p)) return true;
      }
      return false;
    }
    for (const r of p.consumes) if (nodes.has(r)) return true;
    for (const r of p.waitsOn) if (nodes.has(r)) return true;
    for (const e of p.blockedBy) if (nodes.has(e)) return true;
    return false;
  }

  candidates(_ctx: ProcessContext): Candidates {
    const nodes = this.nodes;
    if (this.nodeType === "process") return { size: nodes.size, list: () => nodes as Set<ProcessNode> };
    let size = 0;
    for (const n of nodes) size += userCount(n);
    return {
      size,
      *list() {
        for (const n of nodes) yield* usersOf(n).list();
      },
    };
  }

  /** `resource gpu-*|npu-* util lt 5`, for evidence. */
  override toString(): string {
    const c = this.spec;
    let s = `metric`;
    if (c.node_type !== undefined) s += ` ${c.node_type}`;
    if (c.entity_id_pattern !== undefined) s += ` ${c.entity_id_pattern}`;
    return `${s} ${this.entries.join(", ")}`;
  }
}
