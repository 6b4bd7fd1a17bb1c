// builtin:npu-smi: Ascend NPU events from `npu-smi`, as builtin:nvidia-smi does for NVIDIA.
//
// npu-smi has no loop mode, so each interval runs it once per question, one run at a time:
// - `npu-smi info`: per chip util, HBM, temperature and the card's health; the processes per NPU.
// - `npu-smi info -t health -i N -c C` for the chips of a card whose health is not OK: the
//   error codes and what they mean.
// - every `detail` seconds, `-t ecc -i N` per card and `-t hccs -i N -c C` per chip: uncorrectable
//   ECC counts and HCCS link state. Slower, because a host with 16 chips would otherwise run 33
//   commands per interval against a driver that answers each in tens of milliseconds.
import { Backoff, type BackoffOptions } from "../backoff.ts";
import { reap, runTool, startChild, StuckRuns, which, type Child, type Env, type Spawn } from "../child.ts";
import { ExitCheck } from "../exit-check.ts";
import type { Source, SourceContext } from "../source.ts";
import { parseEcc, parseHccs, parseHealth, parseInfo } from "./parse.ts";
import { NpuSmiTracker, type NpuEvent } from "./tracker.ts";

export interface NpuSmiOptions {
  /** Period of `npu-smi info`. Default 5 s. */
  intervalMs?: number;
  /** Period of the ECC and HCCS queries, rounded to whole intervals. Default 60 s. */
  detailMs?: number;
  /** Name looked up on PATH, or a path. */
  command?: string;
  /** error.hw TEMP_HIGH above this many degrees C. Default 90. */
  tempThreshold?: number;
  env?: Env;
  /** Retry delays after a failed `npu-smi info`; default 1 s doubling to 30 s. */
  backoff?: BackoffOptions;
  /** A run that has not finished after this long is killed. Default 10 s. */
  timeoutMs?: number;
  /** The host's /proc, to check that a pid no longer listed has exited (exit-check.ts). */
  procfs?: string;
  /** A run killed at its timeout and still not gone this much later is stuck in the driver. Default 2 s. */
  killWaitMs?: number;
  /** Starts a run; tests give one whose child never dies, as a chip wedged in the driver makes it. */
  spawn?: Spawn;
}

interface RunResult {
  ok: boolean;
  out: string;
  /** Why it failed, for the log. */
  why: string;
  /** The last line it printed (stderr first), at most 200 characters. */
  said: string;
  timedOut?: boolean;
}

const MAX_OUTPUT = 1 << 20;
/**
 * The driver refusing npu-smi (`dcmi module initialize failed. ret is -8005`; `dcmi model
 * initialized failed, because the device is used. ret is -8020`): no NPU this npu-smi may open,
 * as in a container whose device another holds, or without the device nodes' permission.
 */
const DCMI_REFUSED = /^.*dcmi mod\w* initiali[sz]ed? failed.*$/im;
/** The header of the process table, the last part of `npu-smi info`. */
const PROCESS_TABLE = /^\s*\|.*\|\s*Process id\s*\|/im;

export class NpuSmiSource implements Source {
  readonly name = "npu-smi";
  readonly intervalMs: number;
  readonly detailEvery: number;
  readonly command: string;
  readonly timeoutMs: number;
  readonly killWaitMs: number;
  private readonly _env: Env;
  private readonly _spawn: Spawn;
  private readonly _tracker: NpuSmiTracker;
  private readonly _backoffOptions: BackoffOptions | undefined;
  private _backoff: Backoff;
  private readonly _exits: ExitCheck;
  private _ctx: SourceContext | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _running: Child | null = null;
  private _stopping = false;
  private _up = false;
  private _cycle = 0;
  private _downKey: string | null = null;
  /** Queries this npu-smi refuses (`... does not support ...`): not asked again. */
  private readonly _unsupported = new Set<string>();
  private readonly _queryFailKeys = new Map<string, string>();
  /** Why the last `info` run failed though it printed chips; null after a clean one. */
  private _partialKey: string | null = null;
  /** Chips named only by the process table, logged once each (at most 64). */
  private readonly _strays = new Set<string>();
  /** Queries that timed out (their arguments) and the round up to which they are not asked. */
  private readonly _resting = new Map<string, number>();
  /** A query of this round timed out: the rest of the round is skipped. */
  private _hung = false;
  /**
   * A run killed at its timeout that did not die (uninterruptible in the driver): no other run
   * starts until it is gone, so a wedged chip costs one stuck process, not one per interval.
   */
  private readonly _stuck: StuckRuns;

  constructor(opts: NpuSmiOptions = {}) {
    this.intervalMs = Math.max(1, Math.round(opts.intervalMs ?? 5000));
    this.detailEvery = Math.max(1, Math.round((opts.detailMs ?? 60_000) / this.intervalMs));
    this.command = opts.command ?? "npu-smi";
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.killWaitMs = opts.killWaitMs ?? 2000;
    this._spawn = opts.spawn ?? startChild;
    this._stuck = new StuckRuns(this.command, (m) => this._ctx?.log.info(m));
    this._env = opts.env ?? process.env;
    this._tracker = new NpuSmiTracker({ tempThreshold: opts.tempThreshold ?? 90 });
    this._backoffOptions = opts.backoff;
    this._backoff = new Backoff(opts.backoff);
    this._exits = new ExitCheck(opts.procfs);
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._stopping = false;
    this._schedule(0);
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._timer);
    if (this._running) await reap(this._running);
    this._running = null;
  }

  private _schedule(delayMs: number): void {
    if (this._stopping) return;
    this._timer = setTimeout(() => {
      void this._poll()
        .catch((e) => this._ctx!.log.error(`npu-smi poll: ${(e as Error).message}`))
        .then((next) => this._schedule(next ?? this.intervalMs));
    }, delayMs);
  }

  /** One interval's questions; resolves with the delay to the next. */
  private async _poll(): Promise<number> {
    if (this._stuck.first !== undefined) {
      return this._down("stuck", `${this.command} (pid ${this._stuck.first.proc.pid}) was killed at its ${this.timeoutMs} ms timeout and is still there, stuck in the driver (a wedged chip?); no new run until it is gone`);
    }
    // A retry after a run that failed is a restart; npu-smi missing from PATH ran nothing, and one
    // the driver refuses (dcmi) is waited on, not crashing.
    if (this._downKey !== null && this._downKey !== "missing" && this._downKey !== "dcmi") this._ctx!.restarted();
    const path = which(this.command, this._env);
    if (path === null) return this._down("missing", `${this.command} not found on PATH`);
    const info = await this._run(path, ["info"]);
    if (this._stopping) return this.intervalMs;
    // A run that failed yet printed the table (a chip the driver could not read) still tells
    // about the others: its chips are used, and one it left out is said lost by the tracker.
    // Only a whole table, down to its process part, and never one cut by the timeout's kill:
    // the chips and processes missing from half a table have not gone.
    const whole = info.ok || (!info.timedOut && PROCESS_TABLE.test(info.out));
    const table = whole ? parseInfo(info.out) : { chips: [], processes: [] };
    if (table.chips.length === 0) {
      const dcmi = DCMI_REFUSED.exec(info.out)?.[0].trim();
      if (dcmi !== undefined) return this._down("dcmi", `${path} info: ${dcmi} (npu-smi cannot reach the NPU driver)`, `${this.command} cannot reach the NPU driver: ${dcmi}`);
      return this._down(info.ok ? "empty" : `fail:${info.why.split(":")[0]}`, `${path} info ${_noTable(info)}`);
    }
    if (!this._up) this._markUp(path);
    this._partial(info);
    const now = Date.now();
    const events = this._tracker.info(table, now);
    for (const e of this._tracker.lostNow) this._ctx!.log.warn(`${path} info no longer lists ${e}: said as NPU_LOST on it until it is listed again`);
    for (const e of this._tracker.backNow) this._ctx!.log.info(`${path} info lists ${e} again`);
    for (const c of this._tracker.strayNow) {
      if (this._strays.has(c) || this._strays.size >= 64) continue;
      this._strays.add(c);
      this._ctx!.log.warn(`${path} info lists a process on ${c}, a chip its table does not list: that process is not tied to any NPU`);
    }
    this._emit(await this._exits.check(events, now));
    if (this._stopping) return this.intervalMs;
    this._hung = false;

    for (const c of table.chips) {
      if (!this._tracker.unhealthy(c)) {
        this._tracker.healthy(c.npu, c.chip);
        continue;
      }
      const out = await this._query(path, "health", ["info", "-t", "health", "-i", String(c.npu), "-c", String(c.chip)]);
      if (this._stopping || this._hung) return this.intervalMs;
      this._emit(this._tracker.health(c.npu, c.chip, c.health!, out === null ? null : parseHealth(out), Date.now()));
    }

    if (this._cycle++ % this.detailEvery === 0) {
      for (const npu of new Set(table.chips.map((c) => c.npu))) {
        const out = await this._query(path, "ecc", ["info", "-t", "ecc", "-i", String(npu)]);
        if (this._stopping || this._hung) return this.intervalMs;
        if (out === null) continue;
        for (const [chip, ecc] of parseEcc(out)) this._emit(this._tracker.ecc(npu, chip, ecc, Date.now()));
        for (const e of this._tracker.staleEcc.splice(0)) {
          this._ctx!.log.warn(`uncorrectable ECC errors counted before this exporter started on ${e}: not reported as a fault of the processes on it now; a rise is`);
        }
      }
      for (const c of table.chips) {
        const out = await this._query(path, "hccs", ["info", "-t", "hccs", "-i", String(c.npu), "-c", String(c.chip)]);
        if (this._stopping || this._hung) return this.intervalMs;
        const hccs = out === null ? null : parseHccs(out);
        if (hccs !== null) this._emit(this._tracker.hccs(c.npu, c.chip, hccs, Date.now()));
      }
    }
    return this.intervalMs;
  }

  /** `npu-smi info` failed but printed chips: said once per reason, until a run succeeds. */
  private _partial(info: RunResult): void {
    if (info.ok) {
      if (this._partialKey !== null) this._ctx!.log.info(`${this.command} info exits cleanly again`);
      this._partialKey = null;
      return;
    }
    if (info.why !== this._partialKey) this._ctx!.log.warn(`${this.command} info ${info.why}; using the chips it listed`);
    this._partialKey = info.why;
  }

  /**
   * A detail query's output, or null (logged once per kind and reason; unsupported ones stop).
   * One that timed out ends the round (`_hung`): the driver is not answering, and each further
   * query would hold the next `info` back by the whole timeout. It then rests for `detail`
   * rounds, so one chip whose query hangs each time does not starve the others' queries.
   */
  private async _query(path: string, kind: string, args: string[]): Promise<string | null> {
    if (this._unsupported.has(kind)) return null;
    const asked = args.join(" ");
    if ((this._resting.get(asked) ?? -1) >= this._cycle) return null;
    const r = await this._run(path, args);
    this._resting.delete(asked);
    if (r.timedOut) {
      // Rests for the next `detail` rounds, so the other queries get their turn meanwhile.
      this._hung = true;
      this._resting.set(asked, this._cycle + this.detailEvery);
    }
    // Some releases say it and exit 0: the words decide (an answer has `Key : value` lines, this none).
    if (/not support/i.test(r.why) || (r.ok && !r.out.includes(":") && /not support/i.test(r.said))) {
      this._unsupported.add(kind);
      this._ctx!.log.info(`npu-smi does not support the ${kind} query on this host (${r.why || r.said}); not asking again`);
      return null;
    }
    if (r.ok) {
      if (this._queryFailKeys.delete(kind)) this._ctx!.log.info(`npu-smi ${kind} query works again`);
      return r.out;
    }
    if (this._queryFailKeys.get(kind) !== r.why) {
      const rest = r.timedOut ? "; the other queries of this round skipped" : "";
      this._ctx!.log.warn(`npu-smi ${kind} query failed: ${r.why}; its events paused${rest}`);
    }
    this._queryFailKeys.set(kind, r.why);
    return null;
  }

  /** Runs npu-smi to its end (or the timeout), keeping at most 1 MiB of its output. */
  private async _run(path: string, args: string[]): Promise<RunResult> {
    const run = await runTool(this._spawn, path, args, this._env, {
      timeoutMs: this.timeoutMs,
      killWaitMs: this.killWaitMs,
      maxOut: MAX_OUTPUT,
      onStart: (child) => (this._running = child),
    });
    if (run.child === null) return { ok: false, out: "", said: "", why: `cannot run: ${run.spawnError}` };
    if (this._running === run.child) this._running = null;
    if (run.ended === null) {
      this._stuck.hold(run.child);
      return { ok: false, out: "", said: "", timedOut: true, why: `timed out after ${this.timeoutMs} ms and did not die when killed (stuck in the driver)` };
    }
    const { code, signal, error } = run.ended;
    const { out, timedOut } = run;
    const said = (run.err.trim() || out.trim()).split("\n").pop()?.trim().slice(0, 200) ?? "";
    if (error) return { ok: false, out, said, why: `cannot run: ${error.message}` };
    if (timedOut) return { ok: false, out, said, why: `timed out after ${this.timeoutMs} ms`, timedOut };
    if (code !== 0) return { ok: false, out, said, why: `exited (${signal ?? `code ${code}`})${said ? `: ${said}` : ""}` };
    return { ok: true, out, said, why: "" };
  }

  private _markUp(path: string): void {
    const ctx = this._ctx!;
    this._up = true;
    this._backoff = new Backoff(this._backoffOptions);
    ctx.setUp(true);
    if (this._downKey !== null) ctx.log.info(`${this.command} is answering again`);
    else ctx.log.info(`reading NPUs from ${path} every ${this.intervalMs} ms`);
    this._downKey = null;
  }

  /** Shows down, says so once per reason, and returns the backoff delay to the next try. */
  private _down(key: string, message: string, refused?: string): number {
    const ctx = this._ctx!;
    // npu-smi not on PATH, stuck in the driver or refused by it is down with the reason `status` shows.
    const cannot =
      key === "missing"
        ? `cannot start: ${this.command}: not found on PATH`
        : key === "stuck"
          ? this._stuck.reason()
          : refused;
    const reasoned = (k: string | null) => k === "missing" || k === "stuck" || k === "dcmi";
    if (this._up || this._downKey === null || (key !== this._downKey && (reasoned(key) || reasoned(this._downKey)))) ctx.setUp(false, cannot);
    this._up = false;
    if (key !== this._downKey) ctx.log.warn(`${message}; no NPU events until it works, retrying with backoff`);
    this._downKey = key;
    const delay = this._backoff.delayAfter(0);
    return delay;
  }

  private _emit(events: NpuEvent[]): void {
    const ctx = this._ctx!;
    for (const e of events) ctx.emit(e);
  }
}

/** Why an `info` run gave no chip, for the log: what npu-smi said, or that its table was not read. */
function _noTable(info: RunResult): string {
  if (!info.ok) {
    return info.timedOut && !/stuck/.test(info.why) ? `${info.why} (a wedged chip, or an npu-smi slower than that: builtin:npu-smi?timeout=S)` : info.why;
  }
  const version = /npu-smi\s+(\S+)/.exec(info.out)?.[1];
  if (/^\s*\|/m.test(info.out)) return `printed a table with no chip row this collector reads${version ? ` (npu-smi ${version})` : ""}`;
  return `listed no NPU${info.said ? `: ${info.said}` : ""}`;
}
