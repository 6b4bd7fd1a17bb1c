// builtin:procfs: looks up on the host every process the graph holds. A pid gone from
// --path.procfs has exited (this presumes the exporter sees the host's pid namespace, as a
// host install or a DaemonSet with hostPID does); `Z` is a zombie; `D` past a threshold is a
// process stuck in I/O, waiting on the disk or NFS server behind its open files when that can
// be told; a process with no job id gets one from SLURM_JOB_ID or its pod's cgroup.
import type { Registry } from "prom-client";
import { mapLimit, PollingSource } from "../poller.ts";
import { DeniedReads, registerDeniedCounter } from "../reads-denied.ts";
import type { HostPaths, KnownProcess, SourceContext } from "../source.ts";
import { ProcReader, type TaskInD } from "./read.ts";
import { StuckTasks } from "./stuck-tasks.ts";
import { ProcTracker, type PidObservation } from "./tracker.ts";

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
   * File reads per round looking for threads and child processes in `D` (stuck-tasks.ts); past
   * it the next round goes on from the process where this one stopped.
   */
  maxTaskReads: 1024,
});

export interface ProcfsOptions {
  host: HostPaths;
  intervalMs?: number;
  dWaitMs?: number;
  maxPids?: number;
  /** File reads per round looking for stuck threads and children (default PROCFS_DEFAULTS). */
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
  /** Where the next round's look for stuck threads and children starts (past the read budget). */
  private _taskCursor = 0;

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
    if (blind !== this._blind) {
      if (blind !== null) ctx.log.warn(`${blind}; vanished pids are not reported as exits`);
      else if (this._blind !== null) ctx.log.info(`${this.host.procfs} shows exits again`);
      this._blind = blind;
    }
    const pids = this._batch(ctx);
    const obs: PidObservation[] = await mapLimit(pids, PROCFS_DEFAULTS.concurrency, async (p) => {
      const { read, start } = await reader.stat(p.pid);
      return { pid: p.pid, stat: read, start };
    });
    // A process that is not in D itself may be held up by a thread or a child (a data-loader
    // worker) that is: looked for in every process asleep or running, within a read budget.
    const budget = { left: this.maxTaskReads };
    const stuckTasks = new Map<number, TaskInD>();
    const from = obs.length === 0 ? 0 : this._taskCursor % obs.length;
    const order = [...obs.slice(from), ...obs.slice(0, from)];
    const looked = order.map((o) => o.stat !== "S" && o.stat !== "R");
    // In batches: the thread lists at once, the budget handed out in turn (the listing, the
    // main thread's children and each other thread's stat), then the batch's files at once.
    const BATCH = PROCFS_DEFAULTS.concurrency;
    let spent = false;
    for (let at = 0; at < order.length && !spent; at += BATCH) {
      const batch: number[] = [];
      for (let k = at; k < Math.min(order.length, at + BATCH); k++) if (!looked[k]) batch.push(k);
      const lists = await Promise.all(batch.map((k) => reader.threads(order[k].pid)));
      const chosen: { k: number; tids: string[] }[] = [];
      for (let b = 0; b < batch.length; b++) {
        const need = 2 + lists[b].length;
        if (budget.left < need) {
          spent = true; // the next round goes on from here
          break;
        }
        budget.left -= need;
        chosen.push({ k: batch[b], tids: lists[b] });
      }
      const found = await Promise.all(chosen.map((c) => reader.tasksInD(order[c.k].pid, c.tids, budget)));
      for (let c = 0; c < chosen.length; c++) {
        const o = order[chosen[c].k];
        looked[chosen[c].k] = true;
        const stuck = this._stuck.observe(o.pid, found[c], now);
        if (stuck === null) continue;
        o.stuckTask = { what: stuck.task.what, since: stuck.since, device: null };
        stuckTasks.set(o.pid, stuck.task);
      }
    }
    // The next round begins at the first process this one could not look through.
    const next = looked.indexOf(false);
    this._taskCursor = next === -1 ? 0 : from + next;
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
        extra.push(async () => void (o.device = await reader.waitDevice(o.pid)));
      }
      const stuckTask = o.stuckTask;
      const task = stuckTasks.get(o.pid);
      if (stuckTask !== undefined && task !== undefined && lookups > 0) {
        lookups--;
        extra.push(async () => void (stuckTask.device = await reader.waitDevice(task.filesOf, task.dir)));
      }
      // Not while in D (nor a thread of it): reading environ takes the process's mmap lock, which
      // a process stuck in a page fault holds, and the read would hang a thread of the fs pool with it.
      if (o.stat !== "D" && !(stuckTask !== undefined && stuckTask.what.startsWith("thread")) && this._tracker.wantsJob(pids[i]) && lookups > 0) {
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

  /** The processes to read this round: all of them, or the next `maxPids` in turn. */
  private _batch(ctx: SourceContext): KnownProcess[] {
    const live = ctx.processes().filter((p) => p.state !== "exit" && p.state !== "zombie");
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
