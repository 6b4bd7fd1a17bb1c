// Child-process helpers the tool sources share (builtin:nvidia-smi, builtin:npu-smi) and the
// collector plan asks: PATH lookup, text lines from a pipe, and a kill that is sure to reap.
// node: modules only, so Bun, Deno and Node all run it.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

export type Env = Record<string, string | undefined>;

/** The executable `cmd` would run as, or null: a path is checked as is, a bare name on PATH. */
export function which(cmd: string, env: Env): string | null {
  if (cmd.includes("/")) return _executable(cmd) ? (isAbsolute(cmd) ? cmd : resolve(cmd)) : null;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue; // an empty entry means the cwd: never trust that for a system tool
    const p = join(dir, cmd);
    if (_executable(p)) return p;
  }
  return null;
}

function _executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** How a child ended. */
export interface Ended {
  code: number | null;
  signal: string | null;
  error?: Error;
}

export interface Child {
  proc: ChildProcess;
  /** Settles once the process has exited and its pipes are closed (or it never started). */
  closed: Promise<Ended>;
}

/** Starts a child: `startChild`, or one a test makes (a child that never dies, say). */
export type Spawn = (path: string, args: string[], env: Env) => Child;

/** Spawns with stdout and stderr piped; a failed spawn settles `closed` with the error. */
export function startChild(path: string, args: string[], env: Env): Child {
  const proc = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"], env: env as NodeJS.ProcessEnv });
  const closed = new Promise<{ code: number | null; signal: string | null; error?: Error }>((done) => {
    proc.once("close", (code, signal) => done({ code, signal }));
    // A spawn failure may come without a close on some runtimes.
    proc.once("error", (error) => {
      if (proc.pid === undefined) done({ code: null, signal: null, error });
    });
  });
  return { proc, closed };
}

/** SIGTERM, SIGKILL after `graceMs`; resolves when reaped, or after `capMs` whatever happens. */
export async function reap(child: Child, graceMs = 500, capMs = 950): Promise<void> {
  const { proc } = child;
  if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) _kill(proc, "SIGTERM");
  let kill: ReturnType<typeof setTimeout> | undefined;
  let cap: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    child.closed,
    new Promise<void>((done) => {
      kill = setTimeout(() => _kill(proc, "SIGKILL"), graceMs);
      cap = setTimeout(done, capMs);
    }),
  ]);
  clearTimeout(kill);
  clearTimeout(cap);
  // Past the cap something else holds the pipes (a grandchild): stop reading them.
  proc.stdout?.destroy();
  proc.stderr?.destroy();
}

/**
 * Kills a child (SIGTERM, then SIGKILL at once); true once it is gone, false when it is still
 * there `killWaitMs` later. A process asleep in the driver (a GPU or NPU fallen off the bus, state
 * D) does not die of SIGKILL until the driver lets it go, which may be never: nothing may wait on
 * its end unbounded. Its `closed` still settles if it does go.
 */
export async function killChild(child: Child, killWaitMs: number): Promise<boolean> {
  void reap(child, 0);
  let wait: ReturnType<typeof setTimeout> | undefined;
  const gone = await Promise.race([child.closed.then(() => true), new Promise<boolean>((done) => (wait = setTimeout(() => done(false), killWaitMs)))]);
  clearTimeout(wait);
  return gone;
}

/**
 * Waits for a child to end, killing it once it has run `timeoutMs`. `ended` is null when it
 * outlived the kill by `killWaitMs` (see killChild); `timedOut` when it was killed.
 */
export async function waitChild(child: Child, timeoutMs: number, killWaitMs: number): Promise<{ ended: Ended | null; timedOut: boolean }> {
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    child.closed,
    new Promise<null>((done) => {
      timer = setTimeout(() => {
        timedOut = true;
        void killChild(child, killWaitMs).then((gone) => gone || done(null));
      }, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  return { ended, timedOut };
}

/** One bounded run of a tool (`runTool`): what it printed and how it ended. */
export interface ToolRun {
  /** The child; null when it could not be started (`spawnError` says why). */
  child: Child | null;
  spawnError?: string;
  /** Its stdout, kept until it reached `maxOut` characters (empty when `onOut` took it), and the start of its stderr. */
  out: string;
  err: string;
  /** How it ended; null when it was killed and is still there `killWaitMs` later (stuck in the driver). */
  ended: Ended | null;
  /** It was killed at `timeoutMs`. */
  timedOut: boolean;
}

export interface ToolRunOptions {
  timeoutMs: number;
  killWaitMs: number;
  /** Characters of stdout kept (default 1 MiB). */
  maxOut?: number;
  /** Takes stdout chunk by chunk instead (a caller that splits lines as they come). */
  onOut?: (chunk: Uint8Array) => void;
  /** The child once started, to reap it on stop. */
  onStart?: (child: Child) => void;
}

/** Characters of stderr `runTool` keeps: enough for the tool's last words. */
const _MAX_ERR = 4096;

/**
 * Runs a tool to its end or `timeoutMs` (then kills it, and gives up on it `killWaitMs` after
 * the kill: see killChild): the short queries of nvidia-smi and npu-smi. Never throws.
 */
export async function runTool(start: Spawn, path: string, args: string[], env: Env, o: ToolRunOptions): Promise<ToolRun> {
  let child: Child;
  try {
    child = start(path, args, env);
  } catch (e) {
    return { child: null, spawnError: (e as Error).message, out: "", err: "", ended: { code: null, signal: null, error: e as Error }, timedOut: false };
  }
  o.onStart?.(child);
  const maxOut = o.maxOut ?? 1 << 20;
  const outText = new TextDecoder();
  const errText = new TextDecoder();
  let out = "";
  let err = "";
  child.proc.stdout?.on(
    "data",
    o.onOut ??
      ((b: Uint8Array) => {
        if (out.length < maxOut) out += outText.decode(b, { stream: true });
      }),
  );
  child.proc.stderr?.on("data", (b: Uint8Array) => {
    if (err.length < _MAX_ERR) err += errText.decode(b, { stream: true });
  });
  const { ended, timedOut } = await waitChild(child, o.timeoutMs, o.killWaitMs);
  if (o.onOut === undefined && out.length < maxOut) out += outText.decode();
  return { child, out, err, ended, timedOut };
}

/**
 * The runs of one tool that did not die when killed. While one is held the tool is not run
 * again (each run would stick the same way on the same device): one stuck process, never one
 * per interval. Once the last has ended, `info` is told so and what waited on it runs.
 */
export class StuckRuns {
  private readonly _held = new Set<Child>();
  private _then: (() => void) | null = null;

  constructor(
    private readonly _command: string,
    private readonly _info: (message: string) => void,
  ) {}

  /** The first run still stuck, if any. */
  get first(): Child | undefined {
    return this._held.values().next().value;
  }

  has(child: Child): boolean {
    return this._held.has(child);
  }

  hold(child: Child): void {
    this._held.add(child);
    void child.closed.then(() => {
      if (!this._held.delete(child) || this._held.size > 0) return;
      this._info(`${this._command} (pid ${child.proc.pid}) that was stuck in the driver has ended`);
      const then = this._then;
      this._then = null;
      then?.();
    });
  }

  /** Runs `fn` once the last stuck run has ended (one waits: a later call replaces it). */
  whenGone(fn: () => void): void {
    this._then = fn;
  }

  /** `nvidia-smi pid N stuck in the driver: killed, not gone`, the reason `status` shows. */
  reason(): string {
    return `${this._command} pid ${this.first?.proc.pid} stuck in the driver: killed, not gone`;
  }
}

function _kill(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    proc.kill(signal);
  } catch {
    // already gone
  }
}

/**
 * Text lines from a byte stream, CR stripped. A line longer than `maxChars` is cut there, so
 * output without newlines cannot grow memory.
 */
export function lineSplitter(onLine: (line: string) => void, maxChars = 64 * 1024): {
  push(chunk: Uint8Array): void;
  end(): void;
} {
  const decoder = new TextDecoder();
  let held = "";
  const emit = (line: string) => {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text.trim() !== "") onLine(text);
  };
  return {
    push(chunk) {
      held += decoder.decode(chunk, { stream: true });
      let from = 0;
      for (let nl = held.indexOf("\n"); nl !== -1; nl = held.indexOf("\n", from)) {
        emit(held.slice(from, nl));
        from = nl + 1;
      }
      held = held.slice(from);
      if (held.length > maxChars) {
        emit(held.slice(0, maxChars));
        held = "";
      }
    },
    end() {
      held += decoder.decode();
      if (held) emit(held);
      held = "";
    },
  };
}
