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
  /** File reads per round looking for threads and child processes in `D` (stuck-tasks.ts). */
  maxTaskReads: 16_384,
});

export interface ProcfsOptions {
  host: HostPaths;
  intervalMs?: number;
  dWaitMs?: number;
  maxPids?: number;
  name?: string;
  /** Wall clock for round times (tests drive it). */
  clock?: () => number;
}

export class ProcfsSource extends PollingSource {
  readonly host: HostPaths;
  readonly dWaitMs: number;
  readonly maxPids: number;
  readonly denied = new DeniedReads("Other users' /proc/<pid>/environ and fd need CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH together.");
  private readonly _tracker: ProcTracker;
  private readonly _stuck: StuckTasks;
  private _reader: ProcReader | null = null;
  private _cursor = 0;
  private _blind: string | null = null;
  private _overBound = false;

  constructor(opts: ProcfsOptions) {
    super(opts.name ?? "procfs", opts.intervalMs ?? PROCFS_DEFAULTS.intervalMs, (ctx, now) => this._round(ctx, now), opts.clock);
    this.host = opts.host;
    this.dWaitMs = opts.dWaitMs ?? PROCFS_DEFAULTS.dWaitMs;
    this.maxPids = opts.maxPids ?? PROCFS_DEFAULTS.maxPids;
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
    const budget = { left: PROCFS_DEFAULTS.maxTaskReads };
    const stuckTasks = new Map<number, TaskInD>();
    await mapLimit(obs, PROCFS_DEFAULTS.concurrency, async (o) => {
      if (o.stat !== "S" && o.stat !== "R") return;
      const found = this._stuck.observe(o.pid, await reader.tasksInD(o.pid, budget), now);
      if (found === null) return;
      o.stuckTask = { what: found.task.what, since: found.since, device: null };
      stuckTasks.set(o.pid, found.task);
    });
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
