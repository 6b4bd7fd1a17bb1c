// `--probe CMD`: a supervised child whose stdout is NDJSON events. Run without a shell, in its
// own process group (so a probe script's children die with it), restarted with backoff. A
// program that cannot be started (missing, not executable: start-failure.ts) is retried with the
// same backoff but is no restart: it never ran, so it is down with the reason, not crash-looping.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { escapeControl } from "../escape.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { StderrLog, type StderrLogOptions } from "./stderr-log.ts";
import { isLauncherLine, launcherFailure, launchers, shebangInterpreter, spawnFailure } from "./start-failure.ts";
import type { Source, SourceContext } from "./source.ts";

export interface CommandProbeOptions {
  /** Label value; default the basename of argv[0]. */
  name?: string;
  /** Restart delays; default 1 s doubling to 30 s, reset after a minute of health. */
  backoff?: BackoffOptions;
  /** Default: the exporter's environment without XCTL_INGEST_TOKEN and XCTL_PASSWORD. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** SIGTERM, then SIGKILL after this long. */
  killGraceMs?: number;
  stderr?: StderrLogOptions;
}

interface Run {
  child: ChildProcess;
  startedAt: number;
  /** Settles once the child is reaped and its pipes are closed (or it never started). */
  done: Promise<void>;
  spawnError?: NodeJS.ErrnoException;
}

export class CommandProbe implements Source {
  readonly name: string;
  readonly argv: readonly string[];
  readonly killGraceMs: number;
  private readonly _opts: CommandProbeOptions;
  private readonly _backoff: Backoff;
  private _ctx: SourceContext | null = null;
  private _run: Run | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _stopping = false;
  private _attempts = 0;
  /** A run of the program exited since the last start: the next start is a restart. */
  private _exited = false;
  /** The cannot-start reason last logged, so one that repeats on every retry is logged once. */
  private _failure: string | null = null;
  /** How the last run ended (`exited with status 3`), and how often it repeated since at the longest delay. */
  private _lastExit: string | undefined;
  private _quietExits = 0;
  private _lastDelay = 0;
  /** What the last run wrote on stderr (its first COMPARED_LINES lines). */
  private _prevStderr: string[] = [];
  /** Stderr lines of launchers (setpriv, env, sh -c) held per run until the run is judged. */
  static readonly HELD_LINES = 4;
  /** A launcher reports a failed exec within milliseconds: a run through one that lasts this long is the program's. */
  static readonly JUDGE_MS = 1000;
  /** Stderr lines of a run kept to compare with the next run's, in a crash loop. */
  static readonly COMPARED_LINES = 64;

  constructor(argv: readonly string[], opts: CommandProbeOptions = {}) {
    if (argv.length === 0 || argv[0] === "") throw new Error("CommandProbe: empty argv");
    this.argv = argv;
    this.name = opts.name ?? argv[0].slice(argv[0].lastIndexOf("/") + 1);
    this.killGraceMs = opts.killGraceMs ?? 500;
    this._opts = opts;
    this._backoff = new Backoff(opts.backoff);
  }

  /** Starts tried, failed ones included (restarts count only starts after the program exited). */
  get attempts(): number {
    return this._attempts;
  }

  /** The running child's pid, if any (tests check it is reaped). */
  get pid(): number | undefined {
    return this._run?.child.pid;
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._stopping = false;
    this._launch();
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._timer);
    this._timer = undefined;
    const run = this._run;
    if (run !== null && run.child.pid !== undefined) {
      _signal(run.child, "SIGTERM");
      const kill = setTimeout(() => _signal(run.child, "SIGKILL"), this.killGraceMs);
      let cap: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([run.done, new Promise<void>((r) => (cap = setTimeout(r, 950)))]);
      clearTimeout(kill);
      clearTimeout(cap);
      // Reaped but a pipe is still held open (a child that left its group): stop reading.
      run.child.stdout?.destroy();
      run.child.stderr?.destroy();
    }
    this._ctx?.setUp(false);
  }

  private _launch(): void {
    const ctx = this._ctx;
    if (ctx === null || this._stopping) return;
    this._attempts++;
    const env = this._opts.env ?? process.env;
    const exe = _which(this.argv[0], env.PATH ?? process.env.PATH ?? "", this._opts.cwd);
    const spawnArgv = _withParentDeathSignal(this.argv, exe, env);
    const [cmd, ...args] = spawnArgv;
    // Who would report a failed exec as exit status 126/127 rather than as a spawn error.
    const names = launchers(this.argv, spawnArgv !== this.argv, exe);
    if (_setprivRefused !== undefined && !_setprivRefusalLogged) {
      _setprivRefusalLogged = true;
      ctx.log.warn(`setpriv cannot start probes here (${escapeControl(_setprivRefused)}): probes run without it, and outlive the exporter if it is killed by SIGKILL`);
    }
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // own process group: stop() signals the whole group
        env: (this._opts.env ?? _probeEnv()) as NodeJS.ProcessEnv,
        cwd: this._opts.cwd,
      });
    } catch (e) {
      this._afterRun(Date.now(), spawnFailure(this.argv[0], e as NodeJS.ErrnoException));
      return;
    }
    let settle!: () => void;
    const run: Run = { child, startedAt: Date.now(), done: new Promise<void>((r) => (settle = r)) };
    this._run = run;
    let finished = false;
    const finish = (code: number | null, signal: string | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(judge);
      stderr.end();
      ctx.end();
      if (this._run === run) this._run = null;
      settle();
      const cannot = run.spawnError !== undefined ? spawnFailure(this.argv[0], run.spawnError) : launcherFailure(this.argv[0], signal === null ? code : null, outBytes, held, names);
      if (cannot === null) {
        proven();
        this._exited = true;
      }
      this._afterRun(run.startedAt, cannot, signal ? `killed by ${signal}` : `exited with status ${code}`);
    };

    // A probe's stderr reaches terminals: its control characters (ESC sequences) are escaped.
    // A run started after a crash at the longest delay (a crash loop) says again what the last
    // run said, a traceback say: a line the same as the last run's at that place is logged at
    // debug; from the first that differs, the run's lines are logged as ever.
    const prev = this._lastDelay >= this._backoff.maxMs ? this._prevStderr : [];
    const said: string[] = [];
    this._prevStderr = said;
    let same = prev.length > 0;
    const logLine = (line: string) => {
      if (said.length < CommandProbe.COMPARED_LINES) said.push(line);
      same &&= said.length <= prev.length && prev[said.length - 1] === line;
      if (same) ctx.log.debug(`stderr: ${escapeControl(line)} (as the last run said)`);
      else ctx.log.warn(`stderr: ${escapeControl(line)}`);
    };
    // A launcher's "cannot execute" line is the reason of a failed start, said once with it,
    // not on every retry; it is logged as it is only once the run turns out to be the program's.
    const held: string[] = [];
    let outBytes = 0;
    let judged = names.length === 0;
    let judge: ReturnType<typeof setTimeout> | undefined;
    const proven = () => {
      if (judged) return;
      judged = true;
      clearTimeout(judge);
      for (const line of held.splice(0)) logLine(line);
      this._started(ctx, child.pid);
      if (!finished) ctx.setUp(true);
    };
    const stderr = new StderrLog((line) => {
      if (!judged && held.length < CommandProbe.HELD_LINES && isLauncherLine(line, names)) held.push(line);
      else logLine(line);
    }, this._opts.stderr);
    child.stderr!.on("data", (chunk: Uint8Array) => stderr.push(chunk));
    child.stderr!.on("error", () => {});
    const out = child.stdout!;
    let pending = 0;
    const resume = () => {
      if (--pending === 0 && !out.destroyed) out.resume();
    };
    out.on("data", (chunk: Uint8Array) => {
      if (outBytes === 0) proven();
      outBytes += chunk.length;
      const wait = ctx.push(chunk);
      if (wait === undefined) return;
      // The ingest queue is full: leave the rest in the pipe, so the probe blocks on write.
      if (pending++ === 0) out.pause();
      wait.then(resume, resume);
    });
    out.on("error", () => {});

    child.on("error", (e: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill() of a live child: nothing to do
      run.spawnError = e;
      finish(null, null); // not every runtime follows a failed spawn with "close"
    });
    child.on("exit", (code: number | null, signal: string | null) => {
      // Children the probe left behind would hold the pipe open and pile up with restarts.
      _signalGroup(child, "SIGTERM");
      setTimeout(() => finished || _signalGroup(child, "SIGKILL"), this.killGraceMs).unref?.();
      // The probe's exit is what counts, not the end of its pipes: a grandchild in its own
      // session (setsid) escapes the group signals and may hold stdout open for ever. Once the
      // group has had its grace, stop reading and restart whoever still holds the pipe.
      setTimeout(() => {
        if (finished) return;
        out.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, this.killGraceMs + 250).unref?.();
    });
    child.on("close", (code: number | null, signal: string | null) => finish(code, signal));

    if (child.pid !== undefined) {
      // A start after the program exited is a restart; one after failed starts only is not.
      if (this._exited) ctx.restarted();
      this._exited = false;
      // Through a launcher, the program is known to run once it writes, lasts, or exits on its own.
      if (judged) this._started(ctx, child.pid);
      else {
        judge = setTimeout(proven, CommandProbe.JUDGE_MS);
        (judge as { unref?: () => void }).unref?.();
      }
      // After failed starts the probe stays down with its reason until this run proves itself:
      // a retry through env or setpriv that fails again never shows as up for a moment.
      if (judged || this._failure === null) ctx.setUp(true);
    }
  }

  /** The program runs (after failed starts: said at info, the counterpart of the reason). */
  private _started(ctx: SourceContext, pid: number | undefined): void {
    if (this._failure !== null) ctx.log.info(`started (pid ${pid}): ${JSON.stringify(this.argv[0])} runs now`);
    else ctx.log.debug(`started (pid ${pid})`);
    this._failure = null;
  }

  /**
   * A run ended, or never began (`cannot`: why it could not start): mark down and schedule the
   * next start. A reason that repeats on every retry is logged once; a new one is logged.
   */
  private _afterRun(startedAt: number, cannot: string | null, exit?: string): void {
    const ctx = this._ctx!;
    ctx.setUp(false, cannot ?? undefined);
    if (cannot === null && exit !== undefined) ctx.exited?.(exit);
    if (this._stopping) return;
    const delay = this._backoff.delayAfter(Date.now() - startedAt);
    if (cannot !== null) {
      if (cannot !== this._failure) {
        this._failure = cannot;
        ctx.log.error(`${cannot}; probe down, retrying with backoff (not counted as a restart)`);
      }
      ctx.log.debug(`start failed; next try in ${_seconds(delay)}`);
      this._lastDelay = 0;
    } else if (delay >= this._backoff.maxMs && this._lastDelay >= this._backoff.maxMs && exit === this._lastExit) {
      // The same crash again at the longest delay: the crash loop that status, the source's
      // state and xctl_probe_restarts_total show. Said once, as a start that keeps failing is,
      // not twice a minute for as long as it lasts; a run that lasts resets the backoff.
      this._quietExits++;
      ctx.log.debug(`probe ${exit}; restarting in ${_seconds(delay)} (${this._quietExits} such exits at the longest delay)`);
    } else {
      if (this._quietExits > 0) ctx.log.info(`before this: ${this._quietExits} more runs ${this._lastExit} at the longest delay (logged at debug)`);
      this._quietExits = 0;
      this._lastExit = exit;
      ctx.log.warn(`probe ${exit}`);
      ctx.log.info(`restarting in ${_seconds(delay)}${delay >= this._backoff.maxMs ? " (the longest delay: the same exit again is logged at debug)" : ""}`);
      this._lastDelay = delay;
    }
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._launch();
    }, delay);
  }
}

/**
 * Where util-linux's `setpriv` is found, a probe runs under `setpriv --pdeathsig KILL`: the
 * kernel kills it when the exporter dies, even by SIGKILL (which no handler sees). Only for a
 * command that resolves to an executable file, so that a missing or non-executable probe still
 * fails to spawn with its own error (ENOENT, EACCES) rather than as setpriv's exit status.
 */
function _withParentDeathSignal(argv: readonly string[], exe: string | undefined, env: Record<string, string | undefined>): readonly string[] {
  if (process.platform !== "linux" || _setpriv === null) return argv;
  if (_setpriv === undefined) {
    _setpriv = _which("setpriv", env.PATH ?? process.env.PATH ?? "", undefined) ?? null;
    if (_setpriv !== null) {
      _setprivRefused = _setprivFails(_setpriv);
      if (_setprivRefused !== undefined) _setpriv = null;
    }
  }
  if (_setpriv === null) return argv;
  if (exe === undefined || !_interpreterFound(exe)) return argv;
  return [_setpriv, "--pdeathsig", "KILL", "--", ...argv];
}

/** A script's `#!` interpreter exists (or the file is no script). */
function _interpreterFound(file: string): boolean {
  const interpreter = shebangInterpreter(file);
  return interpreter === null || _which(interpreter, "", undefined) !== undefined;
}

/** The setpriv executable (undefined: not looked for yet; null: none, or it cannot run here). */
let _setpriv: string | null | undefined;
/** Why setpriv was found but cannot start a command here (logged once). */
let _setprivRefused: string | undefined;
let _setprivRefusalLogged = false;

/**
 * Why setpriv cannot start a command in this process's sandbox, or undefined when it can. It
 * re-applies its capabilities first, and a system call filter that refuses capset(2) (systemd's
 * `SystemCallFilter=~@privileged`, a common hardening) makes it exit 127 before the probe runs:
 * every probe would crash-loop. Checked once, on setpriv itself (a few milliseconds).
 */
function _setprivFails(setpriv: string): string | undefined {
  const r = spawnSync(setpriv, ["--pdeathsig", "KILL", "--", setpriv, "--version"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 5000 });
  if (r.status === 0) return undefined;
  return r.stderr?.trim().split("\n")[0] || r.error?.message || `exit status ${r.status}`;
}

function _which(cmd: string, path: string, cwd: string | undefined): string | undefined {
  const candidates = cmd.includes("/") ? [isAbsolute(cmd) ? cmd : resolve(cwd ?? ".", cmd)] : path.split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) {
        accessSync(c, constants.X_OK);
        return c;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The exporter's environment less its secrets: a probe has no business with the ingest token or the clients' password. */
function _probeEnv(): Record<string, string | undefined> {
  const env = { ...process.env };
  delete env.XCTL_INGEST_TOKEN;
  delete env.XCTL_PASSWORD;
  return env;
}

function _signal(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return _signalGroup(child, signal);
  try {
    process.kill(-child.pid!, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // gone already
    }
  }
}

/** The probe's process group, which outlives the probe while its children run. */
function _signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is empty
  }
}

function _seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
