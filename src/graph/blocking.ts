// `blocked_by` edges (SPEC §3): who an error concerns, in time. A process fault with a pid
// blocks only that pid, if it is known; a device fault blocks every process using the entity
// at that moment (consumers and waiters). A process that starts consuming the entity afterwards
// is not charged with it, but the next device fault there hits it: each device fault links only
// the users that joined since the last one (`ErrorNode.joined`), so a repeated error costs the
// same whatever the number of users. A process that starts *waiting* on the entity while its
// device fault is alive (inside the error window) is blocked by it at once: waiting on a faulted
// device is being stuck on the fault (a NIC in a PFC storm, a disk returning I/O errors), and a
// process often reports no use of a device before it starts waiting on it. The first device fault on an entity links all its users in
// bounded chunks (`drain`), so one error on an entity with 50,000 users never holds the loop.
import type { XEvent } from "../events/schema.ts";
import { hasEdgeBit, setEdgeBit } from "./edge-bits.ts";
import type { FaultScopeTable } from "./fault-scope.ts";
import type { EdgeCounts, GraphObserver } from "./graph.ts";
import type { ErrorNode, ProcessNode, ResourceNode } from "./nodes.ts";

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
}

export class Blocking {
  private readonly _queue: _Pending[] = [];
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

  /** An error event on `e` (already created or refreshed): links the processes it concerns. */
  fault(e: ErrorNode, ev: XEvent): void {
    if (ev.pid !== null && this.faultScope.of(ev.value) === "process") {
      const p = this._g.processes.get(ev.pid);
      if (p !== undefined) this.block(p, e, ev.ts, ev.value);
      return;
    }
    if (ev.ts >= e.deviceTs) {
      e.deviceTs = ev.ts;
      e.deviceType = ev.value;
    }
    if (e.deviceLinked) {
      const joined = e.joined;
      if (joined.length === 0) return;
      e.joined = [];
      for (const p of joined) if (this._g.processes.get(p.pid) === p) this.block(p, e, ev.ts, ev.value);
      return;
    }
    e.deviceLinked = true;
    const r = this._g.resources.get(e.entityId);
    if (r === undefined || (r.consumers.size === 0 && r.waiters.size === 0)) return;
    if (r.consumers.size + r.waiters.size <= this._chunk && this._queue.length === 0) {
      // One chunk or less, nothing queued before it: linked now (a process both consuming and
      // waiting is linked once: `block` skips an edge that exists).
      for (const p of r.consumers) this.block(p, e, ev.ts, ev.value);
      for (const p of r.waiters) this.block(p, e, ev.ts, ev.value);
      return;
    }
    const users = [...r.consumers];
    for (const p of r.waiters) if (!r.consumers.has(p)) users.push(p);
    this._queue.push({ error: e, users, next: 0, ts: ev.ts, type: ev.value });
    this._pending += users.length;
    this.drain();
  }

  /**
   * A process started using `r` (`waits` when it waits on it): blocked at once by a live device
   * fault there when it waits, else remembered for the next device fault.
   */
  newUser(p: ProcessNode, r: ResourceNode, waits: boolean): void {
    const e = this._g.errors.get(r.id);
    if (e === undefined || !e.deviceLinked || e.blocked.has(p)) return;
    if (waits) return this.block(p, e, e.deviceTs, e.deviceType);
    e.joined.push(p);
    const users = r.consumers.size + r.waiters.size;
    if (e.joined.length > 1024 && e.joined.length > 2 * users) {
      e.joined = e.joined.filter((q) => r.consumers.has(q) || r.waiters.has(q));
    }
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
          if (p.consumes.size !== 0 || p.waitsOn.size !== 0) this.block(p, job.error, job.ts, job.type);
        }
      }
      budget -= end - job.next;
      this._pending -= end - job.next;
      job.next = end;
      if (end === job.users.length) this._queue.shift();
    }
  }

  /** One `blocked_by` edge made by a fault of value `type` at event time `ts` (nothing when it exists). */
  block(p: ProcessNode, e: ErrorNode, ts: number, type: string): void {
    if (e.ix >= 0 ? hasEdgeBit(p, 2, e.ix) : e.blocked.has(p)) return;
    p.blockedBy.push(e);
    p.blockedAt.push(ts);
    p.blockedType.push(type);
    e.blocked.add(p);
    if (e.ix >= 0) setEdgeBit(p, 2, e.ix, true);
    this._g.edges.blocked_by++;
    this._observer()?.edgeAdded("blocked_by", p, e);
  }
}

/** Removes `e` from the process's blocked_by list (unordered) and its time beside it. */
export function unblock(p: ProcessNode, e: ErrorNode): void {
  const list = p.blockedBy;
  const i = list.indexOf(e);
  if (i === -1) return;
  const last = list.pop()!;
  const lastAt = p.blockedAt.pop()!;
  const lastType = p.blockedType.pop()!;
  if (i < list.length) {
    list[i] = last;
    p.blockedAt[i] = lastAt;
    p.blockedType[i] = lastType;
  }
}

/**
 * The value of the fault that concerns `p` in its `i`-th blocked_by edge now: the last device
 * fault on the entity if one came at or after `p` was linked (it concerns every user), else the
 * fault that linked it. Never another process's fault on the same entity.
 */
export function blockedType(p: ProcessNode, i: number): string {
  const e = p.blockedBy[i];
  return e.deviceTs >= p.blockedAt[i] && e.deviceType !== "" ? e.deviceType : p.blockedType[i];
}

/** Event time at which `p` was first blocked by `e`, or undefined when it is not. */
export function blockedSince(p: ProcessNode, e: ErrorNode): number | undefined {
  const i = p.blockedBy.indexOf(e);
  return i === -1 ? undefined : p.blockedAt[i];
}
