// builtin:kmsg: the kernel log as events. Reads /dev/kmsg (or a file in its format) from the
// start of the ring, so an exporter restarted within the error window loses nothing, then
// follows it; each record's time is the boot time (`btime` in <procfs>/stat) plus its offset,
// corrected by the drift of the kernel's clock that records read live show (clock.ts).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { isEnded } from "../../events/schema.ts";
import { describeErrno } from "../../errno.ts";
import { Backoff } from "../backoff.ts";
import { KmsgClock } from "./clock.ts";
import { DEFAULT_HOST_PATHS, type HostPaths, type Source, type SourceContext } from "../source.ts";
import { DeviceMap } from "./devices.ts";
import { findingEvents, oomChildEvent, type Resolvers } from "./events.ts";
import { oomOwner, type OomOwner } from "./oom-owner.ts";
import { bootTimeMs, groupEnding, threadGroup } from "../proc-task.ts";
import { GpuMap } from "./gpu-map.ts";
import { FallenOffBusJoiner, matchMessage, type Finding } from "./matchers.ts";
import { KmsgReader } from "./reader.ts";
import { PciMap } from "./pci.ts";
import { BlockStack } from "./stack.ts";
import { parseRecord } from "./record.ts";
import { newCounts, registerKmsgCounter, registerThreadMapGauge } from "./stats.ts";
import { DEFAULT_THREAD_BOUNDS, ThreadMap, type ThreadBounds } from "./threads.ts";

export const DEFAULT_KMSG_PATH = "/dev/kmsg";

export interface KmsgOptions {
  /** The record file; default /dev/kmsg. */
  path?: string;
  host?: HostPaths;
  /** nvidia-smi for the bus id → index map (null: never run it). */
  nvidiaSmi?: string | null;
  env?: Record<string, string | undefined>;
  /** How often a caught-up reader looks for more. */
  pollMs?: number;
  /**
   * Device faults older than this when read are counted, not emitted: they would expire at
   * once. Default one hour; the graph's error window (SourceContext.errorWindowMs) when shorter.
   */
  maxAgeMs?: number;
  /**
   * Process states (OOM kill, hung task) older than this are counted, not emitted: the pid
   * may have been reused since. Default five minutes.
   */
  maxPidAgeMs?: number;
  /** How often the threads of the graph's processes are looked at (threads.ts); default 2 s. */
  threadsMs?: number;
  threadBounds?: Partial<ThreadBounds>;
}

export class KmsgSource implements Source {
  readonly name: string;
  readonly path: string;
  readonly host: HostPaths;
  /** Records read per matcher kind (xctl_kmsg_records_total). */
  readonly counts = newCounts();
  private readonly _o: KmsgOptions;
  private readonly _resolvers: Resolvers;
  private readonly _joiner = new FallenOffBusJoiner();
  private readonly _backoff = new Backoff();
  /** Whose each thread of the graph's processes was, read before any of them died. */
  readonly threads: ThreadMap;
  private _threadsTimer: ReturnType<typeof setInterval> | undefined;
  private _ctx: SourceContext | null = null;
  private _reader: KmsgReader | null = null;
  private _running: Promise<void> | null = null;
  private _retry: ReturnType<typeof setTimeout> | undefined;
  private _stopping = false;
  private _bootMs: number | null = null;
  /** The kernel clock's drift against the wall clock, learnt from records read live. */
  readonly clock = new KmsgClock();
  private _saidDrift = false;
  private _failKey: string | null = null;
  private _isUp = false;
  /** The reader has caught up with the ring once since it was launched: records now are new. */
  private _live = false;
  private _saidNoBoot = false;
  /** Matcher kinds of user-space records already said to be ignored (once each). */
  private readonly _saidUserSpace = new Set<string>();
  /** Sequence number of the last record read, and the one to skip to after a restart. */
  private _lastSeq: number | null = null;
  private _resumeAfter: number | null = null;

  constructor(opts: KmsgOptions = {}, name = "kmsg") {
    this.name = name;
    this.path = opts.path ?? DEFAULT_KMSG_PATH;
    this.host = opts.host ?? DEFAULT_HOST_PATHS;
    this._o = opts;
    this._resolvers = {
      gpus: new GpuMap({
        procfs: this.host.procfs,
        command: opts.nvidiaSmi,
        env: opts.env,
        warn: (m) => this._ctx?.log.info(m),
      }),
      devices: new DeviceMap(this.host.sysfs),
      stack: new BlockStack(this.host.sysfs),
      pci: new PciMap(this.host.sysfs),
    };
    this.threads = new ThreadMap(this.host.procfs, { ...DEFAULT_THREAD_BOUNDS, ...opts.threadBounds });
  }

  registerMetrics(registry: Registry): void {
    registerKmsgCounter(registry, this.counts);
    registerThreadMapGauge(registry, this.threads.stats);
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._stopping = false;
    void this._resolvers.gpus.prefetch();
    this._launch();
    void this._listThreads();
    this._threadsTimer = setInterval(() => void this._listThreads(), this._o.threadsMs ?? 2000);
    this._threadsTimer.unref?.();
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._retry);
    clearInterval(this._threadsTimer);
    await this._reader?.stop();
    await this._running;
  }

  /** The events of one record block. */
  private async _handle(block: string): Promise<Record<string, unknown>[]> {
    const rec = parseRecord(block);
    if (rec !== null && this._resumeAfter !== null) {
      // Read again after a restart of the reader: what was handled before is not news.
      if (rec.seq <= this._resumeAfter) return [];
      this._resumeAfter = null;
    }
    if (rec !== null) this._lastSeq = rec.seq;
    // A record read live is news: what it says of the kernel's clock, whatever it says.
    if (rec !== null && this._live && this._bootMs !== null) this._learnClock(this._bootMs + rec.usec / 1000);
    if (rec === null) {
      this.counts.other++;
      return [];
    }
    if (rec.facility !== 0) {
      // Written by user space (facility 1 and up: the kernel gives every line written to
      // /dev/kmsg one, whatever its prefix): never evidence of a fault.
      this.counts.user_space++;
      this._ignoredUserSpace(rec.message, rec.facility, rec.usec);
      return [];
    }
    let f: Finding | null = matchMessage(rec.message);
    if (f === null) f = this._joiner.next(rec.message);
    else this._joiner.next("");
    if (f === null) {
      this.counts.other++;
      return [];
    }
    this.counts[f.kind]++;
    // Without a boot time a record's age is unknown: what the ring held before the reader caught
    // up (faults from boot, read again after every restart) would all be stamped now, as news.
    if (this._bootMs === null && !this._live) return [];
    const now = Date.now();
    const ts = this._bootMs === null ? now : this.clock.stamp(this._bootMs + rec.usec / 1000, now);
    const pidEvent = f.kind === "oom_kill" || f.kind === "hung_task" || f.kind === "memory_failure" || f.kind === "fatal_signal";
    // A device fault older than the error window is over as far as the graph goes: emitted, it
    // would make an error node (and a scene) that the graph's clock, moved back by its old
    // time, keeps alive for a window of wall time. Read again after a restart, it is not news.
    const window = this._ctx?.errorWindowMs ?? Number.POSITIVE_INFINITY;
    const maxAge = pidEvent ? (this._o.maxPidAgeMs ?? 5 * 60_000) : Math.min(this._o.maxAgeMs ?? 60 * 60_000, window);
    if (now - ts > maxAge) return [];
    // A hung task the graph does not hold (a kernel thread, a process no probe reported) would
    // only add a process nobody asked about; the state goes to the processes the graph has. The
    // kernel names the task, a thread: a hung worker thread stalls the process it belongs to. So
    // does a thread a memory failure signals (the signal takes its whole process down), and
    // one that dies of a fault signal (its process dies with it: the state says how it ended).
    if ((f.kind === "hung_task" || f.kind === "memory_failure" || f.kind === "fatal_signal") && !this._known(f.pid)) {
      // The thread still in /proc says whose it is; one already gone, what was listed before it died.
      const tgid = (await threadGroup(this.host.procfs, f.pid)) ?? (f.kind === "fatal_signal" ? await this._listedOwner(f.pid) : null);
      if (tgid !== null && this._known(tgid)) f = f.kind === "fatal_signal" ? { ...f, pid: tgid, tid: f.pid } : { ...f, pid: tgid };
      // A task below the process (a data-loader worker) that dies of its own fault signal killed
      // itself only: the process runs on (if it fails of it, its own end says so).
      else if (f.kind !== "memory_failure") return [];
      else {
        // A worker of a process the graph holds, signalled for a page it mapped: the process fails of it.
        const up = await oomOwner(this.host.procfs, f.pid, f.comm, ts, this._bootMs, (pid) => this._known(pid));
        if (up === null || up.via === null) return [];
        f = { ...f, pid: up.pid, text: `${up.via}: ${f.text}` };
      }
    }
    // The OOM killer's victim may be below the process the graph holds (its data-loader worker).
    let owner: OomOwner | null = null;
    if (f.kind === "oom_kill" && !this._known(f.pid)) {
      owner = await oomOwner(this.host.procfs, f.pid, f.comm, ts, this._bootMs, (pid) => this._known(pid));
      if (owner !== null && owner.via === null) f = { ...f, pid: owner.pid };
    }
    const out = await findingEvents(f, ts, this._resolvers);
    if (owner !== null && owner.via !== null && f.kind === "oom_kill") out.push(oomChildEvent(ts, owner.pid, owner.via, f.text));
    return out as unknown as Record<string, unknown>[];
  }

  /**
   * Says once per matcher kind, at info, that a recent record written from user space that reads
   * as a fault was ignored: an operator who echoes a test Xid line into /dev/kmsg learns why no
   * scene came, where it would otherwise only be counted. Old records (a restart reading the
   * ring again) are not news and say nothing.
   */
  private _ignoredUserSpace(message: string, facility: number, usec: number): void {
    const f = matchMessage(message);
    if (f === null || this._saidUserSpace.has(f.kind)) return;
    const now = Date.now();
    if (this._bootMs !== null ? now - (this._bootMs + usec / 1000) > 5 * 60_000 : !this._live) return;
    this._saidUserSpace.add(f.kind);
    const text = f.text.length > 160 ? f.text.slice(0, 160) + "..." : f.text;
    this._ctx?.log.info(`ignored a line written to the kernel log from user space (facility ${facility}), not by the kernel, that reads as ${f.kind}: only the kernel's own records are evidence: ${JSON.stringify(text)}`);
  }

  /**
   * The graph's process that thread `tid`, gone from /proc, was listed under, if that process is
   * gone or ending too: a fatal signal in one thread kills them all, so one still running was not
   * that thread's process when it died (its id was taken again since it was listed).
   */
  private async _listedOwner(tid: number): Promise<number | null> {
    const pid = this.threads.owner(tid);
    if (pid === null || !this._known(pid)) return null;
    if (await groupEnding(this.host.procfs, pid)) return pid;
    this._ctx?.log.debug(`thread ${tid} was listed under process ${pid}, which still runs: its fault is another process's`);
    return null;
  }

  /** Lists the threads of the graph's running processes again (threads.ts). */
  private async _listThreads(): Promise<void> {
    const ctx = this._ctx;
    if (ctx === null || this._stopping) return;
    const pids = [];
    const held = new Set<number>();
    for (const p of ctx.processes()) {
      held.add(p.pid);
      if (!isEnded(p.state)) pids.push(p.pid);
    }
    await this.threads.refresh(pids, (pid) => held.has(pid));
  }

  private _known(pid: number): boolean {
    const ctx = this._ctx;
    return ctx !== null && ctx.processes().some((p) => p.pid === pid);
  }

  private _launch(): void {
    const ctx = this._ctx!;
    if (this._stopping) return;
    this._resumeAfter = this._lastSeq;
    this._live = false;
    this._running = (async () => {
      this._bootMs ??= await bootTimeMs(this.host.procfs);
      if (this._stopping) return;
      if (this._bootMs === null && !this._saidNoBoot) {
        this._saidNoBoot = true;
        ctx.log.warn(`no boot time in ${join(this.host.procfs, "stat")}: records already in the ring are counted, not emitted; new ones are stamped with the time they are read`);
      }
      const reader = new KmsgReader({
        path: this.path,
        pollMs: this._o.pollMs,
        onBlock: async (block) => {
          for (const ev of await this._handle(block)) ctx.emit(ev);
        },
        onCaughtUp: () => {
          this._live = true;
          this._up();
        },
        onLost: () => ctx.log.debug(`records overwritten in the ring before they were read; going on`),
      });
      this._reader = reader;
      const started = Date.now();
      try {
        await reader.run();
      } catch (e) {
        if (this._stopping) return;
        this._down(e as NodeJS.ErrnoException);
        this._retry = setTimeout(() => this._launch(), this._backoff.delayAfter(Date.now() - started));
      }
    })();
  }

  private _learnClock(stamped: number): void {
    this.clock.sample(stamped, Date.now());
    const drift = this.clock.driftMs;
    if (this._saidDrift || Math.abs(drift) < _SAY_DRIFT_MS) return;
    this._saidDrift = true;
    const s = (Math.abs(drift) / 1000).toFixed(1);
    this._ctx?.log.info(`the kernel's clock runs ${s} s ${drift > 0 ? "behind" : "ahead of"} the wall clock (boot time plus a record's offset); records are stamped with that correction`);
  }

  private _up(): void {
    if (this._isUp) return;
    this._isUp = true;
    this._ctx!.setUp(true);
    this._ctx!.log.info(`${this._failKey !== null ? "reading again" : "reading"} kernel records from ${this.path}`);
    this._failKey = null;
  }

  private _down(e: NodeJS.ErrnoException): void {
    const ctx = this._ctx!;
    const hint = e.code === "EACCES" || e.code === "EPERM" ? " (reading /dev/kmsg needs CAP_SYSLOG when kernel.dmesg_restrict=1)" : "";
    ctx.setUp(false, `cannot read ${this.path}: ${describeErrno(e)}${hint}`);
    this._isUp = false;
    const key = e.code ?? e.message;
    if (key === this._failKey) return;
    this._failKey = key;
    ctx.log.warn(`cannot read ${this.path}: ${e.message}${hint}; retrying with backoff`);
  }
}

/** A drift past this (the graph's clock slack) is said once at info. */
const _SAY_DRIFT_MS = 5000;
