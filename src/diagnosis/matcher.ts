// The rule set compiled into conditions whose truth is kept up to date from graph changes and
// accepted events (SPEC §4). Identical leaf conditions of different rules are one object.
// A host-wide run reads only this state, so its cost does not grow with the graph; a per-pid
// run, and a process-scoped rule, asks the conditions about one process (process-scope.ts).
import { EVENT_TYPES, eventTypeIndex, type XEvent } from "../events/schema.ts";
import type { StateGraph } from "../graph/graph.ts";
import type { EdgeKind, EdgeTarget, GraphNode, ProcessNode } from "../graph/nodes.ts";
import { EventCond } from "./conditions/event.ts";
import { GraphCond } from "./conditions/graph.ts";
import { MetricCond } from "./conditions/metric.ts";
import { CondNode, GroupCond } from "./conditions/node.ts";
import type { ProcessMatches } from "./process-scope.ts";
import { canonicalOf, type Condition, type GroupCondition, type Rule } from "./rule.ts";

type NodeKind = GraphNode["kind"];
const _NODE_KINDS: readonly NodeKind[] = ["process", "resource", "error"];

/** A process search kept for a rule (latch.ts). */
export interface KeptSearch {
  limit: number;
  found: ProcessMatches;
  /** It named as many processes as it looked for, each with every condition holding: a new edge leaves it true. */
  full: boolean;
}

export class RuleState {
  /** Top-level conditions holding now, host-wide. */
  topTrue = 0;
  /** `required_events` types seen inside the window now. */
  gatesTrue = 0;
  /**
   * Whether the rule matches host-wide (kept up to date by `recount`, since it is read for
   * every change a process-scoped rule hears of). For a process-scoped rule this is
   * necessary, not enough: a condition that holds for one process holds host-wide, so a rule
   * that does not match here matches for no process, and one that does is asked process by
   * process.
   */
  matched = false;
  readonly processScoped: boolean;
  /**
   * The last processes found for this rule (latch.ts), kept here so that forgetting them, which
   * every change of whom the rule holds for does, is one field store.
   */
  kept: KeptSearch | undefined = undefined;
  /**
   * Processes whose edges were made since `kept` found none: the only ones that may match now
   * (latch.ts `edge`); null when none.
   */
  suspects: Set<ProcessNode> | null = null;

  /**
   * Top-level conditions that must hold for a match: min_confidence of them, and at least one,
   * so that a match always carries evidence (`min_confidence: 0` means "any one of them", not
   * "always": a scene that held with nothing holding would stay active with nothing to show).
   */
  readonly need: number;

  constructor(
    readonly rule: Rule,
    readonly top: CondNode[],
    readonly gates: EventCond[],
  ) {
    this.processScoped = rule.scope === "process";
    this.need = Math.max(1, Math.ceil(rule.applicability.min_confidence * top.length - 1e-9));
  }

  get confidence(): number {
    return this.topTrue / this.top.length;
  }

  /** Brings `matched` in line with the counts. */
  recount(): void {
    this.matched = this.topTrue >= this.need && this.gatesTrue === this.gates.length;
  }

  /**
   * Edge kinds whose edges, made or removed, can change whom a condition of this rule holds
   * for: a graph condition's own kind; blocked_by, which makes device faults concern the
   * process; consumes and waits_on, which make it reach a resource (its readings, its values).
   * The engine tells the rule of those changes itself (a condition does not, per edge).
   */
  get edgeKinds(): ReadonlySet<EdgeKind> {
    const kinds = new Set<EdgeKind>();
    const visit = (c: CondNode): void => {
      if (c instanceof GroupCond) return c.children.forEach(visit);
      if (c instanceof GraphCond) kinds.add(c.kind);
      else if (c instanceof EventCond) {
        if (c.isError) kinds.add("blocked_by");
        else kinds.add("consumes").add("waits_on");
      } else if (c instanceof MetricCond && c.nodeType !== "process") {
        if (c.nodeType !== "error") kinds.add("consumes").add("waits_on");
        if (c.nodeType !== "resource") kinds.add("blocked_by");
      }
    };
    [...this.top, ...this.gates].forEach(visit);
    return kinds;
  }
}

export class Matcher {
  readonly rules: RuleState[];
  /** Process-scoped rules, by the kinds of edges whose changes may change whom they hold for. */
  readonly edgeRules: Record<EdgeKind, RuleState[]>;
  readonly windowMs: number;
  readonly graph: StateGraph;
  /** Earliest event time / wall time at which some holding event condition may expire. */
  nextExpiryTs = Infinity;
  nextExpiryWall = Infinity;

  private readonly _leaves = new Map<string, CondNode>();
  private readonly _events: EventCond[] = [];
  /** Event conditions by `eventTypeIndex` of their type. */
  private readonly _eventsByIndex: (EventCond[] | undefined)[] = EVENT_TYPES.map(() => undefined);
  // Lookups by key run for nearly every reading: plain objects, whose property lookup by a
  // constant string is cheaper than a Map's.
  private readonly _graphByKind: Record<EdgeKind, GraphCond[]> = { consumes: [], waits_on: [], blocked_by: [] };
  private readonly _metricByKind: Record<NodeKind, MetricCond[]> = { process: [], resource: [], error: [] };
  private readonly _metricByKey: Record<NodeKind, Record<string, MetricCond[] | undefined>> = {
    process: Object.create(null),
    resource: Object.create(null),
    error: Object.create(null),
  };
  private readonly _maxTracked: number;
  private _bits = 0;

  /**
   * `onFlip` hears of every change of a rule's truth inputs (a top-level condition or a
   * required event type starting or stopping to hold); `onTouch`, for a process-scoped rule
   * that matches host-wide, of every change of whom its conditions hold for.
   */
  constructor(
    rules: readonly Rule[],
    graph: StateGraph,
    windowMs: number,
    onFlip: (r: RuleState) => void,
    onTouch: (r: RuleState) => void = onFlip,
    maxTracked = 4096,
  ) {
    this.graph = graph;
    this.windowMs = windowMs;
    this._maxTracked = maxTracked;
    this.rules = rules.map((rule) => {
      const top = rule.conditions.map((c) => this._compile(c));
      const gates = [...new Set(rule.applicability.required_events)].map(
        (t) => this._compile({ type: "event", event_type: t }) as EventCond,
      );
      const rs = new RuleState(rule, top, gates);
      const touched = () => {
        if (rs.matched) onTouch(rs);
      };
      for (const c of top) {
        if (c.holds) rs.topTrue++;
        c.listeners.push((d) => {
          rs.topTrue += d;
          rs.recount();
          onFlip(rs);
        });
        if (rs.processScoped) c.touched.push(touched);
      }
      for (const g of gates) {
        if (g.holds) rs.gatesTrue++;
        g.listeners.push((d) => {
          rs.gatesTrue += d;
          rs.recount();
          onFlip(rs);
        });
        if (rs.processScoped) g.touched.push(touched);
      }
      rs.recount();
      return rs;
    });
    const scoped = (kind: EdgeKind) => this.rules.filter((rs) => rs.processScoped && rs.edgeKinds.has(kind));
    this.edgeRules = { consumes: scoped("consumes"), waits_on: scoped("waits_on"), blocked_by: scoped("blocked_by") };
    this._seed();
  }

  /**
   * The readings the graph tells this matcher of (`StateGraph.watchReadings`): the keys some
   * metric condition reads; for a key whose conditions each compare it with one number and
   * nothing else, only its crossings of those numbers; changes of the other keys concern no rule.
   */
  get readingWatch(): Map<string, number[] | null> {
    const watch = new Map<string, number[] | null>();
    for (const [key, conds] of Object.entries(this._metricByKey.resource)) {
      const thresholds = conds!.map((m) => m.threshold(key));
      watch.set(key, thresholds.every((t) => t !== undefined) ? (thresholds as number[]) : null);
    }
    return watch;
  }

  private _compile(c: Condition): CondNode {
    if (c.type === "any" || c.type === "all") {
      const g = c as GroupCondition;
      return new GroupCond(g.type, g.conditions.map((x) => this._compile(x)), g.written);
    }
    return this._leaf(c as Exclude<Condition, GroupCondition>);
  }

  private _leaf(c: Exclude<Condition, GroupCondition>): CondNode {
    const key = canonicalOf(c);
    const known = this._leaves.get(key);
    if (known !== undefined) return known;
    let leaf: CondNode;
    if (c.type === "event") {
      const e = new EventCond(c, this.windowMs, this._maxTracked);
      this._events.push(e);
      (this._eventsByIndex[eventTypeIndex(e.eventType)] ??= []).push(e);
      leaf = e;
    } else if (c.type === "graph") {
      const g = new GraphCond(c, this._nextBit());
      this._graphByKind[g.kind].push(g);
      leaf = g;
    } else {
      const m = new MetricCond(c, this._nextBit());
      for (const kind of _NODE_KINDS) {
        if (m.nodeType !== undefined && m.nodeType !== kind) continue;
        this._metricByKind[kind].push(m);
        for (const k of m.keys) (this._metricByKey[kind][k] ??= []).push(m);
      }
      leaf = m;
    }
    this._leaves.set(key, leaf);
    return leaf;
  }

  /** The next condition's bit in the nodes' marks, or 0 once the 31 bits of a word are given out. */
  private _nextBit(): number {
    return this._bits < 31 ? 1 << this._bits++ : 0;
  }

  /** Rules may be loaded after events arrived: one walk brings the state in line. */
  private _seed(): void {
    const g = this.graph;
    // The marks are this matcher's from now on (a matcher before it may have left some).
    for (const r of g.resources.values()) {
      r.marks = r.idTested = r.idMatched = 0;
      this.nodeChanged(r, undefined);
    }
    for (const e of g.errors.values()) {
      e.marks = e.idTested = e.idMatched = 0;
      this.nodeChanged(e, undefined);
    }
    for (const p of g.processes.values()) {
      p.marks = p.idTested = p.idMatched = 0;
      this.nodeChanged(p, undefined);
      for (const r of p.consumes) this.edgeAdded("consumes", p, r);
      for (const r of p.waitsOn) this.edgeAdded("waits_on", p, r);
      for (const e of p.blockedBy) this.edgeAdded("blocked_by", p, e);
    }
  }

  /**
   * A reload: each event condition whose canonical form `before` has too takes over its window
   * (the events that make it hold, which the graph does not keep); a new one starts empty. Graph
   * and metric conditions need nothing: the walk at construction read them from the graph.
   */
  adopt(before: Matcher): { windowsKept: number; windowsNew: number } {
    let kept = 0;
    for (const [key, leaf] of this._leaves) {
      const old = before._leaves.get(key);
      if (!(leaf instanceof EventCond) || !(old instanceof EventCond)) continue;
      leaf.adopt(old);
      kept++;
      if (leaf.holds) {
        this.nextExpiryTs = Math.min(this.nextExpiryTs, leaf.lastTs + this.windowMs);
        this.nextExpiryWall = Math.min(this.nextExpiryWall, leaf.lastWall + this.windowMs);
      }
    }
    return { windowsKept: kept, windowsNew: this._events.length - kept };
  }

  // --- GraphObserver -----------------------------------------------------------------------

  edgeAdded(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    for (const g of this._graphByKind[kind]) g.added(from, to);
  }

  edgeRemoved(kind: EdgeKind, from: ProcessNode, to: EdgeTarget): void {
    for (const g of this._graphByKind[kind]) g.removed(from, to);
  }

  nodeChanged(node: GraphNode, key: string | undefined): void {
    const list = key === undefined ? this._metricByKind[node.kind] : this._metricByKey[node.kind][key];
    if (list !== undefined) for (const m of list) m.update(node);
  }

  nodeRemoved(node: GraphNode): void {
    for (const m of this._metricByKind[node.kind]) m.removed(node);
    // A process that left is asked about no more: its own events stop being candidates.
    if (node.kind === "process") for (const e of this._events) e.byPid.map.delete(node.pid);
  }

  // --- events and time ---------------------------------------------------------------------

  /** An accepted event, after the graph took it; `typeIndex` is `eventTypeIndex` of its type. */
  onEvent(ev: XEvent, typeIndex: number, wall: number): void {
    const list = this._eventsByIndex[typeIndex];
    if (list === undefined) return;
    const nowTs = this.graph.eventNow;
    let device: boolean | undefined;
    for (const e of list) {
      if (!e.matches(ev)) {
        if (e.latest) e.takeBack(ev, wall, nowTs);
        continue;
      }
      // Whom it concerns (SPEC §3): a reading every user of its entity; an error by fault scope;
      // a process state only its pid.
      device ??= e.reachesDevice && (!e.isError || this.graph.faultScope.ofEvent(ev.value, ev.pid) === "device");
      e.record(ev, wall, nowTs, device);
      if (e.holds) {
        this.nextExpiryTs = Math.min(this.nextExpiryTs, e.lastTs + this.windowMs);
        this.nextExpiryWall = Math.min(this.nextExpiryWall, e.lastWall + this.windowMs);
      }
    }
  }

  /** Expires event conditions whose last match left the window; recomputes the next expiry. */
  refresh(nowTs: number, nowWall: number): void {
    let ts = Infinity;
    let wall = Infinity;
    for (const e of this._events) {
      e.refresh(nowTs, nowWall);
      if (e.holds) {
        ts = Math.min(ts, e.lastTs + this.windowMs);
        wall = Math.min(wall, e.lastWall + this.windowMs);
      }
    }
    this.nextExpiryTs = ts;
    this.nextExpiryWall = wall;
  }
}
