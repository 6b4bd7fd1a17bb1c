// `blocked_by` edges (SPEC §3): who an error concerns, in time. A process fault with a pid
// blocks only that pid, if it is known; a device fault blocks every process using the entity
// at that moment (consumers and waiters). A process that starts consuming the entity afterwards
// is not charged with it, but the next device fault there hits it: each device fault links only
// the users that joined since the last one (`ErrorNode.joined`), so a repeated error costs the
// same whatever the number of users. A process that starts *waiting* on the entity while its
// device fault is alive (inside the error window) is blocked by it at once: waiting on a faulted
// device is being stuck on the fault (a NIC in a PFC storm, a disk returning I/O errors), and a
// process often reports no use of a device before it starts waiting on it; unless it started
// (`process.state start`) after the fault's last report, when only a new report links it. A
// device fault from before the graph saw the entity's users (`ErrorNode.deviceBlind`: a kernel
// log's backlog at the exporter's start) says nothing of who used it then but their start times:
// a user that started by the fault's time is blocked by it, whether its start or its first
// reading there came first (`newUser`, `born`); a consumer whose start is never told is not (it
// may have started after: a wrong blame is worse than none), a waiter is. The first device fault on an entity links all its users in
// bounded chunks (`drain`), so one error on an entity with 50,000 users never holds the loop.
import type { XEvent } from "../events/schema.ts";
import { hasEdgeBit, setEdgeBit } from "./edge-bits.ts";
import type { FaultScopeTable } from "./fault-scope.ts";
import type { EdgeCounts, GraphObserver } from "./graph.ts";
import { beforeSeen, CLOCK_SLACK_MS, DEVICE_CODES_KEPT, sparedBy, type DeviceFault, type ErrorNode, type ProcessNode, type ResourceNode } from "./nodes.ts";

/** What the linker reads of the graph. */
export interface BlockingGraph {
  readonly processes: Map<number, ProcessNode>;
  readonly errors: Map<string, ErrorNode>;
  readonly resources: Map<string, ResourceNode>;
  readonly edges: EdgeCounts;
}

/** A device fault's users still to be linked. */
interface _Pending {
  error: ErrorNode;
  users: ProcessNode[];
  next: number;
  /** Event time and value of the fault: the link's, however late it is made. */
  ts: number;
  type: string;
  wall: number;
}

/** Pids whose process faults are kept while the graph does not hold them (`Blocking.born`). */
const _UNCLAIMED_PIDS = 4096;

export class Blocking {
  private readonly _queue: _Pending[] = [];
  private readonly _unclaimed = new Map<number, { error: ErrorNode; ts: number; type: string; wall: number }[]>();
  private _pending = 0;

  constructor(
    private readonly _g: BlockingGraph,
    public faultScope: FaultScopeTable,
    private readonly _chunk: number,
    private readonly _observer: () => GraphObserver | undefined,
  ) {}

  /** Links still to be made. */
  get pending(): number {
    return this._pending;
  }

  /** An error event on `e` (already created or refreshed), received at `wall`: links the processes it concerns. */
  fault(e: ErrorNode, ev: XEvent, wall: number): void {
    if (ev.pid !== null && this.faultScope.of(ev.value) === "process") {
      const p = this._g.processes.get(ev.pid);
      // Unknown (kept for `born`: a kernel log's backlog read before any collector listed it), or a
      // fault from before its start: the pid's earlier process's.
      if (p === undefined) return this._unclaim(ev.pid, e, ev.ts, ev.value, wall);
      if (ev.ts < p.bornTs) return;
      const ownAt = e.ownEdges.get(p);
      if (ownAt === undefined || ev.ts < ownAt) e.ownEdges.set(p, ev.ts);
      const i = p.blockedBy.indexOf(e);
      if (i === -1) return this.block(p, e, ev.ts, ev.value, wall);
      // Its own fault again: the edge is fresh from now, and says this fault; an own fault of
      // another code it said is kept beside it (an Xid 13, then an OOM: both are its causes).
      if (ev.ts >= p.blockedLast[i]) {
        if (ownAt !== undefined && _code(p.blockedType[i]) !== _code(ev.value)) {
          const list = (p.ownEarlier ??= new Map()).get(e) ?? [];
          _keepCode(list, p.blockedType[i], p.blockedLast[i], p.blockedLastWall[i]);
          p.ownEarlier.set(e, list);
        }
        p.blockedType[i] = ev.value;
        p.blockedLast[i] = ev.ts;
        p.blockedLastWall[i] = wall;
      }
      return;
    }
    if (ev.ts >= e.deviceTs) {
      e.deviceTs = ev.ts;
      e.deviceType = ev.value;
      e.deviceWall = wall;
      e.deviceSwept = false;
      e.deviceBlind = beforeSeen(this._g.resources.get(e.entityId), ev.ts);
    }
    _noteDevice(e, ev.value, ev.ts, wall);
    if (e.deviceLinked) {
      const joined = e.joined;
      if (joined.length === 0) return;
      e.joined = [];
      for (const p of joined) if (this._g.processes.get(p.pid) === p) this._hit(p, e, ev.ts, ev.value, wall);
      return;
    }
    e.deviceLinked = true;
    const r = this._g.resources.get(e.entityId);
    if (r === undefined || (r.consumers.size === 0 && r.waiters.size === 0)) return;
    if (r.consumers.size + r.waiters.size <= this._chunk && this._queue.length === 0) {
      // One chunk or less, nothing queued before it: linked now (a process both consuming and
      // waiting is linked once: `block` skips an edge that exists).
      for (const p of r.consumers) this._hit(p, e, ev.ts, ev.value, wall);
      for (const p of r.waiters) this._hit(p, e, ev.ts, ev.value, wall);
      return;
    }
    const users = [...r.consumers];
    for (const p of r.waiters) if (!r.consumers.has(p)) users.push(p);
    this._queue.push({ error: e, users, next: 0, ts: ev.ts, type: ev.value, wall });
    this._pending += users.length;
    this.drain();
  }

  /**
   * Edges of `e` (an error node inside the window) whose faults left the window: those the last
   * device fault made or kept once it is over, those a process's own fault made once that is
   * over. `drop` removes one. A device fault's edges are looked at once, when it leaves the window.
   */
  sweep(e: ErrorNode, nowTs: number, nowWall: number, windowMs: number, drop: (p: ProcessNode) => void): void {
    const stale = (ts: number, wall: number) => nowTs - ts > windowMs || nowWall - wall > windowMs;
    if (!e.deviceSwept && e.deviceTs !== -Infinity && stale(e.deviceTs, e.deviceWall)) {
      e.deviceSwept = true;
      for (const p of [...e.blocked]) {
        const i = p.blockedBy.indexOf(e);
        if (i !== -1 && stale(p.blockedLast[i], p.blockedLastWall[i])) drop(p);
      }
    }
    if (e.ownEdges.size === 0) return;
    const deviceFresh = e.deviceTs !== -Infinity && !stale(e.deviceTs, e.deviceWall);
    for (const p of e.ownEdges.keys()) {
      const i = p.blockedBy.indexOf(e);
      if (i === -1) {
        e.ownEdges.delete(p);
        continue;
      }
      if (deviceFresh && e.deviceTs >= p.blockedAt[i]) continue; // the device fault concerns it still
      if (stale(p.blockedLast[i], p.blockedLastWall[i])) drop(p);
    }
  }

  /**
   * A process started using `r` (`waits` when it waits on it): blocked at once by a live device
   * fault there when it waits, or when it started before a device-blind one (`deviceBlind`);
   * else remembered for the next device fault.
   */
  newUser(p: ProcessNode, r: ResourceNode, waits: boolean): void {
    const e = this._g.errors.get(r.id);
    if (e === undefined || !e.deviceLinked || e.blocked.has(p)) return;
    // A device fault that left the window (another process's fault keeps the node) is over; a
    // process that started after the fault's last report was not on the device then: like a new
    // consumer, the next report of the fault (a collector repeats one that lasts) links it.
    if (e.deviceSwept) return;
    // Started by the fault's time: a waiter is blocked (as above); so is a consumer whose start is
    // known when the fault came while the graph could not know the device's users (a kernel log's
    // backlog): the rule `born` applies when the start is told after the readings, so the order
    // the two arrive in changes nothing. A field test each: this runs on every new edge.
    if (p.bornTs <= e.deviceTs + CLOCK_SLACK_MS && (waits || (e.deviceBlind && p.bornTs !== -Infinity))) {
      return this.block(p, e, e.deviceTs, e.deviceType, e.deviceWall);
    }
    e.joined.push(p);
    const users = r.consumers.size + r.waiters.size;
    if (e.joined.length > 1024 && e.joined.length > 2 * users) {
      e.joined = e.joined.filter((q) => r.consumers.has(q) || r.waiters.has(q));
    }
  }

  /**
   * The start of `p` became known (it was -Infinity: first seen through readings) and is `bornTs`:
   * a live device fault from before the graph saw its device (a kernel log's backlog at the
   * exporter's start, while the job ran on) concerns it when it had started by then; one that
   * linked it while its start was not known, and came before it started, does not.
   */
  born(p: ProcessNode): void {
    this._unbornFaults(p);
    // Its own faults that came before the graph held it, from its start on.
    const own = this._unclaimed.get(p.pid);
    if (own !== undefined) {
      this._unclaimed.delete(p.pid);
      for (const f of own) {
        if (this._g.errors.get(f.error.entityId) !== f.error || f.ts < p.bornTs) continue;
        this.fault(f.error, { ts: f.ts, event_type: "error.hw", entity_id: f.error.entityId, job_id: null, pid: p.pid, value: f.type }, f.wall);
      }
    }
    for (const users of [p.consumes, p.waitsOn]) {
      for (const r of users) {
        const e = this._g.errors.get(r.id);
        if (e === undefined || !e.deviceLinked || e.deviceSwept || !e.deviceBlind || e.blocked.has(p)) continue;
        if (p.bornTs > e.deviceTs + CLOCK_SLACK_MS) continue;
        const i = e.joined.indexOf(p);
        if (i !== -1) e.joined.splice(i, 1);
        this.block(p, e, e.deviceTs, e.deviceType, e.deviceWall);
      }
    }
  }

  /**
   * Device faults that linked `p` while its start was not known (a reading, then the kernel log's
   * backlog, then builtin:procfs's start) and came before it started, beyond the clocks' slack:
   * a process that started after a fault was not on the device then (`_hit`'s rule once its start
   * is known). A later device fault there, from after its start, concerns it: the edge is that
   * one's. Without one, it is unlinked and waits for the next device fault, as a new user does.
   * Its own faults' edges are left alone.
   */
  private _unbornFaults(p: ProcessNode): void {
    const from = p.bornTs - CLOCK_SLACK_MS;
    for (let i = p.blockedBy.length - 1; i >= 0; i--) {
      const e = p.blockedBy[i];
      if (p.blockedAt[i] >= from || e.ownEdges.has(p)) continue;
      // deviceRecent holds the newest of each code: the earliest of those from its start on.
      let since: DeviceFault | undefined;
      for (const d of e.deviceRecent) if (d.ts >= from && (since === undefined || d.ts < since.ts)) since = d;
      if (since !== undefined && !e.deviceSwept) {
        p.blockedAt[i] = p.blockedLast[i] = since.ts;
        p.blockedType[i] = since.type;
        p.blockedLastWall[i] = since.wall;
        continue;
      }
      unblockOne(p, e, this._g.edges, this._observer());
      const r = this._g.resources.get(e.entityId);
      if (r !== undefined && (r.consumers.has(p) || r.waiters.has(p))) e.joined.push(p);
    }
  }

  /** A process fault of a pid the graph does not hold, kept (newest few per pid, a bounded number of pids) until its start is told. */
  private _unclaim(pid: number, error: ErrorNode, ts: number, type: string, wall: number): void {
    let list = this._unclaimed.get(pid);
    if (list === undefined) {
      if (this._unclaimed.size >= _UNCLAIMED_PIDS) this._unclaimed.delete(this._unclaimed.keys().next().value!);
      this._unclaimed.set(pid, (list = []));
    }
    list.push({ error, ts, type, wall });
    if (list.length > DEVICE_CODES_KEPT) list.shift();
  }

  /** Makes up to `max` pending links (one chunk by default); a link whose error or process left is skipped. */
  drain(max = this._chunk): void {
    let budget = max;
    while (budget > 0 && this._queue.length > 0) {
      const job = this._queue[0];
      const live = this._g.errors.get(job.error.entityId) === job.error;
      const end = Math.min(job.users.length, job.next + budget);
      // A user that left the graph since has lost its edges (removeProcess clears them).
      if (live) {
        for (let i = job.next; i < end; i++) {
          const p = job.users[i];
          if (p.consumes.size !== 0 || p.waitsOn.size !== 0) this._hit(p, job.error, job.ts, job.type, job.wall);
        }
      }
      budget -= end - job.next;
      this._pending -= end - job.next;
      job.next = end;
      if (end === job.users.length) this._queue.shift();
    }
  }

  /** A device fault at `ts` reaches a user of its entity: blocked, unless `sparedBy` says why not; then the next fault there reaches it. */
  private _hit(p: ProcessNode, e: ErrorNode, ts: number, type: string, wall: number): void {
    if (sparedBy(p, this._g.resources.get(e.entityId), ts) !== null) e.joined.push(p);
    else this.block(p, e, ts, type, wall);
  }

  /** One `blocked_by` edge made by a fault of value `type` at event time `ts`, received at `wall` (nothing when it exists). */
  block(p: ProcessNode, e: ErrorNode, ts: number, type: string, wall: number): void {
    if (e.ix >= 0 ? hasEdgeBit(p, 2, e.ix) : e.blocked.has(p)) return;
    p.blockedBy.push(e);
    p.blockedAt.push(ts);
    p.blockedType.push(type);
    p.blockedLast.push(ts);
    p.blockedLastWall.push(wall);
    e.blocked.add(p);
    if (e.ix >= 0) setEdgeBit(p, 2, e.ix, true);
    this._g.edges.blocked_by++;
    this._observer()?.edgeAdded("blocked_by", p, e);
  }
}

/** Removes `p`'s `blocked_by` edge to `e`: the fault that concerned it is over while the error node stays. */
export function unblockOne(p: ProcessNode, e: ErrorNode, edges: EdgeCounts, observer: GraphObserver | undefined): void {
  if (!e.blocked.delete(p)) return;
  e.ownEdges.delete(p);
  unblock(p, e);
  if (e.ix >= 0) setEdgeBit(p, 2, e.ix, false);
  edges.blocked_by--;
  observer?.edgeRemoved("blocked_by", p, e);
}

/** Removes `e` from the process's blocked_by list (unordered) and its time beside it. */
export function unblock(p: ProcessNode, e: ErrorNode): void {
  const list = p.blockedBy;
  const i = list.indexOf(e);
  if (i === -1) return;
  p.ownEarlier?.delete(e);
  const last = list.pop()!;
  const lastAt = p.blockedAt.pop()!;
  const lastType = p.blockedType.pop()!;
  const lastLast = p.blockedLast.pop()!;
  const lastWall = p.blockedLastWall.pop()!;
  if (i < list.length) {
    list[i] = last;
    p.blockedAt[i] = lastAt;
    p.blockedType[i] = lastType;
    p.blockedLast[i] = lastLast;
    p.blockedLastWall[i] = lastWall;
  }
}

/**
 * The value of the fault that concerns `p` in its `i`-th blocked_by edge now: the newer of the
 * last device fault on the entity, if it came at or after `p` was linked (it concerns every
 * user), and the process's own last fault there (or the fault that linked it). Never another
 * process's fault on the same entity.
 */
export function blockedType(p: ProcessNode, i: number): string {
  const e = p.blockedBy[i];
  return e.deviceTs >= p.blockedAt[i] && e.deviceTs >= p.blockedLast[i] && e.deviceType !== "" ? e.deviceType : p.blockedType[i];
}

/** Event time of the newest fault that concerns `p` in its `i`-th blocked_by edge: its window runs from there. */
export function blockedLastTs(p: ProcessNode, i: number): number {
  const e = p.blockedBy[i];
  return e.deviceTs >= p.blockedAt[i] ? Math.max(e.deviceTs, p.blockedLast[i]) : p.blockedLast[i];
}

/** One fault that concerns a process in one of its blocked_by edges: its value, since when (null: not known), and its last report. */
export interface BlockingFault {
  type: string;
  since: number | null;
  last: number;
}

/**
 * The faults that concern `p` in its `i`-th blocked_by edge now, newest first: the process's
 * own last fault there (an Xid 13, an OOM) and the last device fault of each code there since
 * it was linked (`ErrorNode.deviceRecent`), those inside the error window. The node keeps one
 * value, and a repeated report would hide the rest: a heat report each minute the process's
 * own Xid or an Xid 48, nvidia-smi's GPU_LOST each minute the kernel's Xid 79. With none inside
 * the window (an edge the next cleanup sweeps), the one `blockedType` says.
 */
export function blockingFaults(p: ProcessNode, i: number, nowTs: number, nowWall: number, windowMs: number): BlockingFault[] {
  const e = p.blockedBy[i];
  const ownAt = e.ownEdges.get(p);
  const fresh = (ts: number, wall: number) => nowTs - ts <= windowMs && nowWall - wall <= windowMs;
  const out: BlockingFault[] = [];
  if (ownAt !== undefined && fresh(p.blockedLast[i], p.blockedLastWall[i])) out.push({ type: p.blockedType[i], since: ownAt, last: p.blockedLast[i] });
  // Its own earlier faults of other codes there, inside the window.
  for (const o of (ownAt === undefined ? undefined : p.ownEarlier?.get(e)) ?? []) {
    if (o.ts >= ownAt! && fresh(o.ts, o.wall) && !out.some((f) => _code(f.type) === _code(o.type))) out.push({ type: o.type, since: o.ts, last: o.ts });
  }
  // A device fault concerned it since the link when that link was a device fault's.
  const since = ownAt === undefined || p.blockedAt[i] < ownAt ? p.blockedAt[i] : null;
  for (const d of e.deviceRecent) {
    if (d.ts >= p.blockedAt[i] && fresh(d.ts, d.wall) && !out.some((f) => f.type === d.type)) out.push({ type: d.type, since, last: d.ts });
  }
  if (out.length === 0) return [{ type: blockedType(p, i), since: p.blockedAt[i], last: blockedLastTs(p, i) }];
  return out.sort((a, b) => b.last - a.last);
}

/** Keeps a device fault in `e.deviceRecent`: the newest of its code, newest first, a few codes. */
function _noteDevice(e: ErrorNode, type: string, ts: number, wall: number): void {
  _keepCode(e.deviceRecent, type, ts, wall);
}

/** Keeps a fault in `list`: the newest of its code, newest first, DEVICE_CODES_KEPT codes. */
function _keepCode(list: DeviceFault[], type: string, ts: number, wall: number): void {
  const code = _code(type);
  const at = list.findIndex((d) => _code(d.type) === code);
  if (at !== -1) {
    if (list[at].ts > ts) return;
    list.splice(at, 1);
  }
  let k = 0;
  while (k < list.length && list[k].ts > ts) k++;
  list.splice(k, 0, { type, ts, wall });
  if (list.length > DEVICE_CODES_KEPT) list.length = DEVICE_CODES_KEPT;
}

/** A fault value's code: its first word (`TEMP_HIGH temp=93` → `TEMP_HIGH`). */
function _code(type: string): string {
  const sp = type.indexOf(" ");
  return sp === -1 ? type : type.slice(0, sp);
}

/** Event time at which `p` was first blocked by `e`, or undefined when it is not. */
export function blockedSince(p: ProcessNode, e: ErrorNode): number | undefined {
  const i = p.blockedBy.indexOf(e);
  return i === -1 ? undefined : p.blockedAt[i];
}
