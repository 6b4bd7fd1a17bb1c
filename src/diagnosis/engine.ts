// Diagnosis runs (SPEC §4). Automatic runs follow scene-relevant changes, debounced: at most one
// per interval, none while nothing changes. Live, the interval is wall-clock time; in a replay it
// is event time, so a recorded day is diagnosed as it went; a brief match between two runs is
// still reported by the next (latch.ts). Only automatic runs move scene state and the run counters
// alerts read; a run asked for through the API (or `why`) reads the same state and changes none
// of it, and its result goes to a ring of its own: on-demand runs never push automatic ones out.
import { EVENT_TYPES, eventTypeIndex, isEnded, type XEvent } from "../events/schema.ts";
import type { GraphObserver, StateGraph } from "../graph/graph.ts";
import { FaultScopeTable } from "../graph/fault-scope.ts";
import { CLOCK_SLACK_MS, type EdgeKind, type EdgeTarget, type GraphNode, type ProcessNode } from "../graph/nodes.ts";
import type { ProcessContext } from "./conditions/node.ts";
import { describeHost, describeLatched, describeProcesses, MAX_PIDS, type SceneMatch } from "./evidence.ts";
import { CatchUp } from "./catch-up.ts";
import { Latches, type Snapshot } from "./latch.ts";
import { Matcher, type RuleState } from "./matcher.ts";
import { judgeProcess } from "./process-scope.ts";
import type { DiagnosisResult, RunTrigger } from "./result.ts";
import { Results } from "./ring.ts";
import { faultScopeOverrides, ruleSetChange, sortRules, type Rule, type RuleSetChange } from "./rule.ts";
import type { EngineOptions } from "./engine-options.ts";
import { SceneTracker, type DiagnosisState } from "./state.ts";

export type { DiagnosisResult, MatchSummary, RunTrigger } from "./result.ts";
export type { EngineOptions } from "./engine-options.ts";

export class DiagnosisEngine implements GraphObserver {
  readonly graph: StateGraph;
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly liveClock: boolean;
  readonly describeAutoRuns: boolean;
  private readonly _state: DiagnosisState;
  private readonly _scenes: SceneTracker;
  private readonly _latency: EngineOptions["latency"];
  private _rules: Rule[] = [];
  private _matcher: Matcher;
  private readonly _latches: Latches; // brief matches between automatic runs
  private readonly _catchUp: CatchUp;
  private readonly _results: Results;
  private _runTimer: ReturnType<typeof setTimeout> | undefined;
  private _expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private _expiryAt = Infinity;
  private _settleTimer: ReturnType<typeof setTimeout> | undefined;
  private _drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** Event time the next automatic run is due (a change, or a scene to clear), or Infinity. */
  private _runDueTs = Infinity;
  /** A change waits for its run (its timer live, its event time in replay): later changes join it rather than move it. */
  private _changeDue = false;
  /**
   * When that change came, on the scene clock: live, the wall time it was heard of; in replay,
   * the time of the event before the one that brought it (an expiry is found only when the next
   * event comes, maybe minutes after it). A scene it ended held until then.
   */
  private _changeAt = 0;
  /** Event time after the last event taken (replay's `_changeAt`). */
  private _lastEventTs = -Infinity;
  private _stopped = false;
  /** Processes asked by host runs of process-scoped rules, in all (their cost: candidates, not the graph). */
  processesAsked = 0;

  constructor(opts: EngineOptions) {
    this.graph = opts.graph;
    this._state = opts.state;
    this._latency = opts.latency;
    this.windowMs = opts.windowMs ?? opts.graph.errorWindowMs;
    this.intervalMs = opts.intervalMs ?? 1000;
    this._catchUp = new CatchUp(this.intervalMs + CLOCK_SLACK_MS);
    this.liveClock = opts.liveClock ?? true;
    this.describeAutoRuns = opts.describeAutoRuns ?? true;
    this._scenes = new SceneTracker(opts.state, opts.sceneSettleMs ?? 60_000);
    this._latches = new Latches();
    this._results = new Results(opts.ringSize ?? 100, opts.onDemandRingSize ?? 20);
    this._matcher = this._newMatcher();
    this.graph.observe(this);
  }

  get rules(): readonly Rule[] {
    return this._rules;
  }

  /**
   * Replaces the rule set, keeping what is known (a reload; then `runNow("auto")`): an event
   * condition whose canonical form the old set had keeps its window (a new one starts empty); a
   * scene in both keeps its counts, active state and settle time, an unchanged rule its brief
   * match; a scene gone leaves the metrics, a new one starts at 0. Fault scopes go to the graph.
   */
  setRules(rules: readonly Rule[]): RuleSetChange & { windowsKept: number; windowsNew: number } {
    const before = this._matcher;
    const change = ruleSetChange(this._rules, rules);
    this._rules = sortRules([...rules]);
    this.graph.setFaultScope(new FaultScopeTable(faultScopeOverrides(this._rules)));
    this._matcher = this._newMatcher();
    const windows = this._matcher.adopt(before);
    this._latches.carry(this._matcher.rules, change.changed);
    this.graph.watchReadings(this._matcher.readingWatch);
    this._scenes.load(this._rules);
    return { ...change, ...windows };
  }

  private _newMatcher(): Matcher {
    return new Matcher(
      this._rules,
      this.graph,
      this.windowMs,
      (rs) => {
        this._latches.flip(rs);
        this._trigger();
      },
      (rs) => {
        this._latches.touch(rs);
        this._trigger();
      },
    );
  }

  // --- inputs ------------------------------------------------------------------------------

  /** An accepted event, after the graph took it. */
  accept(ev: XEvent, wall: number): void {
    // Most events concern no event condition and start no scene: for them this is a table
    // read and three compares.
    const m = this._matcher;
    const type = eventTypeIndex(ev.event_type);
    m.onEvent(ev, type, wall);
    if (_ERROR_TYPES[type] === 1) this._trigger();
    const now = this.graph.eventNow;
    if (now >= m.nextExpiryTs) m.refresh(now, wall);
    // Brief matches (latch.ts): host-scoped rules that flipped; process-scoped ones for a process about to end.
    if (this._latches.flipped) this._latch();
    if (type === _PROCESS_STATE && ev.pid !== null && isEnded(ev.value)) {
      const p = this.graph.processes.get(ev.pid);
      if (p !== undefined && isEnded(p.state)) this._latches.ending(p, this._matcher.rules, this._context(wall), this.describeAutoRuns, this._clock(wall));
    }
    if (this.liveClock) {
      this._catchUp.event(now, wall);
      this._armExpiry(wall);
      if (this.graph.pendingLinks !== 0) this._armDrain();
    } else {
      this._lastEventTs = now;
      if (now >= this._runDueTs) this._autoRun("auto", this.describeAutoRuns);
    }
  }

  edgeAdded(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    this._matcher.edgeAdded(kind, from, to);
    // A new waits_on or blocked_by edge may start a scene; any new edge may change whom a
    // process-scoped rule holds for (a fault that just linked the process concerns it now).
    if (this._latches.edgeChanged(this._matcher.edgeRules[kind], from, true) || kind !== "consumes") this._trigger();
  }

  edgeRemoved(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    this._matcher.edgeRemoved(kind, from, to);
    // A fault or wait over may end a scene for it while the rule holds host-wide for another's.
    if (this._latches.edgeChanged(this._matcher.edgeRules[kind], from, false) && kind !== "consumes") this._trigger();
  }

  nodeChanged(node: GraphNode, key: string | undefined): void {
    this._matcher.nodeChanged(node, key);
    if (node.kind === "process" && key === "state" && isEnded(node.state)) this._trigger();
  }

  nodeRemoved(node: GraphNode): void {
    this._matcher.nodeRemoved(node);
    if (node.kind === "process") this._latches.processLeft();
  }

  // --- runs --------------------------------------------------------------------------------

  /**
   * Runs the whole rule set now, synchronously. An automatic or replay run folds in a pending
   * automatic run and moves scene state; an `api` run only reads.
   */
  runNow(trigger: RunTrigger = "api"): DiagnosisResult {
    if (trigger === "api") {
      const t0 = performance.now();
      const wall = Date.now();
      const matches = this._hostMatches(wall, true, false).matches;
      this._state.onDemandRuns++;
      return this._results.record(this._results.onDemand, trigger, null, matches, t0, wall);
    }
    return this._autoRun(trigger, true)!;
  }

  /** Runs the rule set for one process (on demand); undefined for an unknown pid. */
  runForPid(pid: number, trigger: RunTrigger = "api"): DiagnosisResult | undefined {
    const t0 = performance.now();
    const wall = Date.now();
    const matches = this.scenesFor(pid, wall);
    if (matches === undefined) return undefined;
    this._state.onDemandRuns++;
    return this._results.record(this._results.onDemand, trigger, pid, matches, t0, wall);
  }

  /**
   * The scenes matching one process right now, without recording a run (for `why`): every rule
   * is asked about this process alone, its own events and the device faults it was exposed to
   * (`only`: that scene's rule alone, as `ps` asks of the processes a match left out at its cap).
   */
  scenesFor(pid: number, wall = Date.now(), only?: string): SceneMatch[] | undefined {
    const p = this.graph.processes.get(pid);
    if (p === undefined) return undefined;
    const ctx = this._context(wall);
    const out: SceneMatch[] = [];
    for (const rs of this._matcher.rules) {
      if (only !== undefined && rs.rule.scene !== only) continue;
      const v = judgeProcess(rs, p, ctx);
      if (!v.matched) continue;
      out.push(describeProcesses(rs, [p], v.confidence, ctx, (_p, c) => v.holds(c)));
    }
    return out;
  }

  /** Recent results, automatic and on-demand, newest first. */
  results(limit = this.kept): DiagnosisResult[] {
    return this._results.newest(limit);
  }

  /** How many results are kept at most: the automatic ring and the on-demand one. */
  get kept(): number {
    return this._results.kept;
  }

  stop(): void {
    this._stopped = true;
    this._cancelPending();
    for (const t of [this._expiryTimer, this._settleTimer, this._drainTimer]) if (t !== undefined) clearTimeout(t);
    this._expiryTimer = this._settleTimer = this._drainTimer = undefined;
    this._expiryAt = Infinity;
  }

  // --- internals ---------------------------------------------------------------------------

  /**
   * The one automatic run: folds in a pending run, finds what matches, moves scene state and
   * the counters, and keeps a result when `describe` (else it only counts, for replay).
   */
  private _autoRun(trigger: RunTrigger, describe: boolean): DiagnosisResult | undefined {
    const t0 = performance.now();
    const wall = Date.now();
    const now = this._clock(wall);
    // A scene that stopped matching since the last run held until the change that brought this run.
    const changedAt = this._changeDue ? Math.min(now, this._changeAt) : now;
    this._cancelPending();
    const { matches, held, matching, heldAt } = this._hostMatches(wall, describe, true);
    const due = this._scenes.update(held, matching, now, heldAt, changedAt);
    this._scheduleSettle(due, wall);
    this._latency?.observe((performance.now() - t0) / 1000);
    this._armExpiry(wall);
    if (!describe) {
      this._results.skip();
      return undefined;
    }
    return this._results.record(this._results.auto, trigger, null, matches, t0, wall);
  }

  /** Every rule's host-wide match now, highest priority first, with those that matched since the
   * last automatic run. One while the stream catches up (catch-up.ts) starts no scene: what it
   * found waits, as a brief match, for the next run, which it asks for. */
  private _hostMatches(wall: number, describe: boolean, consume: boolean) {
    if (!this.liveClock) this.graph.drainLinks();
    this._matcher.refresh(this.graph.eventNow, wall);
    this._latch();
    const ctx = this._context(wall);
    const catchingUp = consume && this.liveClock && this._catchUp.catchingUp(ctx.nowTs, wall);
    const matches: SceneMatch[] = [];
    const held: string[] = [];
    const matching = new Set<string>();
    const heldAt = new Map<string, number>();
    const waiting: [RuleState, Snapshot, number, number][] = [];
    for (const rs of this._matcher.rules) {
      const scene = rs.rule.scene;
      const now = this._matchNow(rs, ctx, describe);
      // A brief match since the last automatic run belongs to the next automatic run; an
      // on-demand run reports what matches now.
      const snap = now === undefined && consume && !this._staleLatch(rs) ? this._latches.snapshot(rs) : undefined;
      if (now === undefined && snap === undefined) continue;
      if (catchingUp && !this._state.active.has(scene)) {
        waiting.push(now !== undefined ? [rs, now, wall, ctx.nowTs] : [rs, snap!, this._latches.snapshotAt(rs)!, this._latches.heldTs(rs)!]);
        continue;
      }
      if (now !== undefined) matching.add(scene);
      else heldAt.set(scene, this._latches.snapshotAt(rs)!);
      const m = now ?? (typeof snap === "number" && describe ? describeLatched(rs, snap) : snap!);
      held.push(scene);
      if (typeof m !== "number") matches.push(m);
    }
    if (consume) this._latches.clearSnapshots();
    for (const [rs, snap, at, ts] of waiting) this._latches.hold(rs, snap, at, ts);
    if (waiting.length !== 0) this._trigger();
    return { matches, held, matching, heldAt };
  }

  /** A rule's match now: host-wide, or for the processes a process-scoped rule holds for. A number when not described. */
  private _matchNow(rs: RuleState, ctx: ProcessContext, describe: boolean): SceneMatch | number | undefined {
    if (!rs.matched) return undefined;
    if (!rs.processScoped) return describe ? describeHost(rs, ctx) : rs.confidence;
    const found = this._latches.find(rs, ctx, describe ? MAX_PIDS + 1 : 1, (n) => (this.processesAsked += n));
    if (found.processes.length === 0) return undefined;
    if (!describe) return found.confidence;
    const more = found.processes.length > MAX_PIDS; // found one past the cap: the list it names is cut
    return describeProcesses(rs, more ? found.processes.slice(0, MAX_PIDS) : found.processes, found.confidence, ctx, (p, c) => c.holdsFor(p, ctx), more);
  }

  /** Live, a brief match that last held over the settle time ago by the stream's clock (a backlog pushed at once) would have cleared by now: no scene now. */
  private _staleLatch(rs: RuleState): boolean {
    const held = this.liveClock ? this._latches.heldTs(rs) : undefined;
    // At least a debounce and the clocks' slack: with no settle time a kill a second ago still counts.
    return held !== undefined && this.graph.eventNow - held > Math.max(this._scenes.settleMs, this.intervalMs + CLOCK_SLACK_MS);
  }

  /** Scene state's clock: wall time live, event time in replay. */
  private _clock(wall: number): number {
    return this.liveClock ? wall : this.graph.eventNow;
  }

  private _context(wall: number): ProcessContext {
    return { graph: this.graph, nowTs: this.graph.eventNow, nowWall: wall };
  }

  /** Snapshots rules that just started to match (latch.ts). */
  private _latch(): void {
    const ctx = this._context(Date.now());
    this._latches.take(this._clock(ctx.nowWall), ctx.nowTs, (rs) => this._matchNow(rs, ctx, this.describeAutoRuns));
  }

  private _trigger(): void {
    // Called for nearly every change: a run already due is the common case, and costs one read.
    if (this._changeDue || this._stopped) return;
    this._changeDue = true;
    this._changeAt = this.liveClock ? Date.now() : this._lastEventTs === -Infinity ? this.graph.eventNow : this._lastEventTs;
    if (!this.liveClock) {
      this._runDueTs = Math.min(this._runDueTs, this.graph.eventNow + this.intervalMs);
      return;
    }
    this._runTimer = setTimeout(() => {
      this._runTimer = undefined;
      this._autoRun("auto", true);
    }, this.intervalMs);
    _unref(this._runTimer);
  }

  private _cancelPending(): void {
    if (this._runTimer !== undefined) clearTimeout(this._runTimer);
    this._runTimer = undefined;
    this._runDueTs = Infinity;
    this._changeDue = false;
  }

  /** A run when an active scene that stopped holding reaches its settle time, so it clears without new events. */
  private _scheduleSettle(due: number, wall: number): void {
    if (due === Infinity || this._stopped) return;
    if (!this.liveClock) {
      this._runDueTs = Math.min(this._runDueTs, due);
      return;
    }
    if (this._settleTimer !== undefined) clearTimeout(this._settleTimer);
    this._settleTimer = setTimeout(() => {
      this._settleTimer = undefined;
      this._autoRun("auto", true);
    }, Math.max(0, due - wall));
    _unref(this._settleTimer);
  }

  /** Links a first device fault left pending are made a chunk per tick while the stream is quiet. */
  private _armDrain(): void {
    if (this._drainTimer !== undefined || this._stopped) return;
    this._drainTimer = setTimeout(() => {
      this._drainTimer = undefined;
      this.graph.drainLinks(512);
      if (this.graph.pendingLinks !== 0) this._armDrain();
    }, 0);
    _unref(this._drainTimer);
  }

  /** A timer for the earliest wall-clock expiry of an event condition, so expiry ends scenes too. */
  private _armExpiry(wall: number): void {
    if (!this.liveClock || this._stopped) return;
    const at = this._matcher.nextExpiryWall;
    if (at === Infinity || at >= this._expiryAt) return;
    if (this._expiryTimer !== undefined) clearTimeout(this._expiryTimer);
    this._expiryAt = at;
    this._expiryTimer = setTimeout(() => {
      this._expiryTimer = undefined;
      this._expiryAt = Infinity;
      const now = Date.now();
      this._matcher.refresh(this.graph.eventNow, now);
      this._armExpiry(now);
    }, Math.max(0, at - wall + 1));
    _unref(this._expiryTimer);
  }
}

const _PROCESS_STATE = eventTypeIndex("process.state");

/** 1 for the event types that create or refresh an error node: each may start a scene. */
const _ERROR_TYPES = Uint8Array.from(EVENT_TYPES, (t) => (t === "error.hw" || t === "error.net" || t === "topo.link_down" ? 1 : 0));

function _unref(t: unknown): void {
  (t as { unref?: () => void }).unref?.();
}
