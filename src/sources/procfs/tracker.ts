// What builtin:procfs concludes from one round of reads, against the graph as it stands right
// after them. Pure: tested on observations, no files.
//
// The graph's rules (src/graph/graph.ts) decide the shape of every event here:
// - `process.state` with any value but `start` creates an unknown pid and sets the state it
//   names (`running` would revive an exited process), so state events go only to processes
//   the graph holds and has not ended, and only with the state meant;
// - a job id travels on `intent.run`, which sets `job_id` on a process the graph holds and
//   touches nothing else (no state, no creation): scheduler metadata is what that type is for;
// - `storage.qdepth` with a pid and `IO_WAIT` in its value makes `waits_on` (SPEC §3); once the
//   wait is over, `D ended after Ns` on the same device (a reading that is no wait) ends it.
import type { KnownProcess, SourceEvent } from "../source.ts";
import type { Job, StatRead } from "./read.ts";
import { MS_PER_TICK } from "../proc-task.ts";

// A type alias, not an interface, so it passes as Record<string, unknown> to ctx.emit.
/** Every one names its pid. */
export type ProcEvent = SourceEvent<"process.state" | "intent.run" | "storage.qdepth"> & { pid: number };

/** One pid's reads in a round. `device`/`job` are present only when they were looked up. */
export interface PidObservation {
  pid: number;
  stat: StatRead;
  /** Start time from `stat` (clock ticks after boot), when it was read. */
  start?: number | null;
  device?: string | null;
  /** The way down to `device` through loop devices (`loop0 (/images/a.sif) → nvme0n1p2`), when it is one. */
  via?: string;
  job?: Job | null;
  /** True when its threads and descendants were all looked through this round and none is in `D` (the read budget may leave a process for the next). */
  treeClear?: boolean;
  /** A thread or child process stuck in `D` while the process itself is not (stuck-tasks.ts). */
  stuckTask?: { what: string; since: number; device: string | null; via?: string };
}

export class ProcTracker {
  /** When each pid was first seen in `D` without a break. */
  private readonly _dSince = new Map<number, number>();
  /** Pids this collector set to `D` in the graph, to be set back to `running` after. */
  private readonly _marked = new Set<number>();
  /** Pids whose job was looked up already (found or not): once per process. */
  private readonly _jobTried = new Set<number>();
  /** Each pid's start time when first read: another one later means the pid was reused. */
  private readonly _started = new Map<number, number>();
  /** Devices each pid was last said to wait on, with when the wait began and through what (`child 5555`, or ""). */
  private readonly _waits = new Map<number, Map<string, { since: number; what: string }>>();

  /**
   * Boot time in ms since the epoch (`btime` of `<procfs>/stat`), when read: a process's start
   * time in `stat` counts clock ticks from it. Null: starts are not said.
   */
  bootMs: number | null = null;

  constructor(readonly dWaitMs: number) {}

  /** Records the state read at `now`; true when the pid has been in `D` for `dWaitMs` or more. */
  note(pid: number, stat: StatRead, now: number): boolean {
    if (stat !== "D") {
      this._dSince.delete(pid);
      return false;
    }
    const since = this._dSince.get(pid);
    if (since === undefined) {
      this._dSince.set(pid, now);
      return this.dWaitMs <= 0;
    }
    return now - since >= this.dWaitMs;
  }

  /** Whether the job of `p` should be looked up this round (the graph has none, not tried yet). */
  wantsJob(p: KnownProcess): boolean {
    return p.jobId === null && !this._jobTried.has(p.pid);
  }

  /**
   * Events for the round. `graph` is the graph's processes read after the files, so no event
   * acts on a state the graph has since left; `exitsVisible` is false when a missing pid
   * cannot be told from a hidden one.
   */
  round(obs: readonly PidObservation[], graph: ReadonlyMap<number, KnownProcess>, now: number, exitsVisible: boolean): ProcEvent[] {
    const out: ProcEvent[] = [];
    for (const o of obs) {
      const pid = o.pid;
      if (o.job !== undefined) this._jobTried.add(pid);
      const p = graph.get(pid);
      if (p === undefined || p.state === "exit" || p.state === "zombie") continue;
      const entity = "pid-" + pid;
      const ev = (event_type: ProcEvent["event_type"], value: string, entity_id = entity): ProcEvent => ({ ts: now, event_type, entity_id, pid, value });
      // The pid now belongs to a later process: the one the graph holds exited between rounds.
      const first = this._started.get(pid);
      const reused = typeof o.start === "number" && first !== undefined && first !== o.start;
      if (typeof o.start === "number" && first === undefined) {
        this._started.set(pid, o.start);
        // Its start, once: the graph knew the process only from readings (nvidia-smi lists it), so
        // not whether it was on its GPU at a fault logged before the exporter started and read from
        // the kernel log's backlog; started before that fault, it was. Stamped at the start.
        const born = this.bootMs === null || p.startKnown !== false ? null : this.bootMs + o.start * MS_PER_TICK;
        if (born !== null && born < now && o.stat !== "gone" && o.stat !== "X" && o.stat !== "x" && o.stat !== "Z") {
          out.push({ ts: Math.round(born), event_type: "process.state", entity_id: entity, pid, value: "start" });
        }
      }
      if (o.stat === "gone" || o.stat === "X" || o.stat === "x" || reused) {
        if (exitsVisible || reused) {
          out.push(ev("process.state", "exit"));
          // A process a probe reports on this pid from now on is another one: its own start time,
          // job and waits count, not the old one's.
          this._forget(pid);
        }
        continue;
      }
      if (o.stat === "Z") {
        out.push(ev("process.state", "zombie"));
        continue;
      }
      const since = this._dSince.get(pid);
      const waits = new Map<string, { since: number; what: string }>();
      if (o.stat === "D" && since !== undefined && now - since >= this.dWaitMs) {
        // Only a state this collector owns is changed: a probe's own state (`checkpoint`,
        // `loading`) says more than `D` and stays. Repeated every round, so a process stuck
        // for good is not dropped as idle.
        if (p.state === "running" || p.state === "D") {
          out.push(ev("process.state", "D"));
          this._marked.add(pid);
        }
        if (o.device) {
          out.push(ev("storage.qdepth", `IO_WAIT D for ${Math.round((now - since) / 1000)}s${_via(o.via)}`, o.device));
          waits.set(o.device, { since, what: "" });
        }
      } else if (o.stat !== "D" && typeof o.stat === "string" && o.stat.length === 1 && (this._marked.has(pid) || (p.state === "D" && o.treeClear === true))) {
        // Out of D. builtin:kmsg's hung-task message (said once; nothing says when it ends) put
        // it in D too: that D is over once no thread or child of it is in D (all looked through).
        this._marked.delete(pid);
        if (p.state === "D") out.push(ev("process.state", "running"));
      }
      // A thread or a child (a data-loader worker) stuck while the process itself is not: the
      // process waits on that device through it; its own state is left as it is.
      const t = o.stuckTask;
      if (o.stat !== "D" && t !== undefined && t.device) {
        out.push(ev("storage.qdepth", `IO_WAIT D for ${Math.round((now - t.since) / 1000)}s (${t.what})${_via(t.via)}`, t.device));
        waits.set(t.device, { since: t.since, what: t.what });
      }
      this._endWaits(o, waits, now, out);
      if (o.job && p.jobId === null) {
        out.push({ ts: now, event_type: "intent.run", entity_id: entity, pid, job_id: o.job.jobId, value: `job_id from ${o.job.from}` });
      }
    }
    return out;
  }

  /**
   * Says of each device `o`'s process waited on last round and no longer does that its wait is
   * over (a reading that is no wait: the graph ends the process's waits_on edge). Only what this
   * round saw: its own wait ends when it is out of D; a thread's or child's when its whole tree
   * was looked through (the read budget may skip it a round) and no task in it is in D.
   */
  private _endWaits(o: PidObservation, waits: Map<string, { since: number; what: string }>, now: number, out: ProcEvent[]): void {
    const pid = o.pid;
    const before = this._waits.get(pid);
    if (before !== undefined) {
      const stateRead = typeof o.stat === "string" && o.stat.length === 1;
      for (const [device, w] of before) {
        if (waits.has(device)) continue;
        const over = w.what === "" ? stateRead && o.stat !== "D" : o.treeClear === true;
        if (!over) {
          waits.set(device, w);
          continue;
        }
        const through = w.what === "" ? "" : ` (${w.what})`;
        out.push({ ts: now, event_type: "storage.qdepth", entity_id: device, pid, value: `D ended after ${Math.round((now - w.since) / 1000)}s${through}` });
      }
    }
    if (waits.size > 0) this._waits.set(pid, waits);
    else this._waits.delete(pid);
  }

  private _forget(pid: number): void {
    for (const set of [this._dSince, this._marked, this._jobTried, this._started, this._waits]) set.delete(pid);
  }

  /** Forgets pids the graph no longer holds. */
  prune(graph: ReadonlyMap<number, KnownProcess>): void {
    for (const set of [this._dSince, this._marked, this._jobTried, this._started, this._waits]) {
      for (const pid of set.keys()) if (!graph.has(pid)) set.delete(pid);
    }
  }
}

/** How the wait reaches its device through loop devices, said after the wait: ` via loop0 (/images/a.sif) → nvme0n1p2`. */
function _via(via: string | undefined): string {
  return via ? ` via ${via}` : "";
}
