// Brief matches (SPEC §4): a rule that starts to match between two automatic runs and stops
// before the next (a process that exits while blocked leaves the graph at the next cleanup) is
// still reported by that run, from a snapshot taken when it started to match. Flips of a rule's
// conditions and, for a process-scoped rule, changes of whom they hold for are gathered here;
// `take` snapshots what they made match. A process-scoped rule touched for a few processes is
// asked about those alone, so a busy host does not pay a candidate search per event.
import type { StateGraph } from "../graph/graph.ts";
import type { ProcessNode } from "../graph/nodes.ts";
import { usersOf, type ProcessContext, type Touch } from "./conditions/node.ts";
import { describeProcesses, type SceneMatch } from "./evidence.ts";
import type { RuleState } from "./matcher.ts";
import { judgeProcess } from "./process-scope.ts";

/** Processes a touch may name before it stands for "anyone". */
const _TOUCH_MAX = 64;

/** A snapshot: the described match, or only its confidence when runs are not described. */
export type Snapshot = SceneMatch | number;

export class Latches {
  private readonly _dirty = new Set<RuleState>();
  private readonly _touched = new Map<RuleState, Set<ProcessNode> | null>();
  private readonly _snaps = new Map<RuleState, Snapshot>();

  constructor(private readonly _graph: StateGraph) {}

  /** Something changed since the last `take`. */
  get pending(): boolean {
    return this._dirty.size !== 0 || this._touched.size !== 0;
  }

  /** A rule's truth inputs changed. */
  flip(rs: RuleState): void {
    this._dirty.add(rs);
  }

  /** Whom a process-scoped rule holds for changed; `t` says whom it concerns (bounded). */
  touch(rs: RuleState, t: Touch): void {
    let set = this._touched.get(rs);
    if (set === null) return;
    if (set === undefined) this._touched.set(rs, (set = new Set()));
    const g = this._graph;
    let add: Iterable<ProcessNode> | null;
    if (t === null) add = null;
    else if (typeof t === "number") add = [g.processes.get(t)].filter((p) => p !== undefined);
    else if (typeof t === "string") {
      const nodes = [g.resources.get(t), g.errors.get(t)].filter((n) => n !== undefined);
      add = nodes.reduce((n, x) => n + usersOf(x).size, 0) > _TOUCH_MAX ? null : nodes.flatMap((n) => [...usersOf(n).list()]);
    } else {
      const u = usersOf(t);
      add = u.size > _TOUCH_MAX ? null : u.list();
    }
    if (add !== null) for (const p of add) set.add(p);
    if (add === null || set.size > _TOUCH_MAX) this._touched.set(rs, null);
  }

  /**
   * Snapshots the rules the changes made match and that have none yet. `matchNow` is the
   * engine's full answer for a rule; touched process-scoped rules are asked per process.
   */
  take(ctx: ProcessContext, describe: boolean, matchNow: (rs: RuleState) => Snapshot | undefined): void {
    for (const rs of this._dirty) {
      if (!rs.matched || this._snaps.has(rs)) continue;
      const m = matchNow(rs);
      if (m !== undefined) this._snaps.set(rs, m);
    }
    for (const [rs, procs] of this._touched) {
      if (!rs.matched || this._snaps.has(rs) || this._dirty.has(rs)) continue;
      if (procs === null) {
        const m = matchNow(rs);
        if (m !== undefined) this._snaps.set(rs, m);
        continue;
      }
      const found: ProcessNode[] = [];
      let confidence = 0;
      for (const p of procs) {
        const v = judgeProcess(rs, p, ctx);
        if (!v.matched) continue;
        found.push(p);
        confidence = Math.max(confidence, v.confidence);
      }
      if (found.length === 0) continue;
      this._snaps.set(rs, describe ? describeProcesses(rs, found, confidence, ctx, (p, c) => c.holdsFor(p, ctx)) : confidence);
    }
    this._dirty.clear();
    this._touched.clear();
  }

  snapshot(rs: RuleState): Snapshot | undefined {
    return this._snaps.get(rs);
  }

  /** An automatic run reported them: the next one starts afresh. */
  clearSnapshots(): void {
    this._snaps.clear();
  }

  reset(): void {
    this._dirty.clear();
    this._touched.clear();
    this._snaps.clear();
  }
}
