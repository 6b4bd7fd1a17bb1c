// Small helpers shared by the benchmark steps: child processes, timing, ports, statistics.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = join(ROOT, "node_modules/.bin");

export type Target = "binary" | "bun" | "deno" | "node";

/** argv that runs the exporter for a target (the compiled binary or the source on a runtime). */
export function exporterArgv(t: Target): string[] {
  switch (t) {
    case "binary":
      // BENCH_BINARY: another build of the binary to measure (e.g. a branch's, for an A/B).
      return [process.env.BENCH_BINARY ?? join(ROOT, "dist/xctl-exporter-linux-x64")];
    case "bun":
      return [join(BIN, "bun"), join(ROOT, "src/main.ts")];
    case "deno":
      return [join(BIN, "deno"), "run", "-A", join(ROOT, "src/main.ts")];
    case "node":
      return [process.execPath, "--import", "tsx", join(ROOT, "src/main.ts")];
  }
}

/** argv that runs a TypeScript script on the runtime of a target (the binary's runtime is Bun). */
export function scriptArgv(t: Target, script: string): string[] {
  const path = join(ROOT, script);
  switch (t) {
    case "binary":
    case "bun":
      return [join(BIN, "bun"), path];
    case "deno":
      return [join(BIN, "deno"), "run", "-A", path];
    case "node":
      return [process.execPath, "--import", "tsx", path];
  }
}

export interface Timed {
  wallS: number;
  userS: number;
  sysS: number;
  /** Peak resident set size (GNU time's %M), bytes. */
  maxRssBytes: number;
  stdout: string;
  stderr: string;
}

const TIME_MARK = "@@bench-time@@";

/** Runs argv to completion under GNU time, with `env` added to this process's environment. */
export function timed(argv: string[], env: Record<string, string> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", `${TIME_MARK} %e %U %S %M`, ...argv], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", reject);
    child.once("exit", (code) => {
      const at = err.lastIndexOf(TIME_MARK);
      if (code !== 0 || at === -1) {
        reject(new Error(`${argv.join(" ")} failed (${code}): ${err.slice(-2000)}`));
        return;
      }
      const [e, u, s, m] = err.slice(at + TIME_MARK.length).trim().split(/\s+/).map(Number);
      resolve({ wallS: e, userS: u, sysS: s, maxRssBytes: m * 1024, stdout: out, stderr: err.slice(0, at) });
    });
  });
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident and peak resident memory of a live process, bytes (Linux /proc). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

export interface Child {
  proc: ChildProcess;
  url: string;
  port: number;
  startedAt: number;
  stderr: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Servers still running: killed when the bench exits, even on an error. */
const _live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of _live) p.kill("SIGKILL");
});

/** Starts a long-running server child on 127.0.0.1:port. */
export function startChild(argv: string[], port: number, opts: { stdin?: "pipe" | "ignore" } = {}): Child {
  const startedAt = performance.now();
  const proc = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: [opts.stdin ?? "ignore", "ignore", "pipe"] });
  _live.add(proc);
  proc.once("exit", () => _live.delete(proc));
  let err = "";
  proc.stderr!.on("data", (d) => {
    if (err.length < 100_000) err += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    startedAt,
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls until `url` answers 200; returns ms since the child was spawned. */
export async function waitReady(c: Child, path = "/healthz", timeoutMs = 30_000, pollMs = 2): Promise<number> {
  let dead = false;
  void c.exited.then(() => (dead = true));
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (dead) throw new Error(`${c.proc.spawnargs.join(" ")} exited: ${c.stderr().slice(-2000)}`);
    try {
      const res = await fetch(c.url + path);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - c.startedAt;
    } catch {
      // not listening yet
    }
    await sleep(pollMs);
  }
  throw new Error(`${c.url}${path} did not answer within ${timeoutMs} ms: ${c.stderr().slice(-2000)}`);
}

/** One sample from the exposition text (an unlabelled series). */
export function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * fetch, retried once when a pooled keep-alive connection turns out closed (the server drops
 * idle ones, e.g. Bun after 10 s, while wrk held the machine).
 */
export async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    await sleep(50);
    return fetch(url, init);
  }
}

export async function getText(url: string): Promise<string> {
  const res = await request(url);
  return res.text();
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Wall-clock progress line on stderr. */
export function say(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

export const fmt = {
  int: (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"),
  f: (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : "n/a"),
  mb: (b: number) => (Number.isFinite(b) ? (b / 1024 / 1024).toFixed(1) : "n/a"),
  ms: (s: number, d = 0) => (Number.isFinite(s) ? (s * 1000).toFixed(d) : "n/a"),
};
