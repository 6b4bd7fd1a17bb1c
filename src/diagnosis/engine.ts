// Diagnosis runs (SPEC §4). Automatic runs follow scene-relevant changes, debounced: at most
// one per interval, none while nothing changes. Live, the interval is wall-clock time; during
// a replay it is event time, so a recorded day is diagnosed as it went. A rule that matched
// only briefly between two runs (a process that exits while blocked leaves the graph at the
// next cleanup) is still reported by the next run, from a snapshot taken when it matched.
import { EVENT_TYPES, eventTypeIndex, type XEvent } from "../events/schema.ts";
import type { GraphObserver, StateGraph } from "../graph/graph.ts";
import { isEnded, type EdgeKind, type EdgeTarget, type GraphNode, type ProcessNode } from "../graph/nodes.ts";
import type { DiagnosisState } from "../metrics/registry.ts";
import { describeHost, describeLatched, describeScoped, type Cause, type SceneMatch } from "./evidence.ts";
import { Matcher, type RuleState } from "./matcher.ts";
import { sortRules, type Rule, type SolutionStep } from "./rule.ts";

export interface EngineOptions {
  graph: StateGraph;
  /** Shared with the metrics: run and scene counts, active scenes. */
  state: DiagnosisState;
  /** Observes each run's duration in seconds (xctl_diagnosis_latency_seconds). */
  latency?: { observe(seconds: number): void };
  /** How long an event keeps an event condition true (default: the graph's error window). */
  windowMs?: number;
  /** Debounce of automatic runs (default 1000 ms). */
  intervalMs?: number;
  /** Wall-clock timers (default true); false debounces by event time, for replay. */
  liveClock?: boolean;
  /** Results kept for the API (default 100). */
  ringSize?: number;
  /**
   * Whether event-time automatic runs describe their scenes and keep a result (default true).
   * A replay reads only its final run: without, such a run only counts, like a described
   * one (runs, top scene, active scenes, latency), and skips building evidence nobody reads.
   */
  describeAutoRuns?: boolean;
}

/** Why a run happened. */
export type RunTrigger = "auto" | "api" | "replay";

/** A match as listed among all scenes of a run. */
export interface MatchSummary {
  scene: string;
  rule: string;
  priority: number;
  confidence: number;
  affected_pids: number[];
}

export interface DiagnosisResult {
  id: number;
  trigger: RunTrigger;
  /** The process a per-pid run looked at, or null for the whole host. */
  pid: number | null;
  started_at: string;
  duration_ms: number;
  /** The highest-priority matching scene, or null when none matches. */
  scene: string | null;
  rule: string | null;
  confidence: number;
  root_cause: { primary: string; secondary: string[] } | null;
  causes: Cause[];
  affected_pids: number[];
  affected_jobs: string[];
  solution_steps: SolutionStep[];
  /** Every matching scene, highest priority first. */
  matches: MatchSummary[];
}

export class DiagnosisEngine implements GraphObserver {
  readonly graph: StateGraph;
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly liveClock: boolean;
  readonly describeAutoRuns: boolean;
  private readonly _state: DiagnosisState;
  private readonly _latency: EngineOptions["latency"];
  private _rules: Rule[] = [];
  private _matcher: Matcher;
  private readonly _dirty = new Set<RuleState>();
  /**
   * Snapshot of each rule that matched since the last run (taken when it started to). When
   * automatic runs only count, the snapshot is just the confidence then: describing every
   * flip cost more than the runs themselves, and only a final run ever reads one.
   */
  private readonly _latched = new Map<RuleState, SceneMatch | number>();
  private readonly _ring: (DiagnosisResult | undefined)[];
  private _ringNext = 0;
  private _nextId = 1;
  private _runTimer: ReturnType<typeof setTimeout> | undefined;
  private _expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private _expiryAt = Infinity;
  /**
   * Event-time debounce: the event time at which the run for the first change not yet
   * diagnosed is due, or Infinity when there is none. One compare per event.
   */
  private _runDueTs = Infinity;
  private _stopped = false;

  constructor(opts: EngineOptions) {
    this.graph = opts.graph;
    this._state = opts.state;
    this._latency = opts.latency;
    this.windowMs = opts.windowMs ?? opts.graph.errorWindowMs;
    this.intervalMs = opts.intervalMs ?? 1000;
    this.liveClock = opts.liveClock ?? true;
    this.describeAutoRuns = opts.describeAutoRuns ?? true;
    this._ring = new Array(Math.max(1, opts.ringSize ?? 100));
    this._matcher = this._newMatcher();
    this.graph.observe(this);
  }

  get rules(): readonly Rule[] {
    return this._rules;
  }

  /** Replaces the rule set (highest priority first); every scene starts at 0. */
  setRules(rules: readonly Rule[]): void {
    this._rules = sortRules([...rules]);
    this._dirty.clear();
    this._latched.clear();
    this._matcher = this._newMatcher();
    this._state.byScene.clear();
    for (const r of this._rules) this._state.byScene.set(r.scene, 0);
    this._state.active.clear();
  }

  private _newMatcher(): Matcher {
    return new Matcher(this._rules, this.graph, this.windowMs, (rs) => {
      this._dirty.add(rs);
      this._trigger();
    });
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
    if (this._dirty.size !== 0) this._settle();
    if (this.liveClock) this._armExpiry(wall);
    else if (now >= this._runDueTs) {
      if (this.describeAutoRuns) this.runNow("auto");
      else this._countRun();
    }
  }

  edgeAdded(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    this._matcher.edgeAdded(kind, from, to);
    if (kind !== "consumes") this._trigger();
  }

  edgeRemoved(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    this._matcher.edgeRemoved(kind, from, to);
  }

  nodeChanged(node: GraphNode, key: string | undefined): void {
    this._matcher.nodeChanged(node, key);
    if (node.kind === "process" && key === "state" && isEnded(node.state)) this._trigger();
  }

  nodeRemoved(node: GraphNode): void {
    this._matcher.nodeRemoved(node);
  }

  // --- runs --------------------------------------------------------------------------------

  /** Runs the whole rule set now, synchronously; a pending automatic run is folded in. */
  runNow(trigger: RunTrigger = "api"): DiagnosisResult {
    const t0 = performance.now();
    const wall = Date.now();
    const m = this._startHostRun(wall);
    const matches: SceneMatch[] = [];
    const active = this._state.active;
    active.clear();
    for (const rs of m.rules) {
      if (rs.matched) {
        matches.push(describeHost(m, rs, wall));
        active.add(rs.rule.scene);
      } else {
        const snap = this._latched.get(rs);
        if (typeof snap === "number") matches.push(describeLatched(rs, snap));
        else if (snap !== undefined) matches.push(snap);
      }
    }
    this._latched.clear();
    this._armExpiry(wall);
    return this._record(trigger, null, matches, t0, wall);
  }

  /** A host-wide run as runNow, reduced to what the counts and metrics read: nothing is described or kept. */
  private _countRun(): void {
    const t0 = performance.now();
    const wall = Date.now();
    const m = this._startHostRun(wall);
    const active = this._state.active;
    active.clear();
    // runNow's top match: the first rule, by priority, that matches or matched since the last run.
    let top: string | null = null;
    for (const rs of m.rules) {
      if (rs.matched) {
        top ??= rs.rule.scene;
        active.add(rs.rule.scene);
      } else if (top === null && this._latched.has(rs)) top = rs.rule.scene;
    }
    this._latched.clear();
    this._armExpiry(wall);
    const st = this._state;
    st.runs++;
    if (top !== null) st.byScene.set(top, (st.byScene.get(top) ?? 0) + 1);
    this._latency?.observe((performance.now() - t0) / 1000);
    this._nextId++;
  }

  /** What every host-wide run does first: fold in a pending run, bring the state up to `wall`. */
  private _startHostRun(wall: number): Matcher {
    this._cancelPending();
    this._matcher.refresh(this.graph.eventNow, wall);
    this._settle();
    return this._matcher;
  }

  /** Runs the rule set over one process's edges and the nodes they reach; undefined for an unknown pid. */
  runForPid(pid: number, trigger: RunTrigger = "api"): DiagnosisResult | undefined {
    const t0 = performance.now();
    const wall = Date.now();
    const matches = this._scoped(pid, wall);
    if (matches === undefined) return undefined;
    return this._record(trigger, pid, matches, t0, wall);
  }

  /** The scenes matching one process right now, without recording a run (for `why`). */
  scenesFor(pid: number): SceneMatch[] | undefined {
    return this._scoped(pid, Date.now());
  }

  /** Recent results, newest first. */
  results(limit = this._ring.length): DiagnosisResult[] {
    const out: DiagnosisResult[] = [];
    const n = this._ring.length;
    for (let i = 1; i <= n && out.length < limit; i++) {
      const r = this._ring[(this._ringNext - i + n) % n];
      if (r === undefined) break;
      out.push(r);
    }
    return out;
  }

  get ringSize(): number {
    return this._ring.length;
  }

  /** True while an automatic run is waiting for its debounce. */
  get pending(): boolean {
    return this._runTimer !== undefined || this._runDueTs !== Infinity;
  }

  /** Runs the pending automatic run now, if there is one (the end of a replay). */
  flush(): DiagnosisResult | undefined {
    return this.pending ? this.runNow("auto") : undefined;
  }

  stop(): void {
    this._stopped = true;
    this._cancelPending();
    if (this._expiryTimer !== undefined) clearTimeout(this._expiryTimer);
    this._expiryTimer = undefined;
    this._expiryAt = Infinity;
  }

  // --- internals ---------------------------------------------------------------------------

  private _scoped(pid: number, wall: number): SceneMatch[] | undefined {
    const m = this._matcher;
    const scope = m.scope(pid);
    if (scope === undefined) return undefined;
    m.refresh(this.graph.eventNow, wall);
    const out: SceneMatch[] = [];
    for (const rs of m.rules) {
      const match = describeScoped(m, rs, scope, wall);
      if (match !== undefined) out.push(match);
    }
    return out;
  }

  /** Snapshots rules that just started to match, so a run still sees a brief match. */
  private _settle(): void {
    if (this._dirty.size === 0) return;
    const wall = Date.now();
    for (const rs of this._dirty) {
      if (rs.matched && !this._latched.has(rs)) {
        this._latched.set(rs, this.describeAutoRuns ? describeHost(this._matcher, rs, wall) : rs.confidence);
      }
    }
    this._dirty.clear();
  }

  private _trigger(): void {
    if (this._stopped) return;
    if (!this.liveClock) {
      if (this._runDueTs === Infinity) this._runDueTs = this.graph.eventNow + this.intervalMs;
      return;
    }
    if (this._runTimer !== undefined) return;
    this._runTimer = setTimeout(() => {
      this._runTimer = undefined;
      this.runNow("auto");
    }, this.intervalMs);
    _unref(this._runTimer);
  }

  private _cancelPending(): void {
    if (this._runTimer !== undefined) clearTimeout(this._runTimer);
    this._runTimer = undefined;
    this._runDueTs = Infinity;
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

  private _record(trigger: RunTrigger, pid: number | null, matches: SceneMatch[], t0: number, wall: number): DiagnosisResult {
    const top = matches[0];
    const st = this._state;
    st.runs++;
    if (top !== undefined) st.byScene.set(top.scene, (st.byScene.get(top.scene) ?? 0) + 1);
    const seconds = (performance.now() - t0) / 1000;
    this._latency?.observe(seconds);
    const result: DiagnosisResult = {
      id: this._nextId++,
      trigger,
      pid,
      started_at: new Date(wall).toISOString(),
      duration_ms: Math.round(seconds * 1e6) / 1000,
      scene: top?.scene ?? null,
      rule: top?.rule ?? null,
      confidence: top?.confidence ?? 0,
      root_cause: top?.root_cause ?? null,
      causes: top?.causes ?? [],
      affected_pids: top?.affected_pids ?? [],
      affected_jobs: top?.affected_jobs ?? [],
      solution_steps: top?.solution_steps ?? [],
      matches: matches.map((x) => ({ scene: x.scene, rule: x.rule, priority: x.priority, confidence: x.confidence, affected_pids: x.affected_pids })),
    };
    this._ring[this._ringNext] = result;
    this._ringNext = (this._ringNext + 1) % this._ring.length;
    return result;
  }
}

/** 1 for the event types that create or refresh an error node: each may start a scene. */
const _ERROR_TYPES = Uint8Array.from(EVENT_TYPES, (t) => (t === "error.hw" || t === "error.net" || t === "topo.link_down" ? 1 : 0));

function _unref(t: unknown): void {
  (t as { unref?: () => void }).unref?.();
}
