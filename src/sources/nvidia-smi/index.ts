// builtin:nvidia-smi: GPU events from nvidia-smi's CSV query mode, no probe to write.
//
// nvidia-smi takes one --query-* switch per run, so two queries mean two processes:
// - `--query-gpu=... -lms N` runs for good and prints one line per GPU every N ms; each line
//   stands alone, so it is turned into events as it arrives.
// - `--query-compute-apps=...` runs once per interval instead of looping, because a looping run
//   prints nothing at all while no process is on any GPU: its blocks cannot be told apart, so
//   "the last process has gone" would be invisible. A one-shot run's exit ends the snapshot.
import { Backoff, type BackoffOptions } from "../backoff.ts";
import { lineSplitter, reap, startChild, which, type Child, type Env } from "../child.ts";
import { ExitCheck } from "../exit-check.ts";
import { APPS_QUERY, CSV_FORMAT, GPU_QUERY, parseAppLine, parseGpuLine, type AppSample } from "./csv.ts";
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
  /** The host's /proc, to check that a pid no longer listed has exited (exit-check.ts). */
  procfs?: string;
}

export class NvidiaSmiSource implements Source {
  readonly name = "nvidia-smi";
  readonly intervalMs: number;
  readonly command: string;
  readonly stallMs: number;
  private readonly _env: Env;
  private readonly _tracker: NvidiaSmiTracker;
  private readonly _backoff: Backoff;
  private readonly _exits: ExitCheck;
  private _ctx: SourceContext | null = null;
  private _path: string | null = null;
  private _main: Child | null = null;
  private _mainStartedAt = 0;
  private _lastLineAt = 0;
  private _apps: Child | null = null;
  /** The looping run killed for printing nothing; its exit is not news. */
  private _stalled: Child | null = null;
  private _restartTimer: ReturnType<typeof setTimeout> | undefined;
  private _pollTimer: ReturnType<typeof setTimeout> | undefined;
  private _stopping = false;
  private _up = false;
  /** What the last warning was about, so a failure that repeats is logged once. */
  private _downKey: string | null = null;
  private _appsFailKey: string | null = null;

  constructor(opts: NvidiaSmiOptions = {}) {
    this.intervalMs = Math.max(1, Math.round(opts.intervalMs ?? 1000));
    this.command = opts.command ?? "nvidia-smi";
    this.stallMs = opts.stallMs ?? Math.max(10_000, 10 * this.intervalMs);
    this._env = opts.env ?? process.env;
    this._tracker = new NvidiaSmiTracker({ tempThreshold: opts.tempThreshold ?? 90 });
    this._backoff = new Backoff(opts.backoff);
    this._exits = new ExitCheck(opts.procfs);
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._stopping = false;
    this._launch();
    this._schedulePoll();
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._restartTimer);
    clearTimeout(this._pollTimer);
    const children = [this._main, this._apps].filter((c): c is Child => c !== null);
    await Promise.all(children.map((c) => reap(c)));
    this._main = null;
    this._apps = null;
  }

  private _launch(): void {
    const path = which(this.command, this._env);
    if (path === null) {
      this._down("missing", `${this.command} not found on PATH`);
      this._scheduleRestart(0, false);
      return;
    }
    this._path = path;
    const args = [`--query-gpu=${GPU_QUERY.join(",")}`, CSV_FORMAT, "-lms", String(this.intervalMs)];
    let child: Child;
    try {
      child = startChild(path, args, this._env);
    } catch (e) {
      this._down("spawn", `cannot run ${path}: ${(e as Error).message}`);
      this._scheduleRestart(0, false);
      return;
    }
    this._main = child;
    this._mainStartedAt = this._lastLineAt = Date.now();
    // The last line that was not a GPU line: nvidia-smi explains its failures on stdout.
    let said = "";
    const lines = lineSplitter((line) => {
      if (!this._gpuLine(line)) said = line;
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
      const why = error ? `cannot run ${path}: ${error.message}` : `${path} exited (${signal ?? `code ${code}`})`;
      const key = this._stalled === child ? "stall" : error ? "spawn" : `exit:${signal ?? code}`;
      this._down(key, said ? `${why}: ${said.slice(0, 200)}` : why);
      this._scheduleRestart(Date.now() - this._mainStartedAt, !error);
    });
  }

  /** Emits the events of one GPU line; false when the line is not one. */
  private _gpuLine(line: string): boolean {
    const sample = parseGpuLine(line);
    if (sample === null) return false;
    this._lastLineAt = Date.now();
    if (!this._up) this._markUp();
    this._emit(this._tracker.gpu(sample, this._lastLineAt));
    return true;
  }

  private _markUp(): void {
    const ctx = this._ctx!;
    this._up = true;
    ctx.setUp(true);
    if (this._downKey !== null) ctx.log.info(`${this.command} is answering again`);
    else ctx.log.info(`reading GPUs from ${this._path} every ${this.intervalMs} ms`);
    this._downKey = null;
  }

  private _down(key: string, message: string): void {
    const ctx = this._ctx!;
    // A tool that is not there, or would not start, is down with the reason `status` shows.
    const cannot = key === "missing" ? `cannot start: ${this.command}: not found on PATH` : key === "spawn" ? `cannot start: ${message.replace(/^cannot run /, "")}` : undefined;
    if (this._up || this._downKey === null || (key !== this._downKey && (cannot !== undefined || this._downKey === "missing" || this._downKey === "spawn"))) ctx.setUp(false, cannot);
    this._up = false;
    if (key !== this._downKey) ctx.log.warn(`${message}; no GPU events until it works, retrying with backoff`);
    this._downKey = key;
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
      this._stalled = this._main;
      void reap(this._main, 0);
      return;
    }
    if (!this._up || this._path === null || this._tracker.gpuCount === 0) return;
    const rows = await this._snapshot(this._path);
    if (rows === null || this._stopping) return;
    const now = Date.now();
    const events = await this._exits.check(this._tracker.apps(rows, now), now);
    if (!this._stopping) this._emit(events);
  }

  /** All compute processes, or null when the query failed (then nothing is concluded). */
  private async _snapshot(path: string): Promise<AppSample[] | null> {
    const ctx = this._ctx!;
    let child: Child;
    try {
      child = startChild(path, [`--query-compute-apps=${APPS_QUERY.join(",")}`, CSV_FORMAT], this._env);
    } catch (e) {
      this._appsFailed("spawn", (e as Error).message);
      return null;
    }
    this._apps = child;
    const rows: AppSample[] = [];
    let bad = "";
    const lines = lineSplitter((line) => {
      const row = parseAppLine(line);
      if (row) rows.push(row);
      else bad = line;
    });
    child.proc.stdout?.on("data", (b: Uint8Array) => lines.push(b));
    child.proc.stderr?.resume();
    const hung = setTimeout(() => void reap(child, 0), this.stallMs);
    const { code, signal, error } = await child.closed;
    clearTimeout(hung);
    lines.end();
    if (this._apps === child) this._apps = null;
    if (this._stopping) return null;
    if (error || code !== 0 || bad) {
      const why = error ? error.message : code !== 0 ? `exit ${signal ?? code}` : "unexpected output";
      this._appsFailed(why, bad.slice(0, 200));
      return null;
    }
    if (this._appsFailKey !== null) ctx.log.info("compute process query works again");
    this._appsFailKey = null;
    return rows;
  }

  private _appsFailed(key: string, said: string): void {
    if (key !== this._appsFailKey) {
      this._ctx!.log.warn(`compute process query failed (${key})${said ? `: ${said}` : ""}; process events paused`);
    }
    this._appsFailKey = key;
  }

  private _emit(events: SmiEvent[]): void {
    const ctx = this._ctx!;
    for (const e of events) ctx.emit(e);
  }
}
