// The live state graph of SPEC §3. Every count the metrics report is kept as the graph
// changes; nothing here walks all nodes or edges per event or per read.
import { isEnded, type XEvent } from "../events/schema.ts";
import { Blocking, unblock, unblockOne } from "./blocking.ts";
import { DropWaits } from "./drop-waits.ts";
import { hasEdgeBit, setEdgeBit, TargetIndexes } from "./edge-bits.ts";
import { evict, newEvictionCounts } from "./evict.ts";
import { newErrorNode, newProcessNode, newResourceNode } from "./factory.ts";
import { FaultScopeTable } from "./fault-scope.ts";
import type { EdgeCounts, GraphObserver, GraphOptions, LeaveReason, ProcessLeaving } from "./options.ts";
import { detachProcess, unlinkResource, unwait } from "./unlink.ts";
import { isWait, ownWaitReading, ReadingWatch, setMeta, waitOver } from "./readings.ts";
import { CLOCK_SLACK_MS, isInferredJob, KEY_INDEX, otherJob, startsAnew, RESOURCE_KEYS, type EdgeKind, type EdgeTarget, type ErrorNode, type GraphNode, type ProcessNode, type ResourceNode } from "./nodes.ts";

export type { EdgeCounts, GraphObserver, GraphOptions, LeaveReason, ProcessLeaving } from "./options.ts";

export class StateGraph {
  readonly processes = new Map<number, ProcessNode>();
  readonly resources = new Map<string, ResourceNode>();
  /** Keyed by the entity id (the node id is `error-<entity>`). */
  readonly errors = new Map<string, ErrorNode>();
  readonly edges: EdgeCounts = { consumes: 0, waits_on: 0, blocked_by: 0 };
  /** Processes whose state is not exit or zombie. */
  activeProcesses = 0;
  /** Nodes evicted at `maxNodes`, per kind (see evict.ts). */
  readonly evictions = newEvictionCounts();
  /** Latest event time seen: the graph's clock for expiry. */
  eventNow = 0;

  readonly errorWindowMs: number;
  readonly idleProcessMs: number;
  readonly resourceTtlMs: number;
  readonly maxNodes: number;
  private readonly _cleanupEveryMs: number;
  private _nextCleanupTs = 0;
  /** Processes that are not `running`: the only ones cleanup has to look at. */
  private readonly _notRunning = new Set<ProcessNode>();
  private _observer: GraphObserver | undefined;
  private _leaving: ProcessLeaving | undefined;
  /** Which readings the observer is told of (`watchReadings`). */
  private readonly _watch = new ReadingWatch();
  /** Indexes of targets, the bits of `ProcessNode.edgeBits` (edge-bits.ts). */
  private readonly _ix: TargetIndexes;
  private readonly _blocking: Blocking;
  /** Waits that only drops hold: they end an error window after the last (drop-waits.ts). */
  private readonly _drops = new DropWaits();

  constructor(opts: GraphOptions = {}) {
    this.errorWindowMs = opts.errorWindowMs ?? 5 * 60_000;
    this.idleProcessMs = opts.idleProcessMs ?? 10 * 60_000;
    this.resourceTtlMs = opts.resourceTtlMs ?? 0;
    this.maxNodes = opts.maxNodes ?? 100_000;
    this._cleanupEveryMs = opts.cleanupEveryMs ?? 1000;
    this._ix = new TargetIndexes(opts.indexedTargets ?? 1024);
    this._blocking = new Blocking(this, opts.faultScope ?? new FaultScopeTable(), opts.linkChunk ?? 512, () => this._observer);
  }

  /** The fault-scope table in use (rules may extend it; see `setFaultScope`). */
  get faultScope(): FaultScopeTable {
    return this._blocking.faultScope;
  }

  /** Replaces the fault-scope table; edges made before stay as they are. */
  setFaultScope(table: FaultScopeTable): void {
    this._blocking.faultScope = table;
  }

  /** `blocked_by` links still waiting to be made (a first device fault on a busy entity). */
  get pendingLinks(): number {
    return this._blocking.pending;
  }

  observe(observer: GraphObserver): void {
    this._observer = observer;
  }

  /** Told of each process about to leave the graph (why, below), while it still has its edges. */
  onLeave(leaving: ProcessLeaving): void {
    this._leaving = leaving;
  }

  /**
   * Which readings the observer hears of, per key (all, by default): every change (null), only
   * a change of band among the thresholds given (a reading that stays on the same side of each
   * cannot change a comparison with any of them), or none (a key not in `watch`, which no rule
   * reads: most readings). A new node is always told. Forgets every resource's bands.
   */
  watchReadings(watch: ReadonlyMap<string, readonly number[] | null> | null): void {
    this._watch.set(watch);
    for (const r of this.resources.values()) r.bands.fill(-1);
  }

  get nodeCount(): number {
    return this.processes.size + this.resources.size + this.errors.size;
  }

  /** Folds one accepted event into the graph. `wall` is the receipt time. */
  apply(ev: XEvent, wall: number): void {
    const ts = ev.ts;
    if (ts > this.eventNow) {
      this.eventNow = ts;
      if (ts >= this._nextCleanupTs) {
        this._nextCleanupTs = ts + this._cleanupEveryMs;
        this.cleanup(wall);
      }
    }
    // Links a first device fault left pending go one chunk per event (a new fault makes its first chunk itself).
    if (this._blocking.pending !== 0) this._blocking.drain();
    this._dispatch(ev, wall);
    if (this.nodeCount > this.maxNodes) evict(this, this._notRunning);
  }

  private _dispatch(ev: XEvent, wall: number): void {
    // A reading picks its key and edge here and is folded in at one place below: one copy of
    // the resource, process and edge code for the JIT to compile, not one per event type.
    let k: number;
    let edge: EdgeKind | null;
    switch (ev.event_type) {
      case "compute.util":
        k = KEY_INDEX.util;
        edge = "consumes";
        break;
      case "compute.mem":
        k = KEY_INDEX.mem;
        edge = "consumes";
        break;
      case "transport.drop":
        k = KEY_INDEX.drop;
        edge = "waits_on";
        break;
      case "transport.bw":
        k = KEY_INDEX.bw;
        edge = isWait(ev.value) ? "waits_on" : null;
        break;
      case "storage.iops":
        k = KEY_INDEX.iops;
        edge = isWait(ev.value) ? "waits_on" : null;
        break;
      case "storage.qdepth":
        k = KEY_INDEX.qdepth;
        edge = isWait(ev.value) ? "waits_on" : null;
        break;
      case "process.state":
        return this._processState(ev, wall);
      case "error.hw":
      case "error.net":
      case "topo.link_down":
        return this._error(ev, wall);
      case "intent.run":
        return this._intent(ev, wall);
      default:
        return; // action.exec: an intervention, not state
    }
    const r = this._resource(ev.entity_id, k, ev.value, ev.ts, wall);
    if (ev.pid === null) return;
    const p = this._process(ev.pid, ev.job_id, ev.ts, wall);
    if (p === null) return; // the pid's earlier owner's reading
    if (edge !== null) this._link(edge, p, r);
    if (edge === "waits_on") {
      ownWaitReading(p, r, k, ev.value);
      if (k === KEY_INDEX.drop) this._drops.note(p, r, ev.ts, wall);
    } else if (edge === null && p.waitsOn.has(r) && waitOver(p, r, k, ev.value)) unwait(p, r, this.edges, this._observer);
  }

  /** Whether `ev` (with a pid) is stamped before its pid's process started, beyond the clocks' slack (sources stamp by their own clocks): an earlier owner's, it changes nothing of it. */
  private _before(ev: XEvent): boolean {
    const p = this.processes.get(ev.pid!);
    return p !== undefined && ev.ts < p.bornTs - CLOCK_SLACK_MS;
  }

  private _processState(ev: XEvent, wall: number): void {
    if (ev.pid === null || this._before(ev)) return;
    const value = ev.value;
    let p = this.processes.get(ev.pid);
    if (value === "start") {
      if (p !== undefined && startsAnew(p, ev.job_id)) this.removeProcess(p, _taken(p)); // pid reuse
      else if (p !== undefined && ev.ts < p.updatedTs) return this._born(p, ev); // a late word of its start
      p = this._process(ev.pid, ev.job_id, ev.ts, wall, true)!;
      this._setState(p, "running");
      return;
    }
    // An end stamped well before the process was last heard of alive is the pid's earlier
    // owner's (a kernel log's old record, a late exit of the job before): it changes nothing.
    if (p !== undefined && isEnded(value) && ev.ts < p.updatedTs - CLOCK_SLACK_MS) return;
    // Another job's state on the pid: the process the graph holds ended unreported (pid reuse).
    const reborn = p !== undefined && otherJob(p, ev.job_id);
    if (reborn) this.removeProcess(p!, _taken(p!));
    if (reborn || p === undefined) {
      if (isEnded(value)) return; // an exit of a process never seen has nothing to remove
      p = undefined;
    }
    p ??= this._process(ev.pid, ev.job_id, ev.ts, wall, reborn)!;
    if (ev.job_id !== null && (p.jobId !== ev.job_id || p.jobInferred)) this._reportedJob(p, ev.job_id);
    p.updatedTs = ev.ts;
    p.updatedWall = wall;
    this._setState(p, value === "" ? "unknown" : value);
  }

  /** An error event creates or refreshes `error-E` and links whom it concerns (blocking.ts). */
  private _error(ev: XEvent, wall: number): void {
    const entity = ev.entity_id;
    let e = this.errors.get(entity);
    if (e === undefined) {
      e = newErrorNode(entity, this._ix.take(), ev.value, ev.ts, wall);
      this.errors.set(entity, e);
      this._observer?.nodeChanged(e, undefined);
    } else {
      e.updatedTs = Math.max(e.updatedTs, ev.ts);
      e.updatedWall = wall;
      if (e.errorType !== ev.value) {
        e.errorType = ev.value;
        this._observer?.nodeChanged(e, "error_type");
      }
    }
    this._blocking.fault(e, ev, wall);
  }

  /** Makes up to `max` pending `blocked_by` links (all with no argument); see blocking.ts. */
  drainLinks(max = Infinity): void {
    this._blocking.drain(max);
  }

  private _intent(ev: XEvent, wall: number): void {
    if (ev.pid === null || ev.job_id === null || this._before(ev)) return;
    let p = this.processes.get(ev.pid);
    if (p === undefined) return;
    // A collector's inference (procfs saw no job, maybe just before a probe's line named one) names no new process and replaces no reported job.
    const inferred = isInferredJob(ev.value);
    // Another job on the pid: a new process whose start no probe reported (pid reuse).
    if (!inferred && otherJob(p, ev.job_id)) {
      this.removeProcess(p, _taken(p));
      p = this._process(ev.pid, ev.job_id, ev.ts, wall, true)!;
    }
    p.updatedTs = ev.ts;
    p.updatedWall = wall;
    if (!inferred) this._reportedJob(p, ev.job_id);
    else if (p.jobId === null) {
      p.jobId = ev.job_id;
      p.jobInferred = true;
      this._observer?.nodeChanged(p, "job_id");
    }
  }

  /** A reading of key `RESOURCE_KEYS[k]` on resource `id`. */
  private _resource(id: string, k: number, value: string, ts: number, wall: number): ResourceNode {
    const key = RESOURCE_KEYS[k];
    let r = this.resources.get(id);
    if (r === undefined) {
      r = newResourceNode(id, this._ix.take(), ts, wall);
      setMeta(r.meta, key, value);
      r.metaTs[k] = ts;
      this.resources.set(id, r);
      this._observer?.nodeChanged(r, undefined);
      return r;
    }
    if (ts > r.updatedTs) r.updatedTs = ts;
    r.updatedWall = wall;
    // An older reading than the one kept (beyond the clock slack between sources) is history.
    if (ts < r.metaTs[k] - CLOCK_SLACK_MS) return r;
    if (ts > r.metaTs[k]) r.metaTs[k] = ts;
    if (setMeta(r.meta, key, value) && this._watch.tells(r, k, value)) this._observer?.nodeChanged(r, key);
    return r;
  }

  /** The process of `pid` for an event at `ts` (made or renewed); null when it started after `ts` (see `_before`). */
  private _process(pid: number, jobId: string | null, ts: number, wall: number, start = false): ProcessNode | null {
    let p = this.processes.get(pid);
    if (p !== undefined && ts < p.bornTs - CLOCK_SLACK_MS) return null;
    if (p !== undefined && otherJob(p, jobId)) {
      // A reading of another job's process on the pid: the one the graph holds ended unreported.
      this.removeProcess(p, _taken(p));
      p = undefined;
      start = true;
    }
    if (p === undefined) {
      p = newProcessNode(pid, jobId, ts, wall);
      if (start) p.bornTs = ts; // made by `process.state start` (or another job's event on a reused pid): its birth
      this.processes.set(pid, p);
      this.activeProcesses++;
      this._observer?.nodeChanged(p, undefined);
      if (start) this._blocking.born(p); // its own faults that came before its start was told
      return p;
    }
    p.updatedTs = ts;
    p.updatedWall = wall;
    if (jobId !== null && (p.jobId !== jobId || p.jobInferred)) this._reportedJob(p, jobId);
    return p;
  }

  /** A source reported `p`'s job: it replaces one a collector inferred (otherJob). */
  private _reportedJob(p: ProcessNode, jobId: string): void {
    p.jobInferred = false;
    if (p.jobId === jobId) return;
    p.jobId = jobId;
    this._observer?.nodeChanged(p, "job_id");
  }

  /** The start of a process the graph holds, told after its readings (builtin:procfs reads it from /proc): its birth, if not known. */
  private _born(p: ProcessNode, ev: XEvent): void {
    if (p.bornTs !== -Infinity) return;
    p.bornTs = ev.ts;
    if (ev.job_id !== null && (p.jobId === null || p.jobInferred)) this._reportedJob(p, ev.job_id);
    this._blocking.born(p);
  }

  private _setState(p: ProcessNode, state: string): void {
    if (p.state === state) return;
    const wasActive = !isEnded(p.state);
    p.state = state;
    const active = !isEnded(state);
    if (wasActive !== active) this.activeProcesses += active ? 1 : -1;
    if (state === "running") this._notRunning.delete(p);
    else this._notRunning.add(p);
    this._observer?.nodeChanged(p, "state");
  }

  /** A `consumes` or `waits_on` edge (blocked_by edges are made by `_block`). */
  private _link(kind: EdgeKind, p: ProcessNode, r: ResourceNode): void {
    const k = kind === "consumes" ? 0 : 1;
    const ix = r.ix;
    if (ix >= 0 ? hasEdgeBit(p, k, ix) : (k === 0 ? p.consumes : p.waitsOn).has(r)) return; // the edge is there
    (k === 0 ? p.consumes : p.waitsOn).add(r);
    (k === 0 ? r.consumers : r.waiters).add(p);
    if (ix >= 0) setEdgeBit(p, k, ix, true);
    this.edges[kind]++;
    // A new user of an entity with a device fault: a waiter is blocked by it now, a new consumer (not
    // waiting on it already) by the next one, or now when it started before a blind one (blocking.ts).
    if (this.errors.size !== 0 && (k === 1 || !r.waiters.has(p))) this._blocking.newUser(p, r, k === 1);
    this._observer?.edgeAdded(kind, p, r);
  }

  /**
   * Expires what SPEC §3 says leaves: ended processes, idle non-running ones, errors past the
   * window, resources past their TTL. Looks only at non-running processes and error nodes.
   */
  cleanup(wall: number): void {
    const now = this.eventNow;
    for (const e of this.errors.values()) {
      if (now - e.updatedTs > this.errorWindowMs || wall - e.updatedWall > this.errorWindowMs) {
        this.removeError(e);
      } else {
        // Another process's fault keeps the node: each edge still leaves with its own fault.
        this._blocking.sweep(e, now, wall, this.errorWindowMs, (p) => unblockOne(p, e, this.edges, this._observer));
      }
    }
    this._drops.sweep(now, wall, this.errorWindowMs, (p) => this.processes.get(p.pid) === p, (p, r) => unwait(p, r, this.edges, this._observer));
    for (const p of this._notRunning) {
      if (isEnded(p.state) || (now - p.updatedTs > this.idleProcessMs && wall - p.updatedWall > this.idleProcessMs)) {
        this.removeProcess(p, isEnded(p.state) ? "ended" : "idle");
      }
    }
    if (this.resourceTtlMs > 0) {
      for (const r of this.resources.values()) {
        if (now - r.updatedTs > this.resourceTtlMs && wall - r.updatedWall > this.resourceTtlMs) {
          this.removeResource(r);
        }
      }
    }
  }

  /** Removes `p` with every edge it has; `leaving` hears of it first, its edges still there. */
  removeProcess(p: ProcessNode, reason: LeaveReason = "ended"): void {
    if (this.processes.get(p.pid) !== p) return;
    this._leaving?.(p, reason);
    detachProcess(p, this.edges, this._observer);
    this.processes.delete(p.pid);
    this._notRunning.delete(p);
    if (!isEnded(p.state)) this.activeProcesses--;
    this._observer?.nodeRemoved(p);
  }

  removeError(e: ErrorNode): void {
    if (this.errors.get(e.entityId) !== e) return;
    for (const p of e.blocked) {
      unblock(p, e);
      if (e.ix >= 0) setEdgeBit(p, 2, e.ix, false);
      this.edges.blocked_by--;
      this._observer?.edgeRemoved("blocked_by", p, e);
    }
    e.blocked.clear();
    e.ownEdges.clear();
    e.joined = [];
    this._ix.release(e.ix);
    this.errors.delete(e.entityId);
    this._observer?.nodeRemoved(e);
  }

  removeResource(r: ResourceNode): void {
    if (this.resources.get(r.id) !== r) return;
    unlinkResource(r, this.edges, this._observer);
    this._ix.release(r.ix);
    this.resources.delete(r.id);
    this._observer?.nodeRemoved(r);
  }
}

/** Why a process another one replaces on its pid leaves: it had ended, or it ended unreported. */
function _taken(p: ProcessNode): LeaveReason {
  return isEnded(p.state) ? "ended" : "pid_reused";
}
