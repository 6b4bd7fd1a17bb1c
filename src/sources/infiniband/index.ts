// builtin:infiniband: RDMA ports under <sysfs>/class/infiniband (InfiniBand and RoCE), their
// link state and counters, and the processes using each device through its verbs file.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { PollingSource } from "../poller.ts";
import { DeniedReads, registerDeniedCounter } from "../reads-denied.ts";
import type { SourceContext } from "../source.ts";
import { readInfiniband, readVerbsDevices } from "./read.ts";
import { IbTracker } from "./tracker.ts";
import { narrowUsers, RdmaPds } from "./rdma-pds.ts";
import { VerbsUsers } from "./users.ts";

export const INFINIBAND_DEFAULTS = Object.freeze({
  intervalMs: 15_000,
  /** CNPs and ECN marks per second, all congestion counters of a device together, for error.net. */
  congestionPerSec: 1000,
  /** Processes whose fds are scanned per round, and how often each is scanned again. */
  maxScans: 128,
  rescanMs: 60_000,
});

export interface InfinibandOptions {
  procfs: string;
  sysfs: string;
  intervalMs?: number;
  congestionPerSec?: number;
  name?: string;
  /** Wall clock for round times (tests drive it). */
  clock?: () => number;
  /** iproute2's `rdma` (name on PATH, or a path), for the protection domains of each process; null: not asked. */
  rdma?: string | null;
  env?: Record<string, string | undefined>;
}

export class InfinibandSource extends PollingSource {
  readonly sysfs: string;
  readonly congestionPerSec: number;
  readonly denied = new DeniedReads("Other users' /proc/<pid>/fd need CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH together.");
  private _tracker: IbTracker | null = null;
  private _users: VerbsUsers | null = null;
  private _empty = false;
  /** Whether class/infiniband was missing at the last round (null before the first). */
  private _missing: boolean | null = null;
  /** uverbsN → device as last read: a device hot-removed is gone from class/infiniband_verbs
   * too, while its processes still hold the fd; they are its users when it goes. */
  private _lastVerbs = new Map<string, string>();
  private readonly _pds: RdmaPds;

  constructor(readonly opts: InfinibandOptions) {
    super(opts.name ?? "infiniband", opts.intervalMs ?? INFINIBAND_DEFAULTS.intervalMs, (ctx, now) => this._round(ctx, now), opts.clock);
    this.sysfs = opts.sysfs;
    this.congestionPerSec = opts.congestionPerSec ?? INFINIBAND_DEFAULTS.congestionPerSec;
    this._pds = new RdmaPds({ command: opts.rdma, env: opts.env });
  }

  registerMetrics(registry: Registry): void {
    registerDeniedCounter(registry, this.name, this.denied);
  }

  private async _round(ctx: SourceContext, now: number): Promise<void> {
    // No RDMA stack at all (the collector listed on a host without it): down, as a listed
    // collector whose source is missing shows, until the class appears (a driver loaded later).
    const root = join(this.sysfs, "class", "infiniband");
    const missing = !(await _isDir(root));
    if (missing !== this._missing) {
      if (missing) ctx.log.warn(`no ${root}: no RDMA port to read; down until it appears`);
      else if (this._missing !== null) ctx.log.info(`${root} appeared`);
      this._missing = missing;
      ctx.setUp(!missing, missing ? `no ${root}` : undefined);
    }
    if (missing) return;
    const tracker = (this._tracker ??= new IbTracker(this.congestionPerSec, ctx.log));
    const users = (this._users ??= new VerbsUsers(this.opts.procfs, INFINIBAND_DEFAULTS.maxScans, INFINIBAND_DEFAULTS.rescanMs, (kind, path) =>
      this.denied.note(ctx, kind, path),
    ));
    const [devices, current] = await Promise.all([readInfiniband(this.sysfs), readVerbsDevices(this.sysfs)]);
    const verbs = new Map([...this._lastVerbs, ...current]);
    this._lastVerbs = current;
    if ((devices.length === 0) !== this._empty) {
      this._empty = devices.length === 0;
      if (this._empty) ctx.log.info(`no RDMA device under ${this.sysfs}/class/infiniband`);
    }
    const live = () => ctx.processes().filter((p) => p.state !== "exit" && p.state !== "zombie");
    let using = new Map<string, number[]>();
    if (devices.length > 0 || verbs.size > 0) using = await users.round(live().map((p) => p.pid), verbs, now);
    // The graph as it is after the reads: a process that ended meanwhile gets no event.
    const alive = new Set(live().map((p) => p.pid));
    for (const [dev, pids] of using) using.set(dev, pids.filter((pid) => alive.has(pid)));
    // A holder of a device is its user only if it has allocated on it, where that is known.
    if (using.size > 0) using = narrowUsers(using, await this._pds.read((m) => ctx.log.info(m)));
    for (const ev of tracker.round(devices, using, now)) ctx.emit(ev);
  }
}

async function _isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
