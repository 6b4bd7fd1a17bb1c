// The compiled form of rule conditions, each keeping its own truth up to date: an event
// condition its last matching event (overall, per entity, per pid), a graph condition its
// matching edges counted per end, a metric condition the set of matching nodes. A change
// of truth travels up to the groups and rules that hold the condition.
import type { XEvent } from "../events/schema.ts";
import type { EdgeKind, EdgeTarget, GraphNode, ProcessNode, ResourceNode } from "../graph/nodes.ts";
import { nodeValue } from "../graph/nodes.ts";
import { IdPattern, ValuePattern } from "./pattern.ts";
import {
  parseNumber,
  type EventCondition,
  type GraphCondition,
  type MetricCondition,
  type MetricEntry,
  type NodeType,
} from "./rule.ts";

/** Told +1 when a child starts to hold, -1 when it stops. */
export type FlipListener = (delta: 1 | -1) => void;

export abstract class CondNode {
  holds = false;
  readonly listeners: FlipListener[] = [];

  protected _set(v: boolean): void {
    if (v === this.holds) return;
    this.holds = v;
    const d = v ? 1 : -1;
    for (const l of this.listeners) l(d);
  }
}

/** `any` / `all` over child conditions. */
export class GroupCond extends CondNode {
  private _true = 0;
  constructor(
    readonly op: "any" | "all",
    readonly children: CondNode[],
  ) {
    super();
    for (const c of children) {
      if (c.holds) this._true++;
      c.listeners.push((d) => {
        this._true += d;
        this._update();
      });
    }
    this._update();
  }

  private _update(): void {
    this._set(this.op === "any" ? this._true > 0 : this._true === this.children.length);
  }
}

/** The time an event was received, with its own time stamp: both clocks expire it. */
export interface Seen {
  ts: number;
  wall: number;
  ev: XEvent;
}

/** Bounded map whose insertion order is recency: the oldest entry is first. */
class _RecentMap<K> {
  readonly map = new Map<K, Seen>();
  constructor(private readonly _max: number) {}

  put(key: K, seen: Seen): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      if (old.ts > seen.ts) seen = { ...seen, ts: old.ts };
      this.map.delete(key);
    } else if (this.map.size >= this._max) {
      this.map.delete(this.map.keys().next().value as K);
    }
    this.map.set(key, seen);
  }

  /** Drops stale entries from the old end; entries are mostly in time order. */
  prune(fresh: (s: Seen) => boolean): void {
    for (const [k, s] of this.map) {
      if (fresh(s)) return;
      this.map.delete(k);
    }
  }
}

export class EventCond extends CondNode {
  readonly eventType: EventCondition["event_type"];
  private readonly _entity: IdPattern | undefined;
  private readonly _value: ValuePattern | undefined;
  private readonly _threshold: number | undefined;
  /** Newest matching event time and receipt time (max of each). */
  lastTs = -Infinity;
  lastWall = -Infinity;
  /** Matching events inside the window, by entity and by pid, for evidence and per-pid runs. */
  readonly byEntity: _RecentMap<string>;
  readonly byPid: _RecentMap<number>;

  constructor(
    c: EventCondition,
    readonly windowMs: number,
    maxTracked: number,
  ) {
    super();
    this.eventType = c.event_type;
    this._entity = c.entity_id_pattern === undefined ? undefined : new IdPattern(c.entity_id_pattern);
    this._value = c.value_pattern === undefined ? undefined : new ValuePattern(c.value_pattern);
    this._threshold = c.value_threshold;
    this.byEntity = new _RecentMap(maxTracked);
    this.byPid = new _RecentMap(maxTracked);
  }

  matches(ev: XEvent): boolean {
    // The threshold first: it turns away nearly every reading, for less than the id lookup.
    if (this._threshold !== undefined) {
      const n = parseNumber(ev.value);
      if (n === undefined || n < this._threshold) return false;
    }
    if (this._entity !== undefined && !this._entity.test(ev.entity_id)) return false;
    if (this._value !== undefined && !this._value.test(ev.value)) return false;
    return true;
  }

  /** Records a matching event; its truth follows at the next refresh or right now if fresh. */
  record(ev: XEvent, wall: number, nowTs: number): void {
    const seen: Seen = { ts: ev.ts, wall, ev };
    if (ev.ts > this.lastTs) this.lastTs = ev.ts;
    this.lastWall = wall;
    this.byEntity.put(ev.entity_id, seen);
    if (ev.pid !== null) this.byPid.put(ev.pid, seen);
    this._set(this.isFresh(this.lastTs, this.lastWall, nowTs, wall));
  }

  isFresh(ts: number, wall: number, nowTs: number, nowWall: number): boolean {
    return nowTs - ts <= this.windowMs && nowWall - wall <= this.windowMs;
  }

  /** Re-reads the clocks; returns the next event time and wall time it must be looked at again. */
  refresh(nowTs: number, nowWall: number): void {
    const fresh = (s: Seen) => this.isFresh(s.ts, s.wall, nowTs, nowWall);
    this.byEntity.prune(fresh);
    this.byPid.prune(fresh);
    this._set(this.isFresh(this.lastTs, this.lastWall, nowTs, nowWall));
  }

  /** True when some event about one of `entities`, or about `pid`, is inside the window. */
  holdsFor(entities: Iterable<string>, pid: number, nowTs: number, nowWall: number): boolean {
    return this.seenFor(entities, pid, nowTs, nowWall, 1).length > 0;
  }

  seenFor(entities: Iterable<string>, pid: number, nowTs: number, nowWall: number, max: number): Seen[] {
    const out: Seen[] = [];
    const p = this.byPid.map.get(pid);
    if (p !== undefined && this.isFresh(p.ts, p.wall, nowTs, nowWall)) out.push(p);
    for (const id of entities) {
      if (out.length >= max) break;
      const s = this.byEntity.map.get(id);
      if (s !== undefined && s !== p && this.isFresh(s.ts, s.wall, nowTs, nowWall)) out.push(s);
    }
    return out;
  }
}

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

  constructor(c: GraphCondition, bit = 0) {
    super();
    this._bit = bit;
    this.kind = c.edge_type;
    this._from = c.from_pattern === undefined ? undefined : new IdPattern(c.from_pattern);
    this._to = c.to_pattern === undefined ? undefined : new IdPattern(c.to_pattern);
    this._byFrom = this._from === undefined ? undefined : new Map();
  }

  test(from: ProcessNode, to: EdgeTarget): boolean {
    return (this._to === undefined || _idMatches(to, this._bit, this._to, false)) && (this._from === undefined || this._from.test(from.id));
  }

  added(from: ProcessNode, to: EdgeTarget): void {
    if (!this.test(from, to)) return;
    if (this._byFrom !== undefined) this._byFrom.set(from, (this._byFrom.get(from) ?? 0) + 1);
    this.byTo.set(to, (this.byTo.get(to) ?? 0) + 1);
    this.count++;
    this._set(true);
  }

  removed(from: ProcessNode, to: EdgeTarget): void {
    if (!this.test(from, to)) return;
    if (this._byFrom !== undefined) _dec(this._byFrom, from);
    _dec(this.byTo, to);
    this.count--;
    this._set(this.count > 0);
  }

  /** Up to `max` processes at the start of a matching edge. */
  sources(max: number): ProcessNode[] {
    const out: ProcessNode[] = [];
    if (this._byFrom !== undefined) {
      for (const p of this._byFrom.keys()) {
        if (out.length >= max) break;
        out.push(p);
      }
      return out;
    }
    for (const to of this.byTo.keys()) {
      const from: Iterable<ProcessNode> = to.kind === "error" ? to.blocked : this.kind === "consumes" ? to.consumers : to.waiters;
      for (const p of from) {
        if (out.length >= max) return out;
        if (!out.includes(p)) out.push(p);
      }
    }
    return out;
  }
}

/**
 * A condition's pattern against a node's id, which never changes: tested once per node, the
 * answer kept in the node's bits (`bit` 0: past the 31 bits, tested every time). With
 * `entityToo`, an error node also matches by its entity id.
 */
function _idMatches(node: GraphNode, bit: number, pattern: IdPattern, entityToo: boolean): boolean {
  if (bit !== 0 && (node.idTested & bit) !== 0) return (node.idMatched & bit) !== 0;
  const yes = pattern.test(node.id) || (entityToo && node.kind === "error" && pattern.test(node.entityId));
  if (bit !== 0) {
    node.idTested |= bit;
    if (yes) node.idMatched |= bit;
  }
  return yes;
}

function _dec<K>(m: Map<K, number>, k: K): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}

// How an entry compares, decided once from its op, target and value_type (SPEC §4): the
// per-reading work is then one parse and one integer-coded comparison.
const _NEVER = 0; // numeric, but the target is not a number: nothing passes
const _NUMERIC = 1; // numeric: both sides as numbers; a non-numeric reading fails
const _AUTO = 2; // auto with a numeric target: numbers when the reading is one, else text
const _TEXT = 3; // string, or auto with a non-numeric target: text order
const _CONTAINS = 4;

const _OPS: readonly MetricEntry["op"][] = ["gt", "lt", "gte", "lte", "eq", "ne"];

interface _Entry {
  readonly key: string;
  readonly mode: number;
  /** Index in `_OPS`. */
  readonly op: number;
  readonly target: string;
  readonly num: number;
  readonly contains: ValuePattern | undefined;
}

function _entry(m: MetricEntry): _Entry {
  const num = parseNumber(m.target);
  let mode: number;
  if (m.op === "contains") mode = _CONTAINS;
  else if (m.value_type === "numeric") mode = num === undefined ? _NEVER : _NUMERIC;
  else if (m.value_type === "auto" && num !== undefined) mode = _AUTO;
  else mode = _TEXT;
  return {
    key: m.key,
    mode,
    op: _OPS.indexOf(m.op),
    target: m.target,
    num: num ?? NaN,
    contains: mode === _CONTAINS ? new ValuePattern(m.target) : undefined,
  };
}

export class MetricCond extends CondNode {
  readonly nodeType: NodeType | undefined;
  readonly keys: ReadonlySet<string>;
  private readonly _entity: IdPattern | undefined;
  private readonly _entries: _Entry[];
  /** The matching nodes. */
  readonly nodes = new Set<GraphNode>();
  /**
   * This condition's bit in `GraphNode.marks` (set while the node is in `nodes`), or 0 past
   * the 31st metric condition. A reading that leaves a node on the same side of the
   * condition, which is nearly every reading, then costs a bit test instead of a set update.
   */
  private readonly _bit: number;

  constructor(c: MetricCondition, bit = 0) {
    super();
    this.nodeType = c.node_type;
    this._entity = c.entity_id_pattern === undefined ? undefined : new IdPattern(c.entity_id_pattern);
    this._entries = c.metrics.map(_entry);
    this.keys = new Set(c.metrics.map((m) => m.key));
    this._bit = bit;
  }

  /**
   * The number this condition compares `key` with, when that comparison is all it asks of a
   * node's values (one numeric entry, on `key`); otherwise undefined.
   */
  threshold(key: string): number | undefined {
    const e = this._entries;
    return e.length === 1 && e[0].key === key && e[0].mode === _NUMERIC ? e[0].num : undefined;
  }

  test(node: GraphNode): boolean {
    if (this.nodeType !== undefined && node.kind !== this.nodeType) return false;
    if (this._entity !== undefined && !_idMatches(node, this._bit, this._entity, true)) return false;
    const entries = this._entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!_compare(nodeValue(node, e.key), e)) return false;
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
    if (now) this.nodes.add(node);
    else this.nodes.delete(node);
    this._set(this.nodes.size > 0);
  }

  removed(node: GraphNode): void {
    const bit = this._bit;
    if (bit !== 0) {
      if ((node.marks & bit) === 0) return;
      node.marks ^= bit;
    }
    if (this.nodes.delete(node)) this._set(this.nodes.size > 0);
  }
}

/**
 * The thresholds the metric conditions on one resource key compare with, when nothing else
 * decides them: a reading's band (how many thresholds lie below it, and whether it equals
 * one) then decides every one of those conditions, so a reading in the band of the last
 * one changes none and needs no evaluation. Nearly every reading is such a reading.
 */
export class ReadingBands {
  private readonly _thresholds: Float64Array;

  constructor(
    /** Index of the key in `RESOURCE_KEYS` (`ResourceNode.bands`). */
    readonly keyIndex: number,
    thresholds: Iterable<number>,
  ) {
    this._thresholds = Float64Array.from(new Set(thresholds)).sort();
  }

  /** Records the band of `value` on `node`; true when it differs from the band recorded before. */
  moved(node: ResourceNode, value: string | undefined): boolean {
    const band = this._band(value);
    const bands = node.bands;
    if (bands[this.keyIndex] === band) return false;
    bands[this.keyIndex] = band;
    return true;
  }

  private _band(value: string | undefined): number {
    const n = value === undefined ? undefined : parseNumber(value);
    if (n === undefined) return 126; // no number: every such condition fails alike
    const t = this._thresholds;
    let band = 0;
    for (let i = 0; i < t.length; i++) {
      if (t[i] < n) band += 2;
      else {
        if (t[i] === n) band++;
        break;
      }
    }
    return band;
  }
}

function _compare(actual: string | undefined, e: _Entry): boolean {
  if (actual === undefined) return false;
  switch (e.mode) {
    case _NUMERIC: {
      const a = parseNumber(actual);
      return a !== undefined && _order(a, e.num, e.op);
    }
    case _AUTO: {
      const a = parseNumber(actual);
      return a !== undefined ? _order(a, e.num, e.op) : _order(actual, e.target, e.op);
    }
    case _TEXT:
      return _order(actual, e.target, e.op);
    case _CONTAINS:
      return e.contains!.test(actual);
    default:
      return false;
  }
}

function _order<T extends number | string>(a: T, b: T, op: number): boolean {
  switch (op) {
    case 0:
      return a > b;
    case 1:
      return a < b;
    case 2:
      return a >= b;
    case 3:
      return a <= b;
    case 4:
      return a === b;
    case 5:
      return a !== b;
    default:
      return false;
  }
}
