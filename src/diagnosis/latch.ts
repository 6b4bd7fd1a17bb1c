// Brief matches (SPEC §4): a rule that starts to match between two automatic runs and stops
// before the next (a process that exits while blocked leaves the graph at the next cleanup) is
// still reported by that run, from a snapshot taken when it started to match. A host-scoped
// rule is snapshot when its conditions flip. A process-scoped rule is snapshot for a process
// about to end (its exit event), the moment after which it may leave before the next run; every
// other process stays in the graph until the run, which asks it then. So a busy host pays no
// candidate search per event.
//
// The last processes found for each process-scoped rule are kept too (on the rule's state),
// until a flip or a touch of that rule (or a process leaving) says whom it holds for may have
// changed.
import type { ProcessNode } from "../graph/nodes.ts";
import type { ProcessContext } from "./conditions/node.ts";
import { describeProcesses, type SceneMatch } from "./evidence.ts";
import type { RuleState } from "./matcher.ts";
import { askProcesses, findProcesses, judgeProcess, type ProcessMatches } from "./process-scope.ts";

/** A snapshot: the described match, or only its confidence when runs are not described. */
export type Snapshot = SceneMatch | number;

export class Latches {
  private _rules: readonly RuleState[] = [];
  private readonly _dirty = new Set<RuleState>();
  private readonly _snaps = new Map<RuleState, Snapshot>();
  /** When each snapshot was taken (the engine's clock): when the brief match last held. */
  private readonly _snapAt = new Map<RuleState, number>();
  /** The stream's time (event time) each brief match was last seen to hold: its snapshot, or a later flip. */
  private readonly _heldTs = new Map<RuleState, number>();
  /** The last process each rule was found to match for: asked first when one match is enough. */
  private readonly _hint = new Map<RuleState, ProcessNode>();

  /** A rule's truth inputs changed since the last `take`. */
  get flipped(): boolean {
    return this._dirty.size !== 0;
  }

  /** A rule's truth inputs changed. */
  flip(rs: RuleState): void {
    this.touch(rs);
    if (!rs.processScoped) this._dirty.add(rs);
  }

  /** Whom a process-scoped rule holds for may have changed. */
  touch(rs: RuleState): void {
    rs.kept = undefined;
    rs.suspects = null;
  }

  /**
   * An edge of `p` was made (`added`) or removed, of a kind `rs` reads. A condition holds for a
   * process on more edges wherever it held on fewer (no condition asks for an edge's absence),
   * so only `p` can change: a kept search that found none needs `p` asked (a suspect) after a
   * new edge, and nothing after a removal; one that named as many processes as it looked for,
   * each with all conditions holding, stays true after a new edge and needs asking again only
   * when a removal touched a process it names.
   */
  edge(rs: RuleState, p: ProcessNode, added: boolean): void {
    const kept = rs.kept;
    if (kept === undefined) return;
    const found = kept.found;
    const named = found.processes.length;
    if (named === 0) {
      if (!added) return;
      const suspects = (rs.suspects ??= new Set());
      suspects.add(p);
      if (suspects.size > _MAX_SUSPECTS) this.touch(rs);
      return;
    }
    if (added ? !kept.full : found.processes.includes(p)) this.touch(rs);
  }

  /** An edge of `p` changed, of a kind each of `rules` reads: tells the matching ones (`edge`); whether one matches. */
  edgeChanged(rules: readonly RuleState[], p: ProcessNode, added: boolean): boolean {
    let told = false;
    for (let i = 0; i < rules.length; i++) {
      const rs = rules[i];
      if (!rs.matched) continue;
      told = true;
      const kept = rs.kept;
      if (kept !== undefined && !(added && kept.full)) this.edge(rs, p, added);
    }
    return told;
  }

  /** A process left the graph: every kept search result may name it. */
  processLeft(): void {
    for (const rs of this._rules) this.touch(rs);
  }

  /** `findProcesses`, or its kept result while nothing the rule reads changed; `asked` counts the processes asked. */
  find(rs: RuleState, ctx: ProcessContext, limit: number, asked: (n: number) => void): ProcessMatches {
    const kept = rs.kept;
    if (kept !== undefined && (kept.limit >= limit || kept.found.processes.length < kept.limit)) {
      if (rs.suspects === null) return kept.found;
      // It found none; processes with new edges since are the only ones that may match now.
      const found: ProcessMatches = { processes: [], confidence: 0, asked: 0 };
      const live = [...rs.suspects].filter((p) => ctx.graph.processes.get(p.pid) === p);
      askProcesses(rs, ctx, limit, live, found, new Set());
      found.processes.sort((a, b) => a.pid - b.pid);
      return this._keepSearch(rs, limit, found, asked);
    }
    let found: ProcessMatches | undefined;
    const hint = this._hint.get(rs);
    if (limit === 1 && hint !== undefined && ctx.graph.processes.get(hint.pid) === hint) {
      const v = judgeProcess(rs, hint, ctx);
      if (v.matched) found = { processes: [hint], confidence: v.confidence, asked: 1 };
    }
    return this._keepSearch(rs, limit, found ?? findProcesses(rs, ctx, limit), asked);
  }

  /** Keeps a search's result on the rule, and its first process as the next hint. */
  private _keepSearch(rs: RuleState, limit: number, found: ProcessMatches, asked: (n: number) => void): ProcessMatches {
    asked(found.asked);
    rs.kept = { limit, found, full: found.processes.length >= limit && found.confidence >= 1 };
    rs.suspects = null;
    if (found.processes.length > 0) this._hint.set(rs, found.processes[0]);
    else this._hint.delete(rs);
    return found;
  }

  /** Snapshots the host-scoped rules that flipped into matching and have none yet; `matchNow` is the engine's answer. */
  take(at: number, nowTs: number, matchNow: (rs: RuleState) => Snapshot | undefined): void {
    for (const rs of this._dirty) {
      if (this._snaps.has(rs)) {
        this._heldTs.set(rs, nowTs); // it held until this flip, or holds again
        continue;
      }
      if (!rs.matched) continue;
      const m = matchNow(rs);
      if (m !== undefined) this._keep(rs, m, at, nowTs);
    }
    this._dirty.clear();
  }

  /** Process `p` is ending: snapshots each process-scoped rule of `rules` that matches for it and has none yet. */
  ending(p: ProcessNode, rules: readonly RuleState[], ctx: ProcessContext, describe: boolean, at: number): void {
    const nowTs = ctx.nowTs;
    for (const rs of rules) {
      if (!rs.processScoped || !rs.matched || this._snaps.has(rs)) continue;
      const v = judgeProcess(rs, p, ctx);
      if (!v.matched) continue;
      this._keep(rs, describe ? describeProcesses(rs, [p], v.confidence, ctx, (_p, c) => v.holds(c)) : v.confidence, at, nowTs);
    }
  }

  /** Keeps `snap` of `rs` for the next run, taken `at`, held at the stream's time `nowTs` (a match a run could not report yet). */
  hold(rs: RuleState, snap: Snapshot, at: number, nowTs: number): void {
    if (!this._snaps.has(rs)) this._keep(rs, snap, at, nowTs);
  }

  private _keep(rs: RuleState, snap: Snapshot, at: number, nowTs: number): void {
    this._snaps.set(rs, snap);
    this._snapAt.set(rs, at);
    this._heldTs.set(rs, nowTs);
  }

  /** The stream's time at which the brief match of `rs` was last seen to hold. */
  heldTs(rs: RuleState): number | undefined {
    return this._heldTs.get(rs);
  }

  /** When the snapshot of `rs` was taken. */
  snapshotAt(rs: RuleState): number | undefined {
    return this._snapAt.get(rs);
  }

  snapshot(rs: RuleState): Snapshot | undefined {
    return this._snaps.get(rs);
  }

  /** An automatic run reported them: the next one starts afresh. */
  clearSnapshots(): void {
    this._snaps.clear();
    this._snapAt.clear();
    this._heldTs.clear();
  }

  /**
   * A new rule set, `after` (whose kept results `processLeft` forgets from now on): a rule whose
   * scene was loaded before and is not `changed` keeps its snapshot (a brief match the next run
   * reports) and its hint; the rest are forgotten.
   */
  carry(after: readonly RuleState[], changed: readonly string[]): void {
    const next = new Map(after.filter((rs) => !changed.includes(rs.rule.scene)).map((rs) => [rs.rule.scene, rs]));
    const fresh = new Set(after);
    const move = <V>(m: Map<RuleState, V>): void => {
      const old = [...m];
      m.clear();
      for (const [rs, v] of old) {
        const to = fresh.has(rs) ? rs : next.get(rs.rule.scene);
        if (to !== undefined) m.set(to, v);
      }
    };
    move(this._snaps);
    move(this._snapAt);
    move(this._heldTs);
    move(this._hint);
    // Flips the new rules heard while they were built stay; the old rules' go.
    for (const rs of this._dirty) if (!fresh.has(rs)) this._dirty.delete(rs);
    this._rules = after;
  }
}

/** Suspects kept for one rule before its kept search is dropped instead (a storm of new edges). */
const _MAX_SUSPECTS = 64;
