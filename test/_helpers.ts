// Shared test helpers: start the real exporter as a subprocess (same runtime as the test, or
// the compiled binary when XCTL_BINARY is set), wait for it, read its metrics.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

declare const Bun: unknown;
declare const Deno: unknown;

/**
 * argv that runs src/main.ts under the runtime running this test (or the binary). Under Node,
 * XCTL_NODE_JS names the same source as tsc wrote it out (scripts/test.sh sets it, after the
 * type check): started through tsx's loader instead, each of the suite's few hundred exporters
 * and CLI runs cost about three times the CPU. test/cli/npm-start.test.ts starts the tsx way.
 */
export function exporterCommand(): string[] {
  const bin = process.env.XCTL_BINARY;
  if (bin) return [bin];
  const main = join(ROOT, "src/main.ts");
  if (typeof Bun !== "undefined") return [process.execPath, main];
  if (typeof Deno !== "undefined") return [process.execPath, "run", "-A", main];
  const js = process.env.XCTL_NODE_JS;
  if (js) return [process.execPath, js];
  return [process.execPath, "--import", "tsx", main];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningExporter {
  child: ChildProcess;
  port: number;
  url: string;
  stderr: () => string;
  stdout: () => string;
  /** SIGTERM, then resolves with the exit code (SIGKILL after 5 s so a test never hangs). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Replace the environment entirely (the binary smoke test runs with almost nothing). */
  cleanEnv?: boolean;
  stdin?: "pipe" | "ignore";
  /** Resolve once /healthz answers (default true). */
  waitHealthy?: boolean;
  cwd?: string;
}

export async function startExporter(args: string[], opts: StartOptions = {}): Promise<RunningExporter> {
  // freePort's port is free when it answers, not when the exporter binds it: another process
  // (a test beside this one, a connection's local port) may take it in between. Such a start
  // is tried again on another port; a test that does not wait for health sees its own failure.
  for (let attempt = 1; ; attempt++) {
    try {
      return await _startOnce(args, opts, await freePort());
    } catch (e) {
      if (attempt >= 3 || !/cannot listen on \S+: address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function _startOnce(args: string[], opts: StartOptions, port: number): Promise<RunningExporter> {
  const [cmd, ...pre] = exporterCommand();
  // No host collectors unless a test asks (--collectors or XCTL_COLLECTORS): what the test host
  // has in /proc, /sys and /dev/kmsg must not leak into tests of something else.
  const quiet = { XCTL_COLLECTORS: "none" };
  const env = opts.cleanEnv ? { ...quiet, ...opts.env } : { ...process.env, ...quiet, ...opts.env };
  const child = spawn(cmd, [...pre, "--host", "127.0.0.1", "--port", String(port), ...args], {
    env: env as NodeJS.ProcessEnv,
    stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
    cwd: opts.cwd ?? ROOT,
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const running: RunningExporter = {
    child,
    port,
    url,
    stderr: () => err,
    stdout: () => out,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      // process.kill, not child.kill: Deno's child_process reports a child it signalled
      // itself as killed by that signal even when the child handled it and exited 0.
      process.kill(child.pid!, signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  if (opts.waitHealthy !== false) {
    try {
      await waitFor(`${url}/healthz`, exited);
    } catch (e) {
      await running.stop("SIGKILL");
      throw new Error(`${(e as Error).message}\nstderr: ${err}`);
    }
  }
  return running;
}

/** Polls `url` until it answers 200; fails early if the process exits. */
export async function waitFor(url: string, exited?: Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  let dead = false;
  exited?.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`exporter exited before ${url} answered`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Retries `check`, an assertion that throws until it holds, for up to `timeoutMs`; the last
 * failure is thrown (a pushed stream is read in chunks, and a diagnosis run may come between them).
 */
export async function settled(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Polls `check` until it returns a truthy value. */
type Falsy = undefined | null | false | 0 | "";
export async function eventually<T>(check: () => Promise<T | Falsy> | T | Falsy, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * Waits until the exporter's log (stderr) matches `re`, and returns it. The log reaches the test
 * through a pipe, apart from the HTTP answers: a line written before the state a test saw over
 * HTTP may still be on its way when the answer is read.
 */
export function logged(ex: Pick<RunningExporter, "stderr">, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return eventually(() => (re.test(ex.stderr()) ? ex.stderr() : undefined), timeoutMs, `a log line matching ${re}`);
}

/** Parses the text exposition into `name{labels}` → value. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  return parseExposition(await res.text());
}

/** Runs a command to completion and collects its output. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env } as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"], cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    // A command that exits before reading its input (a usage error) closes the pipe: not a failure.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs the exporter CLI (same runtime as the test, or the binary) to completion. */
export function runCli(args: string[], opts: { input?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}) {
  const [cmd, ...pre] = exporterCommand();
  return run(cmd, [...pre, ...args], opts);
}
