// `graph` conditions (SPEC §4): hold while an edge of the kind exists whose ends match the
// patterns. Matching edges are counted per target; a process holds it while it has one.
import type { EdgeKind, EdgeTarget, ProcessNode } from "../../graph/nodes.ts";
import { IdPattern } from "../pattern.ts";
import type { GraphCondition } from "../rule.ts";
import { CondNode, idMatches, usersOf, type Candidates, type ProcessContext } from "./node.ts";

export class GraphCond extends CondNode {
  readonly kind: EdgeKind;
  private readonly _from: IdPattern | undefined;
  private readonly _to: IdPattern | undefined;
  /** Matching edges per target; an end leaves the map when its count reaches zero. */
  readonly byTo = new Map<EdgeTarget, number>();
  /**
   * The same per source, kept only with a `from_pattern`: without one, every edge of the kind
   * into a target in `byTo` matches, so sources are found from there, and the map update per
   * new edge (one for each process an error blocks) is saved.
   */
  private readonly _byFrom: Map<ProcessNode, number> | undefined;
  count = 0;
  /** This condition's bit for cached id tests on target nodes (`GraphNode.idTested`), or 0. */
  private readonly _bit: number;

  constructor(
    readonly spec: GraphCondition,
    bit = 0,
  ) {
    super();
    const c = spec;
    this._bit = bit;
    this.kind = c.edge_type;
    this._from = c.from_pattern === undefined ? undefined : new IdPattern(c.from_pattern);
    this._to = c.to_pattern === undefined ? undefined : new IdPattern(c.to_pattern);
    this._byFrom = this._from === undefined ? undefined : new Map();
  }

  test(from: ProcessNode, to: EdgeTarget): boolean {
    return (this._to === undefined || idMatches(to, this._bit, this._to, false)) && (this._from === undefined || this._from.test(from.id));
  }

  added(from: ProcessNode, to: EdgeTarget): void {
    if (!this.test(from, to)) return;
    if (this._byFrom !== undefined) this._byFrom.set(from, (this._byFrom.get(from) ?? 0) + 1);
    this.byTo.set(to, (this.byTo.get(to) ?? 0) + 1);
    this.count++;
    // Whom it holds for changed: the engine tells the rules that read edges of this kind (matcher.ts `edgeKinds`).
    this._set(true);
  }

  removed(from: ProcessNode, to: EdgeTarget): void {
    if (!this.test(from, to)) return;
    if (this._byFrom !== undefined) _dec(this._byFrom, from);
    _dec(this.byTo, to);
    this.count--;
    this._set(this.count > 0);
  }

  /** The targets of `p`'s edges of this kind. */
  ends(p: ProcessNode): Iterable<EdgeTarget> {
    return this.kind === "consumes" ? p.consumes : this.kind === "waits_on" ? p.waitsOn : p.blockedBy;
  }

  holdsFor(p: ProcessNode): boolean {
    if (!this.holds) return false;
    if (this._to === undefined && this._from === undefined) return this.kind === "blocked_by" ? p.blockedBy.length > 0 : (this.kind === "consumes" ? p.consumes : p.waitsOn).size > 0;
    for (const to of this.ends(p)) if (this.test(p, to)) return true;
    return false;
  }

  candidates(_ctx?: ProcessContext): Candidates {
    if (this._byFrom !== undefined) {
      const from = this._byFrom;
      return { size: from.size, list: () => from.keys() };
    }
    const kind = this.kind;
    const byTo = this.byTo;
    return {
      size: this.count,
      *list() {
        for (const to of byTo.keys()) {
          if (to.kind === "error") yield* to.blocked;
          else if (kind === "consumes") yield* to.consumers;
          else if (kind === "waits_on") yield* to.waiters;
          else yield* usersOf(to).list();
        }
      },
    };
  }

  /** Up to `max` processes at the start of a matching edge. */
  sources(max: number): ProcessNode[] {
    const out: ProcessNode[] = [];
    const seen = new Set<ProcessNode>();
    for (const p of this.candidates().list()) {
      if (out.length >= max) break;
      if (seen.has(p)) continue;
      seen.add(p);
      out.push(p);
    }
    return out;
  }

  /** `waits_on to storage-*`, for evidence. */
  override toString(): string {
    const c = this.spec;
    let s = `edge ${c.edge_type}`;
    if (c.from_pattern !== undefined) s += ` from ${c.from_pattern}`;
    if (c.to_pattern !== undefined) s += ` to ${c.to_pattern}`;
    return s;
  }
}

function _dec<K>(m: Map<K, number>, k: K): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
