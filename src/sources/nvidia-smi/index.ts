// builtin:nvidia-smi: GPU events from nvidia-smi's CSV query mode, no probe to write.
//
// nvidia-smi takes one --query-* switch per run, so two queries mean two processes:
// - `--query-gpu=... -lms N` runs for good and prints one line per GPU every N ms; each line
//   stands alone, so it is turned into events as it arrives.
// - `--query-compute-apps=...` runs once per interval instead of looping, because a looping run
//   prints nothing at all while no process is on any GPU: its blocks cannot be told apart, so
//   "the last process has gone" would be invisible. A one-shot run's exit ends the snapshot; one
//   that names a GPU without a handle and exits 15 is a snapshot of the other GPUs (apps.ts).
// - `--query-remapped-rows=...` once per health interval (30 s): row remapping pending or failed.
// Health fields join the looping query only where this driver's `--help-query-gpu` lists them,
// read once before the first run: an nvidia-smi asked for a field it does not know refuses the
// whole query, so a collector that asked blindly would go dark on an older driver. Should a
// driver still refuse one, the query is asked again without it at once.
import { Backoff, type BackoffOptions } from "../backoff.ts";
import { killChild, lineSplitter, reap, startChild, StuckRuns, waitChild, which, type Child, type Env, type Spawn } from "../child.ts";
import { ExitCheck } from "../exit-check.ts";
import { driverGpus } from "../gpu-name.ts";
import { AppsQuery, type AppsSnapshot } from "./apps.ts";
import { APPS_QUERY, CSV_FORMAT, GPU_QUERY, parseGpuLine, parseLostLine, refusedField, type LostGpu } from "./csv.ts";
import { FaultHold } from "./hold.ts";
import { discover, runOnce } from "./once.ts";
import { RemapPoll } from "./remap.ts";
import { NvidiaSmiTracker, type SmiEvent } from "./tracker.ts";
import type { Source, SourceContext } from "../source.ts";

export interface NvidiaSmiOptions {
  /** Sampling period of both queries. */
  intervalMs?: number;
  /** Name looked up on PATH, or a path. */
  command?: string;
  /** error.hw TEMP_HIGH above this many degrees C. */
  tempThreshold?: number;
  /** Environment for the PATH lookup and the children; default process.env. */
  env?: Env;
  /** Restart delays; default 1 s doubling to 30 s. */
  backoff?: BackoffOptions;
  /** No GPU line for this long: the looping run is taken as hung and restarted. */
  stallMs?: number;
  /** The host's /proc: whether a pid no longer listed has exited (exit-check.ts); the driver's GPUs, to name one without a handle (gpu-name.ts). */
  procfs?: string;
  /** Period of the row remapping query; default 30 s. */
  healthIntervalMs?: number;
  /** A run killed (at stallMs, or for printing nothing) and still not gone this much later is stuck in the driver. Default 2 s. */
  killWaitMs?: number;
  /** Starts a run; tests give one whose child never dies, as a GPU fallen off the bus makes it. */
  spawn?: Spawn;
}

/** nvidia-smi's words when it cannot talk to the driver at all: `status` shows them. */
const _DRIVER_FAULT = /Failed to initialize NVML|couldn't communicate with the NVIDIA driver|NVML Shared Library Not Found|Driver Not Loaded/i;

export class NvidiaSmiSource implements Source {
  readonly name = "nvidia-smi";
  readonly intervalMs: number;
  readonly command: string;
  readonly stallMs: number;
  readonly healthIntervalMs: number;
  readonly killWaitMs: number;
  private readonly _env: Env;
  private readonly _spawn: Spawn;
  private readonly _tracker: NvidiaSmiTracker;
  private readonly _backoff: Backoff;
  private readonly _exits: ExitCheck;
  private readonly _procfs: string | undefined;
  private _ctx: SourceContext | null = null;
  private _path: string | null = null;
  private _main: Child | null = null;
  private _mainStartedAt = 0;
  private _lastLineAt = 0;
  private _apps: Child | null = null;
  /** A --help-query-* or --query-remapped-rows run in flight. */
  private _once: Child | null = null;
  /** The looping query's fields; null until this driver's list was read. */
  private _gpuFields: string[] | null = null;
  private readonly _remap: RemapPoll;
  /** Told once that a lost GPU makes nvidia-smi exit after each sample. */
  private _lostSaid = false;
  /** Faults held until the first process snapshot is in (hold.ts). */
  private readonly _faults: FaultHold;
  /** The looping run killed for printing nothing; its exit is not news. */
  private _stalled: Child | null = null;
  private _restartTimer: ReturnType<typeof setTimeout> | undefined;
  private _pollTimer: ReturnType<typeof setTimeout> | undefined;
  private _stopping = false;
  private _up = false;
  /** What the last warning was about, so a failure that repeats is logged once. */
  private _downKey: string | null = null;
  /** The reason `status` was given with the last setUp(false), if any. */
  private _downReason: string | undefined;
  private readonly _appsQuery: AppsQuery;
  /**
   * Runs killed that did not die (asleep in the driver: a GPU fallen off the bus): no other
   * nvidia-smi starts until they are gone, and the collector shows down with why meanwhile.
   */
  private readonly _stuck: StuckRuns;

  constructor(opts: NvidiaSmiOptions = {}) {
    this.intervalMs = Math.max(1, Math.round(opts.intervalMs ?? 1000));
    this.command = opts.command ?? "nvidia-smi";
    this.stallMs = opts.stallMs ?? Math.max(10_000, 10 * this.intervalMs);
    this.healthIntervalMs = Math.max(this.intervalMs, opts.healthIntervalMs ?? 30_000);
    this.killWaitMs = opts.killWaitMs ?? 2000;
    this._spawn = opts.spawn ?? startChild;
    this._stuck = new StuckRuns(this.command, (m) => this._ctx?.log.info(m));
    this._env = opts.env ?? process.env;
    this._tracker = new NvidiaSmiTracker({ tempThreshold: opts.tempThreshold ?? 90 });
    this._backoff = new Backoff(opts.backoff);
    this._exits = new ExitCheck(opts.procfs);
    this._procfs = opts.procfs;
    this._faults = new FaultHold(this.stallMs);
    this._appsQuery = new AppsQuery({ warn: (m) => this._ctx!.log.warn(m), info: (m) => this._ctx!.log.info(m) });
    this._remap = new RemapPoll({
      command: this.command,
      intervalMs: this.intervalMs,
      healthIntervalMs: this.healthIntervalMs,
      warn: (m) => this._ctx!.log.warn(m),
      error: (m) => this._ctx!.log.error(m),
      once: () => this._onceOptions(),
      ready: () => (!this._up || this._tracker.gpuCount === 0 || this._faults.waiting ? null : this._path),
      known: () => this._gpuFields !== null,
      rows: (rows) => this._emit(this._tracker.remap(rows, Date.now())),
    });
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._stopping = false;
    this._launch();
    this._schedulePoll();
    this._remap.start();
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._restartTimer);
    clearTimeout(this._pollTimer);
    this._remap.stop();
    const children = [this._main, this._apps, this._once].filter((c): c is Child => c !== null);
    await Promise.all(children.map((c) => reap(c)));
    this._main = null;
    this._apps = null;
    this._once = null;
  }

  private _launch(): void {
    const path = which(this.command, this._env);
    if (path === null) {
      this._down("missing", `${this.command} not found on PATH`);
      this._scheduleRestart(0, false);
      return;
    }
    this._path = path;
    if (this._gpuFields === null) {
      void this._discover(path).then(() => {
        if (!this._stopping) this._run(path, this._gpuFields ?? [...GPU_QUERY]);
      });
      return;
    }
    this._run(path, this._gpuFields);
  }

  /** Reads which health fields this driver knows; kept once a list was read (see discover). */
  private async _discover(path: string): Promise<void> {
    const found = await discover(path, this._onceOptions());
    if (this._stopping || found === null) return;
    this._gpuFields = found.gpuFields;
    this._remap.ok = found.remapOk;
    const extra = found.gpuFields.slice(GPU_QUERY.length);
    const remap = found.remapOk ? `every ${this.healthIntervalMs} ms` : "not queried (no --query-remapped-rows)";
    this._ctx!.log.info(`${this.command} knows ${extra.length > 0 ? extra.join(", ") : "none of the health fields"}; row remapping ${remap}`);
  }

  /** How runOnce runs a short query: the child kept for stop(), one stuck held. */
  private _onceOptions() {
    return {
      env: this._env,
      timeoutMs: this.stallMs,
      killWaitMs: this.killWaitMs,
      spawn: this._spawn,
      onChild: (c: Child | null) => void (this._once = c),
      onStuck: (c: Child) => this._hold(c),
    };
  }

  private _run(path: string, fields: string[]): void {
    if (this._stuck.first !== undefined) {
      // The looping query starts once the stuck runs are gone.
      this._stuck.whenGone(() => !this._stopping && this._launch());
      return this._stuckDown();
    }
    const args = [`--query-gpu=${fields.join(",")}`, CSV_FORMAT, "-lms", String(this.intervalMs)];
    let child: Child;
    try {
      child = this._spawn(path, args, this._env);
    } catch (e) {
      this._down("spawn", `cannot run ${path}: ${(e as Error).message}`);
      this._scheduleRestart(0, false);
      return;
    }
    this._main = child;
    this._mainStartedAt = this._lastLineAt = Date.now();
    // The last line that was not a GPU line: nvidia-smi explains its failures on stdout.
    let said = "";
    let refused: string | undefined;
    let lost = false;
    const lines = lineSplitter((line) => {
      if (this._gpuLine(line, fields)) return;
      const l = parseLostLine(line);
      if (l !== null) {
        lost = true;
        this._lastLineAt = Date.now();
        if (!this._up) this._markUp();
        void this._lost(l, this._lastLineAt);
        return;
      }
      if (line.trim() === "") return;
      said = line;
      refused ??= refusedField(line);
    });
    child.proc.stdout?.on("data", (b: Uint8Array) => lines.push(b));
    const text = new TextDecoder();
    child.proc.stderr?.on("data", (b: Uint8Array) => {
      said = text.decode(b).trim().split("\n").pop() || said;
    });
    void child.closed.then(({ code, signal, error }) => {
      lines.end();
      if (this._main === child) this._main = null;
      if (this._stopping) return;
      // One that was stuck and went at last (this handler runs before StuckRuns lets it go):
      // started again as after any stall, nothing new to say.
      if (this._stuck.has(child)) return this._scheduleRestart(Date.now() - this._mainStartedAt);
      if (refused !== undefined && this._dropField(refused)) return;
      if (lost && this._stalled !== child && !error) return this._lostExit(code, signal);
      const why = error ? `cannot run ${path}: ${error.message}` : `${path} exited (${signal ?? `code ${code}`})`;
      const key = this._stalled === child ? "stall" : error ? "spawn" : `exit:${signal ?? code}`;
      const driver = !error && _DRIVER_FAULT.test(said) ? `${this.command}: ${said.trim().slice(0, 200)}` : undefined;
      this._down(key, said ? `${why}: ${said.slice(0, 200)}` : why, driver);
      this._scheduleRestart(Date.now() - this._mainStartedAt, !error);
    });
  }

  /** A health field this driver refused after all: ask again at once without it. */
  private _dropField(field: string): boolean {
    const fields = this._gpuFields;
    const at = fields === null ? -1 : fields.indexOf(field);
    if (fields === null || at < GPU_QUERY.length) return false;
    this._gpuFields = fields.filter((f) => f !== field);
    this._ctx!.log.warn(`${this.command} refused the field ${field}; asking without it`);
    this._launch();
    return true;
  }

  /**
   * nvidia-smi printed a GPU it has no handle for and exited (the others were read): the run
   * answered, so it is neither down nor a crash; it runs again each interval while that lasts.
   */
  private _lostExit(code: number | null, signal: string | null): void {
    const why = `${this.command} has no handle for a GPU (GPU_LOST) and exits after each sample (${signal ?? `code ${code}`})`;
    if (!this._lostSaid) this._ctx!.log.warn(`${why}; running it every ${this.intervalMs} ms while that lasts`);
    this._lostSaid = true;
    this._restartTimer = setTimeout(() => !this._stopping && this._launch(), this.intervalMs);
  }

  /** GPU_LOST for a GPU without a handle, named by the driver's GPU list when no index is known (gpu-name.ts). */
  private async _lost(l: LostGpu, at: number): Promise<void> {
    const driver = this._procfs !== undefined && this._tracker.needsDriverList(l) ? await driverGpus(this._procfs) : null;
    if (!this._stopping) this._emit(this._tracker.lost(l, at, driver));
  }

  /** Emits the events of one GPU line; false when the line is not one. */
  private _gpuLine(line: string, fields: readonly string[]): boolean {
    const sample = parseGpuLine(line, fields);
    if (sample === null) return false;
    this._lastLineAt = Date.now();
    if (!this._up) this._markUp();
    this._emit(this._tracker.gpu(sample, this._lastLineAt));
    for (const e of this._tracker.staleEcc.splice(0)) {
      this._ctx!.log.warn(`uncorrected ECC errors counted before this exporter started on ${e} (volatile, since the driver loaded or the GPU was reset): not reported as a fault of the processes on it now; a rise is`);
    }
    return true;
  }

  private _markUp(): void {
    // Lines of the looping query while another run is stuck are read, but the collector is not well.
    if (this._stuck.first !== undefined) return;
    const ctx = this._ctx!;
    this._up = true;
    ctx.setUp(true);
    if (this._downKey !== null) ctx.log.info(`${this.command} is answering again`);
    else ctx.log.info(`reading GPUs from ${this._path} every ${this.intervalMs} ms`);
    this._downKey = null;
    this._downReason = undefined;
  }

  private _down(key: string, message: string, driver?: string): void {
    const ctx = this._ctx!;
    // A tool that is not there, or would not start, or cannot reach the driver (not loaded, a
    // driver/library version mismatch after an upgrade) is down with the reason `status` shows.
    // A run stuck in the driver stays the reason, whatever else fails meanwhile.
    const reason =
      this._stuck.first !== undefined
        ? this._stuck.reason()
        : key === "missing"
          ? `cannot start: ${this.command}: not found on PATH`
          : key === "spawn"
            ? `cannot start: ${message.replace(/^cannot run /, "")}`
            : driver;
    if (this._up || this._downKey === null || reason !== this._downReason) ctx.setUp(false, reason);
    this._downReason = reason;
    this._up = false;
    if (key !== this._downKey) ctx.log.warn(`${message}; no GPU events until it works, retrying with backoff`);
    this._downKey = key;
  }

  /** A run that did not die when killed: held, and the collector down with why until it goes. */
  private _hold(child: Child): void {
    if (this._stopping) return;
    this._stuck.hold(child);
    this._stuckDown();
  }

  private _stuckDown(): void {
    const child = this._stuck.first;
    if (child === undefined) return;
    this._down("stuck", `${this.command} (pid ${child.proc.pid}) was killed and is still there ${this.killWaitMs} ms later, stuck in the driver (a GPU fallen off the bus?); no new run until it is gone`);
  }

  /**
   * Tries again after the backoff. `ran`: a process ran and exited, so the next launch is a
   * restart (xctl_probe_restarts_total); a tool that is not there, or would not start, is
   * retried without counting: it is down, not crash-looping.
   */
  private _scheduleRestart(ranMs: number, ran = true): void {
    if (this._stopping) return;
    const delay = this._backoff.delayAfter(ranMs);
    this._restartTimer = setTimeout(() => {
      if (this._stopping) return;
      if (ran) this._ctx!.restarted();
      this._launch();
    }, delay);
  }

  /** One compute-apps snapshot per interval, counted from the end of the last one. */
  private _schedulePoll(): void {
    if (this._stopping) return;
    this._pollTimer = setTimeout(() => {
      void this._poll()
        .catch((e) => this._ctx!.log.error(`compute process poll: ${(e as Error).message}`))
        .finally(() => this._schedulePoll());
    }, this.intervalMs);
  }

  private async _poll(): Promise<void> {
    if (this._stopping) return;
    if (this._main !== null && this._stalled !== this._main && Date.now() - this._lastLineAt > this.stallMs) {
      // A wedged driver can hang nvidia-smi for minutes; its exit then restarts it.
      this._down("stall", `${this.command} printed nothing for ${this.stallMs} ms, killing it`);
      const main = (this._stalled = this._main);
      void killChild(main, this.killWaitMs).then((gone) => gone || this._hold(main));
      return;
    }
    if (this._stuck.first !== undefined) return this._stuckDown();
    this._send(this._faults.release(Date.now(), false));
    if (!this._up || this._path === null || this._tracker.gpuCount === 0) return;
    const snap = await this._snapshot(this._path);
    if (snap === null || this._stopping) return;
    const now = Date.now();
    const events = await this._exits.check(this._tracker.apps(snap.rows, now, snap.lost), now);
    // A process kept on a GPU that cannot be asked ends when the host's /proc loses it.
    for (const pid of await this._exits.gone(this._tracker.kept)) events.push(...this._tracker.end(pid, now));
    if (this._stopping) return;
    this._emit(events);
    this._send(this._faults.release(Date.now(), true));
  }

  /** The compute processes (those of the GPUs nvidia-smi could ask), or null when the query failed (apps.ts). */
  private async _snapshot(path: string): Promise<AppsSnapshot | null> {
    const args = [`--query-compute-apps=${APPS_QUERY.join(",")}`, CSV_FORMAT];
    const r = await runOnce(path, args, { ...this._onceOptions(), onChild: (c) => void (this._apps = c) });
    return this._stopping || r.stuck ? null : this._appsQuery.read(r);
  }

  private _emit(events: SmiEvent[]): void {
    this._send(this._faults.pass(events, Date.now()));
  }

  private _send(events: SmiEvent[]): void {
    for (const e of events) this._ctx!.emit(e);
  }
}
