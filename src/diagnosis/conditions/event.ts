// `event` conditions (SPEC §4): hold while a matching event is inside the window. Each keeps its
// newest matching event overall (host-wide truth), per entity (host evidence), per pid (the
// events a process is charged with as its own) and per entity again for the events that concern
// every user of the entity (device faults and readings: SPEC §3's fault scope), so one process
// is charged only with events that concern it: its own, or a device fault on a resource it was
// using at that moment (a `blocked_by` edge made at or before the fault's time).
import type { XEvent } from "../../events/schema.ts";
import { CLOCK_SLACK_MS, type ProcessNode } from "../../graph/nodes.ts";
import { IdPattern, ValuePattern } from "../pattern.ts";
import { parseNumber } from "../../events/number.ts";
import type { EventCondition } from "../rule.ts";
import { CondNode, userCount, usersOf, type Candidates, type ProcessContext } from "./node.ts";

/** An event with its receipt time: both clocks expire it. */
export interface Seen {
  ts: number;
  wall: number;
  ev: XEvent;
}

/** The event types that make error nodes: their reach follows the fault-scope table. */
export function isErrorType(type: string): boolean {
  return type === "error.hw" || type === "error.net" || type === "topo.link_down";
}

/**
 * Readings (compute, transport, storage) describe their device: they concern every process
 * using it. Process state, intent and action events are about their pid alone, whatever entity
 * they name (a probe may put the GPU or the host there).
 */
export function isReadingType(type: string): boolean {
  return type.startsWith("compute.") || type.startsWith("transport.") || type.startsWith("storage.");
}

/** Bounded map whose insertion order is recency: the oldest entry is first. */
export class RecentMap<K> {
  readonly map = new Map<K, Seen>();
  constructor(private readonly _max: number) {}

  /** Stores the newest event for `key`; true when the key was not there before. */
  put(key: K, seen: Seen): boolean {
    const old = this.map.get(key);
    if (old !== undefined) {
      if (old.ts > seen.ts) seen = { ...seen, ts: old.ts };
      this.map.delete(key);
    } else if (this.map.size >= this._max) {
      this.map.delete(this.map.keys().next().value as K);
    }
    this.map.set(key, seen);
    return old === undefined;
  }

  /** The last `k` entries stored, newest first (insertion order is recency); no copy of the rest. */
  newest(k: number): Seen[] {
    const out: Seen[] = [];
    let skip = this.map.size - k;
    for (const s of this.map.values()) if (skip-- <= 0) out.push(s);
    return out.reverse();
  }

  /** Takes `other`'s entries, oldest first (a reload hands a window to a new condition). */
  copyFrom(other: RecentMap<K>): void {
    for (const [k, s] of other.map) this.map.set(k, s);
  }

  /** Drops stale entries from the old end; entries are mostly in time order. */
  prune(cond: EventCond, nowTs: number, nowWall: number): void {
    if (this.map.size === 0) return; // most are: no iterator made
    for (const [k, s] of this.map) {
      if (cond.isFresh(s.ts, s.wall, nowTs, nowWall)) return;
      this.map.delete(k);
    }
  }
}

export class EventCond extends CondNode {
  readonly eventType: EventCondition["event_type"];
  readonly isError: boolean;
  /** Whether a matching event can concern processes other than its pid (a reading, or a device fault). */
  readonly reachesDevice: boolean;
  private readonly _entity: IdPattern | undefined;
  private readonly _value: ValuePattern | undefined;
  private readonly _exclude: ValuePattern | undefined;
  private readonly _threshold: number | undefined;
  /** `latest: true`: each entity's newest numeric reading decides (takeBack). */
  readonly latest: boolean;
  /** Newest matching event time and receipt time (max of each). */
  lastTs = -Infinity;
  lastWall = -Infinity;
  /** The newest per entity and code of an error (`_entityCode`), or per entity of an event that is no reading, for host evidence. */
  readonly byEntity: RecentMap<string>;
  readonly byPid: RecentMap<number>;
  readonly byDevice: RecentMap<string>;

  constructor(
    readonly spec: EventCondition,
    readonly windowMs: number,
    maxTracked: number,
  ) {
    super();
    const c = spec;
    this.eventType = c.event_type;
    this.isError = isErrorType(c.event_type);
    this.reachesDevice = this.isError || isReadingType(c.event_type);
    this._entity = c.entity_id_pattern === undefined ? undefined : new IdPattern(c.entity_id_pattern);
    this._value = c.value_pattern === undefined ? undefined : new ValuePattern(c.value_pattern);
    this._exclude = c.value_exclude === undefined ? undefined : new ValuePattern(c.value_exclude);
    this._threshold = c.value_threshold;
    this.latest = c.latest === true && c.value_threshold !== undefined;
    this.byEntity = new RecentMap(maxTracked);
    this.byPid = new RecentMap(maxTracked);
    this.byDevice = new RecentMap(maxTracked);
  }

  matches(ev: XEvent): boolean {
    // The threshold first: it turns away nearly every reading, for less than the id lookup.
    if (this._threshold !== undefined) {
      const n = parseNumber(ev.value);
      if (n === undefined || n < this._threshold) return false;
    }
    if (this._entity !== undefined && !this._entity.test(ev.entity_id)) return false;
    if (this._value !== undefined && !this._value.test(ev.value)) return false;
    return this._exclude === undefined || !this._exclude.test(ev.value);
  }

  /**
   * Records a matching event; `device` says whether it concerns every user of its entity (a
   * device fault, or a reading) or only its pid. Its truth follows now if it is fresh.
   */
  record(ev: XEvent, wall: number, nowTs: number, device: boolean): void {
    const seen: Seen = { ts: ev.ts, wall, ev };
    if (ev.ts > this.lastTs) this.lastTs = ev.ts;
    this.lastWall = wall;
    // Host evidence: an error's last event of each code there (nvidia-smi's GPU_LOST each minute
    // would hide the kernel's Xid 79 of the same GPU). A reading's last is byDevice's, below.
    if (this.isError) this.byEntity.put(_entityCode(ev), seen);
    else if (!device) this.byEntity.put(ev.entity_id, seen);
    // A device fault is not its pid's own: the kernel names whoever was in the driver (a
    // process on another GPU, nvidia-smi); it concerns the users of the device (byDevice).
    const newPid = ev.pid !== null && !(device && this.isError) && this.byPid.put(ev.pid, seen);
    // A repeated reading reaches no one new (a reading gone stale was pruned by the run that
    // found whom the condition holds for). A repeated device fault may: a process blocked by the
    // entity since the last matching one (by a fault of another value) is concerned by this one
    // (seenFor), so every fault counts as new (faults are rare).
    const newEntity = device && (this.byDevice.put(ev.entity_id, seen) || this.isError);
    const was = this.holds;
    this._set(this.isFresh(this.lastTs, this.lastWall, nowTs, wall));
    if (was === this.holds && (newPid || newEntity)) this._touch();
  }

  /**
   * A `latest` condition and an event it did not match: when that is a numeric reading under the
   * threshold of an entity it matches (a queue that emptied), it takes back the older readings
   * there that held it (a device's reading those of the entity, a pid's its own there). Its
   * truth follows what is left. An older reading than the one kept takes back nothing.
   */
  takeBack(ev: XEvent, wall: number, nowTs: number): void {
    if (!this.latest || !this.holds) return;
    const n = parseNumber(ev.value);
    if (n === undefined || n >= this._threshold!) return;
    if (this._entity !== undefined && !this._entity.test(ev.entity_id)) return;
    let changed = false;
    const drop = <K>(m: RecentMap<K>, key: K) => {
      const s = m.map.get(key);
      if (s === undefined || s.ev.entity_id !== ev.entity_id || s.ts > ev.ts) return;
      m.map.delete(key);
      changed = true;
    };
    if (ev.pid !== null) drop(this.byPid, ev.pid);
    else {
      drop(this.byDevice, ev.entity_id);
      drop(this.byEntity, ev.entity_id);
      if (this.byPid.map.size !== 0) for (const pid of [...this.byPid.map.keys()]) drop(this.byPid, pid);
    }
    if (!changed) return;
    let ts = -Infinity;
    let w = -Infinity;
    for (const m of [this.byDevice, this.byPid, this.byEntity] as RecentMap<unknown>[]) {
      for (const s of m.map.values()) {
        if (s.ts > ts) ts = s.ts;
        if (s.wall > w) w = s.wall;
      }
    }
    this.lastTs = ts;
    this.lastWall = w;
    const was = this.holds;
    this._set(this.isFresh(ts, w, nowTs, wall));
    if (was === this.holds) this._touch();
  }

  /** Takes over the window of `old`, a condition of the same canonical form before a reload, and its truth. */
  adopt(old: EventCond): void {
    this.lastTs = old.lastTs;
    this.lastWall = old.lastWall;
    this.byEntity.copyFrom(old.byEntity);
    this.byPid.copyFrom(old.byPid);
    this.byDevice.copyFrom(old.byDevice);
    this._set(old.holds);
  }

  isFresh(ts: number, wall: number, nowTs: number, nowWall: number): boolean {
    return nowTs - ts <= this.windowMs && nowWall - wall <= this.windowMs;
  }

  /** Expires what left the window, by both clocks. */
  refresh(nowTs: number, nowWall: number): void {
    const before = this.byPid.map.size + this.byDevice.map.size;
    this.byEntity.prune(this, nowTs, nowWall);
    this.byPid.prune(this, nowTs, nowWall);
    this.byDevice.prune(this, nowTs, nowWall);
    const was = this.holds;
    this._set(this.isFresh(this.lastTs, this.lastWall, nowTs, nowWall));
    if (was === this.holds && this.holds && before !== this.byPid.map.size + this.byDevice.map.size) this._touch();
  }

  holdsFor(p: ProcessNode, ctx: ProcessContext): boolean {
    if (!this.holds) return false;
    const own = this.byPid.map.get(p.pid);
    if (own !== undefined && own.ts >= p.bornTs && this.isFresh(own.ts, own.wall, ctx.nowTs, ctx.nowWall)) return true;
    const devices = this.byDevice.map;
    if (devices.size === 0 || this.isError) return devices.size !== 0 && this.seenFor(p, ctx, 1).length > 0;
    // A reading: whichever is smaller, the devices with fresh readings or the process's edges.
    // One from before the process started is of the device before it came (drops that stopped
    // before a job started did not stall it).
    if (devices.size <= p.consumes.size + p.waitsOn.size) {
      for (const [entity, s] of devices) {
        if (s.ts < p.bornTs - CLOCK_SLACK_MS || !this.isFresh(s.ts, s.wall, ctx.nowTs, ctx.nowWall)) continue;
        const r = ctx.graph.resources.get(entity);
        if (r !== undefined && (r.consumers.has(p) || r.waiters.has(p))) return true;
      }
      return false;
    }
    return this.seenFor(p, ctx, 1).length > 0;
  }

  /** Up to `max` fresh events that concern `p`: its own first, then device events it was exposed to. */
  seenFor(p: ProcessNode, ctx: ProcessContext, max: number): Seen[] {
    const out: Seen[] = [];
    const fresh = (s: Seen | undefined): s is Seen => s !== undefined && this.isFresh(s.ts, s.wall, ctx.nowTs, ctx.nowWall);
    // Its own events since it started: an earlier process with the pid is not this one.
    const found = this.byPid.map.get(p.pid);
    const own = found !== undefined && found.ts >= p.bornTs ? found : undefined;
    if (fresh(own)) out.push(own);
    if (this.byDevice.map.size === 0) return out;
    if (this.isError) {
      // A device fault concerns the process when it was using the entity then: the fault (or an
      // earlier one there) linked it at or before the event's time.
      const errors = p.blockedBy;
      for (let i = 0; i < errors.length && out.length < max; i++) {
        const s = this.byDevice.map.get(errors[i].entityId);
        if (fresh(s) && s !== own && s.ts >= p.blockedAt[i]) out.push(s);
      }
      return out;
    }
    // A device's reading, unless the process has its own there: the newest may be another
    // process's event (a collector names each user of the GPU with the GPU's own figures).
    const ownOn = fresh(own) ? own.ev.entity_id : undefined;
    for (const set of [p.consumes, p.waitsOn]) {
      for (const r of set) {
        if (out.length >= max) return out;
        const s = this.byDevice.map.get(r.id);
        if (fresh(s) && s.ts >= p.bornTs - CLOCK_SLACK_MS && s !== own && !out.includes(s) && !(r.id === ownOn && s.ev.pid !== null && s.ev.pid !== p.pid)) out.push(s);
      }
    }
    return out;
  }

  candidates(ctx: ProcessContext): Candidates {
    if (!this.holds) return { size: 0, list: () => [] };
    const g = ctx.graph;
    const isError = this.isError;
    const node = (entity: string) => (isError ? g.errors.get(entity) : g.resources.get(entity));
    let size = this.byPid.map.size;
    for (const entity of this.byDevice.map.keys()) {
      const n = node(entity);
      if (n !== undefined) size += userCount(n);
    }
    const pids = this.byPid.map;
    const devices = this.byDevice.map;
    return {
      size,
      *list() {
        for (const pid of pids.keys()) {
          const p = g.processes.get(pid);
          if (p !== undefined) yield p;
        }
        for (const entity of devices.keys()) {
          const n = node(entity);
          if (n !== undefined) yield* usersOf(n).list();
        }
      },
    };
  }

  /** `error.hw on gpu-* value OOM|out of memory`, for evidence. */
  override toString(): string {
    const c = this.spec;
    let s = `event ${c.event_type}`;
    if (c.entity_id_pattern !== undefined) s += ` on ${c.entity_id_pattern}`;
    if (c.value_pattern !== undefined) s += ` value ${c.value_pattern}`;
    if (c.value_exclude !== undefined) s += ` not ${c.value_exclude}`;
    if (c.value_threshold !== undefined) s += ` >= ${c.value_threshold}`;
    if (this.latest) s += " (newest reading)";
    return s;
  }
}

/** `gpu-02 XID_79`: an error event's entity and code (its value's first word). */
function _entityCode(ev: XEvent): string {
  const sp = ev.value.indexOf(" ");
  return ev.entity_id + " " + (sp === -1 ? ev.value : ev.value.slice(0, sp));
}
