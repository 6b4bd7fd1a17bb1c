// A running exporter for the scrape, diagnosis and footprint steps: started on a free loopback
// port, optionally loaded with the event file through --stdin (waiting until
// xctl_events_total reaches the file's count).
import { closeSync, createReadStream, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { exporterArgv, freePort, getText, procMemory, ROOT, sample, sleep, startChild, waitReady, type Child, type Target } from "./util.ts";

export interface LiveExporter extends Child {
  target: Target;
  /** ms from spawn to the first 200 on /healthz. */
  readyMs: number;
  /** Seconds from the first byte piped in to the count reached (0 without a file). */
  loadS: number;
  events: number;
  idleRss: number;
}

export async function startExporter(target: Target, file?: string, events = 0, extra: string[] = [], stdin: "pipe" | "ignore" = file ? "pipe" : "ignore"): Promise<LiveExporter> {
  const port = await freePort();
  const argv = [...exporterArgv(target), "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", ...extra];
  if (file) argv.push("--stdin");
  const c = startChild(argv, port, { stdin });
  let readyMs: number;
  try {
    readyMs = await waitReady(c);
  } catch (e) {
    await c.stop();
    throw e;
  }
  await sleep(200);
  const idleRss = procMemory(c.proc.pid!).rss;
  let loadS = 0;
  if (file) {
    const t0 = performance.now();
    createReadStream(file).pipe(c.proc.stdin!);
    const deadline = t0 + 300_000;
    for (;;) {
      const n = sample(await getText(`${c.url}/metrics`), "xctl_events_total");
      if (n >= events) break;
      if (performance.now() > deadline) {
        await c.stop();
        throw new Error(`${target}: only ${n} of ${events} events loaded after 300 s`);
      }
      await sleep(100);
    }
    loadS = (performance.now() - t0) / 1000;
  }
  return Object.assign(c, { target, readyMs, loadS, events, idleRss });
}

/** CPU time (user + system) of a live process so far, seconds (Linux /proc, clock ticks of 10 ms). */
export function procCpuS(pid: number): number {
  // Fields after the command name, which may hold spaces: state is the 3rd field, utime the 14th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

export interface PacedRun {
  /** Events per second asked for and written. */
  rate: number;
  seconds: number;
  written: number;
  /** xctl_events_total at the end (all of `written` once the exporter caught up). */
  accepted: number;
  scrapes: number;
  /** CPU seconds of the exporter over the measured span, and that over the wall span: share of one core. */
  cpuS: number;
  wallS: number;
  share: number;
}

/**
 * The exporter at a realistic rate: a running exporter fed `rate` events/s through --stdin (lines
 * of `file` with their time stamps set to now, written every 10 ms as due, so the rate holds on
 * average whatever the timer's jitter), with one scrape of /metrics a second, for `seconds`
 * after a 2 s warm-up; its CPU share of one core is the CPU time it used over that span
 * (/proc/PID/stat, utime + stime) divided by the span.
 */
export async function pacedRun(target: Target, file: string, rate: number, seconds: number): Promise<PacedRun> {
  const need = rate * (seconds + 3);
  const lines = need === 0 ? [] : _firstLines(file, need);
  const x = await startExporter(target, undefined, 0, ["--stdin"], "pipe");
  try {
    const stdin = x.proc.stdin!;
    let written = 0;
    let scrapes = 0;
    const t0 = performance.now();
    const writeDue = () => {
      const due = Math.min(lines.length, Math.floor(((performance.now() - t0) * rate) / 1000));
      if (due <= written) return;
      const now = String(Date.now());
      const batch: string[] = [];
      // Every line starts `{"ts":` and 13 digits (gen.ts): set the time to now.
      for (; written < due; written++) batch.push(`{"ts":${now}${lines[written].slice(19)}`);
      stdin.write(batch.join("\n") + "\n");
    };
    const pacer = setInterval(writeDue, 10);
    let nextScrape = t0;
    const scraper = (async () => {
      const end = t0 + (seconds + 2.5) * 1000;
      while (performance.now() < end) {
        await getText(`${x.url}/metrics`);
        scrapes++;
        nextScrape += 1000;
        await sleep(Math.max(0, nextScrape - performance.now()));
      }
    })();
    await sleep(2000);
    const cpu0 = procCpuS(x.proc.pid!);
    const w0 = performance.now();
    await sleep(seconds * 1000);
    const cpuS = procCpuS(x.proc.pid!) - cpu0;
    const wallS = (performance.now() - w0) / 1000;
    clearInterval(pacer);
    await scraper;
    // Let the last lines through, then count them.
    let accepted = 0;
    for (let i = 0; i < 50; i++) {
      accepted = sample(await getText(`${x.url}/metrics`), "xctl_events_total");
      if (accepted >= written) break;
      await sleep(100);
    }
    return { rate, seconds, written, accepted, scrapes, cpuS, wallS, share: cpuS / wallS };
  } finally {
    await x.stop();
  }
}

export interface FloodRun {
  /** ms from spawn to the first 200 on /healthz with the flood running, or NaN when none came within `readyTimeoutMs`. */
  readyMs: number;
  /** Round trips of the sequential /healthz requests, ms; a request that timed out counts as `timeoutMs`. */
  latenciesMs: number[];
  timeouts: number;
  /** Lines the exporter rejected meanwhile (xctl_events_rejected_total, summed), NaN when /metrics did not answer. */
  rejected: number;
  /** ms from SIGTERM to exit (SIGKILL after 5 s). */
  termMs: number;
}

/**
 * `/healthz` while a probe floods the exporter with garbage (invalid UTF-8 and broken JSON,
 * as fast as `yes` writes: scripts/bench/garbage-probe.sh): up to `requests` requests one
 * after another, 10 ms apart, each given up after `timeoutMs`, all within `budgetMs`.
 */
export async function floodRun(target: Target, requests: number, timeoutMs = 5000, budgetMs = 30_000, readyTimeoutMs = 15_000): Promise<FloodRun> {
  const port = await freePort();
  const probe = `sh ${join(ROOT, "scripts/bench/garbage-probe.sh")}`;
  const argv = [...exporterArgv(target), "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", "--probe", probe];
  const c = startChild(argv, port);
  try {
    let readyMs = NaN;
    try {
      readyMs = await waitReady(c, "/healthz", readyTimeoutMs, 10);
    } catch {
      // Not up within the bound under the flood: the requests below say how it answers.
    }
    const latenciesMs: number[] = [];
    let timeouts = 0;
    const end = performance.now() + budgetMs;
    for (let i = 0; i < requests && performance.now() < end; i++) {
      const t = performance.now();
      try {
        const res = await fetch(`${c.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
        await res.arrayBuffer();
        latenciesMs.push(performance.now() - t);
      } catch {
        timeouts++;
        latenciesMs.push(Math.max(timeoutMs, performance.now() - t));
      }
      await sleep(10);
    }
    let rejected = NaN;
    try {
      const res = await fetch(`${c.url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      rejected = 0;
      for (const m of text.matchAll(/^xctl_events_rejected_total\{[^}]*\} (\S+)$/gm)) rejected += Number(m[1]);
    } catch {
      // no answer: NaN
    }
    const t = performance.now();
    await c.stop();
    return { readyMs, latenciesMs, timeouts, rejected, termMs: performance.now() - t };
  } finally {
    await c.stop();
  }
}

/** The first `n` lines of `file` (the event files are ~115 bytes a line: reads only what it needs). */
function _firstLines(file: string, n: number): string[] {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(Math.min(n * 200, 64 * 2 ** 20));
    const got = readSync(fd, buf, 0, buf.length, 0);
    const lines = buf.subarray(0, got).toString("utf8").split("\n");
    lines.pop(); // maybe cut
    if (lines.length < n) throw new Error(`${file}: ${lines.length} lines, ${n} needed`);
    return lines.slice(0, n);
  } finally {
    closeSync(fd);
  }
}
