// builtin:procfs: looks up on the host every process the graph holds. A pid gone from
// --path.procfs has exited (this presumes the exporter sees the host's pid namespace, as a
// host install or a DaemonSet with hostPID does); `Z` is a zombie; `D` past a threshold is a
// process stuck in I/O, waiting on the disk or NFS server behind its open files when that can
// be told; a process with no job id gets one from SLURM_JOB_ID or its pod's cgroup.
import type { Registry } from "prom-client";
import { mapLimit, PollingSource } from "../poller.ts";
import { DeniedReads, registerDeniedCounter } from "../reads-denied.ts";
import type { HostPaths, KnownProcess, SourceContext } from "../source.ts";
import { ProcReader, type WaitOn } from "./read.ts";
import { StuckTasks } from "./stuck-tasks.ts";
import { TaskTree, type TaskInD } from "./task-tree.ts";
import { ProcTracker, type PidObservation } from "./tracker.ts";
import { bootTimeMs } from "../proc-task.ts";

export const PROCFS_DEFAULTS = Object.freeze({
  intervalMs: 15_000,
  /** In `D` this long (two rounds at the default interval) before it counts as stuck. */
  dWaitMs: 30_000,
  /** Processes read per round; past it the rest wait for the next rounds, in turn. */
  maxPids: 5000,
  /** Job and wait-device lookups per round (several files each). */
  maxLookups: 256,
  /** Reads in flight at once (the fs thread pool has four threads). */
  concurrency: 16,
  /**
   * File reads per round looking for threads and descendants in `D` (task-tree.ts); past it the
   * next round goes on from the process where this one stopped.
   */
  maxTaskReads: 1024,
});

export interface ProcfsOptions {
  host: HostPaths;
  intervalMs?: number;
  dWaitMs?: number;
  maxPids?: number;
  /** File reads per round looking for stuck threads and descendants (default PROCFS_DEFAULTS). */
  maxTaskReads?: number;
  name?: string;
  /** Wall clock for round times (tests drive it). */
  clock?: () => number;
}

export class ProcfsSource extends PollingSource {
  readonly host: HostPaths;
  readonly dWaitMs: number;
  readonly maxPids: number;
  readonly maxTaskReads: number;
  readonly denied = new DeniedReads("Other users' /proc/<pid>/environ and fd need CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH together.");
  private readonly _tracker: ProcTracker;
  private readonly _stuck: StuckTasks;
  private _reader: ProcReader | null = null;
  private _cursor = 0;
  private _blind: string | null = null;
  private _overBound = false;
  /** The pid the next round's look for stuck tasks starts from (past the read budget): the first at or above it. */
  private _taskCursor = 0;
  private _tree: TaskTree | null = null;
  private _saidTreeCut = false;

  constructor(opts: ProcfsOptions) {
    super(opts.name ?? "procfs", opts.intervalMs ?? PROCFS_DEFAULTS.intervalMs, (ctx, now) => this._round(ctx, now), opts.clock);
    this.host = opts.host;
    this.dWaitMs = opts.dWaitMs ?? PROCFS_DEFAULTS.dWaitMs;
    this.maxPids = opts.maxPids ?? PROCFS_DEFAULTS.maxPids;
    this.maxTaskReads = opts.maxTaskReads ?? PROCFS_DEFAULTS.maxTaskReads;
    this._tracker = new ProcTracker(this.dWaitMs);
    this._stuck = new StuckTasks(this.dWaitMs);
  }

  registerMetrics(registry: Registry): void {
    registerDeniedCounter(registry, this.name, this.denied);
  }

  private async _round(ctx: SourceContext, now: number): Promise<void> {
    const reader = (this._reader ??= new ProcReader(this.host, (kind, path) => this.denied.note(ctx, kind, path)));
    reader.newRound();
    const blind = await reader.canSeeExits();
    this._tracker.bootMs ??= await bootTimeMs(this.host.procfs);
    if (blind !== this._blind) {
      if (blind !== null) ctx.log.warn(`${blind}; vanished pids are not reported as exits`);
      else if (this._blind !== null) ctx.log.info(`${this.host.procfs} shows exits again`);
      this._blind = blind;
    }
    const live = ctx.processes().filter((p) => p.state !== "exit" && p.state !== "zombie");
    const pids = this._batch(ctx, live);
    const obs: PidObservation[] = await mapLimit(pids, PROCFS_DEFAULTS.concurrency, async (p) => {
      const { read, start } = await reader.stat(p.pid);
      return { pid: p.pid, stat: read, start };
    });
    // A process that is not in D itself may be held up by a thread or a descendant (a rank, a
    // data-loader worker) that is: looked for in every process asleep or running, within a read budget.
    const { stuckTasks, ownThreadInD } = await this._lookForStuckTasks(ctx, obs, live, now);
    // Lookups that cost several files, bounded per round: what a stuck process waits on, and
    // the job of a process that has none.
    let lookups = PROCFS_DEFAULTS.maxLookups;
    const extra: Array<() => Promise<void>> = [];
    for (let i = 0; i < obs.length; i++) {
      const o = obs[i];
      const stuck = this._tracker.note(o.pid, o.stat, now);
      if (typeof o.stat !== "string" || o.stat.length !== 1 || o.stat === "Z" || lookups <= 0) continue;
      if (stuck) {
        lookups--;
        extra.push(async () => _waitOn(o, await reader.waitDevice(o.pid)));
      }
      const stuckTask = o.stuckTask;
      const task = stuckTasks.get(o.pid);
      if (stuckTask !== undefined && task !== undefined && lookups > 0) {
        lookups--;
        extra.push(async () => _waitOn(stuckTask, await reader.waitDevice(task.filesOf, task.dir)));
      }
      // Not while it or one of its own threads is in D: reading environ takes the process's mmap
      // lock, which a task stuck in a page fault holds, and the read would hang a thread of the
      // fs pool with it. (A descendant's D is no bar: it has its own memory.)
      if (o.stat !== "D" && !ownThreadInD.has(o.pid) && this._tracker.wantsJob(pids[i]) && lookups > 0) {
        lookups--;
        extra.push(async () => void (o.job = await reader.job(o.pid)));
      }
    }
    await mapLimit(extra, PROCFS_DEFAULTS.concurrency, (f) => f());
    // The graph as it is now, after the reads: events are decided and emitted in one go.
    const graph = new Map<number, KnownProcess>();
    for (const p of ctx.processes()) graph.set(p.pid, p);
    for (const ev of this._tracker.round(obs, graph, now, blind === null)) ctx.emit(ev);
    this._tracker.prune(graph);
    this._stuck.prune(graph);
  }

  /**
   * Looks through the threads and descendants (task-tree.ts, stuck-tasks.ts) of the round's
   * processes asleep or running, in pid order from where the last round stopped, one process
   * at a time within the round's read budget. A process whose look the budget cuts short is
   * looked at again first next round, with the whole budget; the first of a round keeps what
   * the whole budget found (a tree larger than the budget is looked at as far as it goes).
   * Descendants that the graph holds are looked at on their own, not under their parent.
   * Returns the stuck task of each process that has one (and sets its `stuckTask`), and the
   * processes with a thread of their own in `D` now.
   */
  private async _lookForStuckTasks(ctx: SourceContext, obs: PidObservation[], live: readonly KnownProcess[], now: number): Promise<{ stuckTasks: Map<number, TaskInD>; ownThreadInD: Set<number> }> {
    const stuckTasks = new Map<number, TaskInD>();
    const ownThreadInD = new Set<number>();
    const tree = (this._tree ??= new TaskTree(this.host.procfs, PROCFS_DEFAULTS.concurrency));
    const inGraph = new Set(live.map((p) => p.pid));
    const skip = (pid: number) => inGraph.has(pid);
    const order = obs.filter((o) => o.stat === "S" || o.stat === "R").sort((a, b) => a.pid - b.pid);
    const from = Math.max(0, order.findIndex((o) => o.pid >= this._taskCursor));
    const budget = { left: this.maxTaskReads };
    const seen = new Set<number>();
    let stopped: number | null = null;
    for (let n = 0; n < order.length; n++) {
      const o = order[(from + n) % order.length];
      const first = n === 0;
      const look = await tree.look(o.pid, skip, seen, budget);
      if (!look.complete && !first) {
        stopped = o.pid; // the next round goes on from here
        break;
      }
      if (!look.complete && !this._saidTreeCut) {
        this._saidTreeCut = true;
        ctx.log.warn(`pid ${o.pid}: its threads and descendants take more than the ${this.maxTaskReads} reads of a round; looked at as far as they go (said once)`);
      }
      o.treeClear = look.complete && look.tasks.length === 0;
      if (look.tasks.some((t) => t.depth === 0)) ownThreadInD.add(o.pid);
      const stuck = this._stuck.observe(o.pid, look.tasks, now);
      if (stuck !== null) {
        o.stuckTask = { what: stuck.task.what, since: stuck.since, device: null };
        stuckTasks.set(o.pid, stuck.task);
      }
    }
    this._taskCursor = stopped ?? 0;
    return { stuckTasks, ownThreadInD };
  }

  /** The processes to read this round: all of them, or the next `maxPids` in turn. */
  private _batch(ctx: SourceContext, live: KnownProcess[]): KnownProcess[] {
    if (live.length <= this.maxPids) return live;
    if (!this._overBound) ctx.log.warn(`${live.length} processes in the graph: reading ${this.maxPids} a round, in turn (their exits and waits are seen later)`);
    this._overBound = true;
    const start = this._cursor % live.length;
    this._cursor = start + this.maxPids;
    const out = live.slice(start, start + this.maxPids);
    if (out.length < this.maxPids) out.push(...live.slice(0, this.maxPids - out.length));
    return out;
  }
}

/** Sets what a process (or its stuck task) waits on, and the way down to it, from `waitDevice`. */
function _waitOn(into: { device?: string | null; via?: string }, w: WaitOn | null): void {
  into.device = w?.device ?? null;
  if (w?.via) into.via = w.via;
}
