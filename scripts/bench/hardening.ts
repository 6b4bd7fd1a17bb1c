// Issue 13's figures, on the compiled binary: ingest of the uniformly random busy-host stream
// against the parse floor (beside the structured one), the CPU share of one core at a realistic
// 10,000 events/s with one scrape a second, and /healthz latency while a probe floods garbage.
// main.ts runs it as one step; alone it prints its results as JSON:
//
//   node --import tsx scripts/bench/hardening.ts [--runs 5]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "./gen.ts";
import { benchIngest, type IngestResult } from "./ingest.ts";
import { fmt, freePort, getText, percentile, ROOT, say, sleep, startChild, waitReady } from "./util.ts";

export interface LiveLoad {
  eventsPerS: number;
  seconds: number;
  /** CPU seconds of the exporter per wall second (1.0 = one core). */
  cpuShare: number;
  scrapes: number;
}

export interface FloodLatency {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** SIGTERM to exit, during the flood. */
  stopMs: number;
}

export interface HardeningResults {
  random: IngestResult;
  liveLoad: LiveLoad;
  flood: FloodLatency;
}

const BINARY = join(ROOT, "dist/xctl-exporter-linux-x64");

export async function benchHardening(opts: { seed: number; events: number; processes: number; runs: number }): Promise<HardeningResults> {
  const random = generate({ seed: opts.seed, events: opts.events, processes: opts.processes, shape: "random" });
  say(`ingest: binary replay of the random-placement stream vs the bun floor, ${opts.runs} runs`);
  const r = await benchIngest("binary", random.path, opts.events, opts.runs);
  say(`  ${r.ratioWall.toFixed(2)}x the floor (wall), ${r.ratioCpu.toFixed(2)}x (CPU)`);
  const structured = generate({ seed: opts.seed, events: opts.events, processes: opts.processes });
  say("live load: 10,000 events/s through --stdin, one scrape a second, 10 s");
  const liveLoad = await benchLiveLoad(structured.path, 10_000, 10);
  say(`  ${(liveLoad.cpuShare * 100).toFixed(1)}% of one core`);
  say("flood: /healthz while a probe writes garbage as fast as it can");
  const flood = await benchFlood(300);
  say(`  /healthz p99 ${flood.p99Ms.toFixed(1)} ms, SIGTERM exit ${flood.stopMs.toFixed(0)} ms`);
  return { random: r, liveLoad, flood };
}

/** CPU seconds (user + system) of `pid` so far. */
function _cpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Events from `file` piped in at `rate` a second (a batch every 100 ms) for `seconds`. */
export async function benchLiveLoad(file: string, rate: number, seconds: number): Promise<LiveLoad> {
  const lines = readFileSync(file, "latin1").split("\n", rate * seconds + 1).slice(0, rate * seconds);
  const port = await freePort();
  const c = startChild([BINARY, "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", "--stdin"], port, { stdin: "pipe" });
  try {
    await waitReady(c);
    await sleep(300);
    const batch = rate / 10;
    const pid = c.proc.pid!;
    const cpu0 = _cpuS(pid);
    const t0 = performance.now();
    let scrapes = 0;
    let nextScrape = t0 + 1000;
    for (let i = 0; i * batch < lines.length; i++) {
      const due = t0 + i * 100;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      c.proc.stdin!.write(lines.slice(i * batch, (i + 1) * batch).join("\n") + "\n");
      if (performance.now() >= nextScrape) {
        await getText(`${c.url}/metrics`);
        scrapes++;
        nextScrape += 1000;
      }
    }
    await sleep(100);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = _cpuS(pid) - cpu0;
    return { eventsPerS: rate, seconds: wallS, cpuShare: cpu / wallS, scrapes };
  } finally {
    await c.stop();
  }
}

export async function benchFlood(requests: number): Promise<FloodLatency> {
  const dir = join(ROOT, ".bench");
  const port = await freePort();
  const probe = `${join(ROOT, "test/fixtures/fault-probes/garbage-flood.sh")} ${dir}`;
  const c = startChild([BINARY, "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", "--probe", probe], port);
  try {
    await waitReady(c, "/healthz", 30_000, 20);
    await sleep(1000);
    const ms: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t = performance.now();
      await getText(`${c.url}/healthz`);
      ms.push(performance.now() - t);
      await sleep(5);
    }
    const t = performance.now();
    await c.stop();
    const stopMs = performance.now() - t;
    return { requests, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms), stopMs };
  } finally {
    await c.stop();
  }
}

/** The section of BENCHMARKS.md. */
export function renderHardening(h: HardeningResults, structured?: IngestResult): string {
  const out: string[] = [];
  out.push("## Hardening (issue 13)", "");
  out.push(
    "Ingest cost by data shape: the binary's `replay` against the Bun parse floor on the bench's structured stream and on a " +
      "uniformly random one (same event mix, but every event a random process of 1,000 and a random GPU of 64: no locality, " +
      "so the consumes edges fill the processes x GPUs grid and each GPU error reaches every process).",
    "",
  );
  out.push("| stream | replay events/s | floor events/s | ratio (wall) | per-run ratios (wall) | ratio (CPU) | replay peak RSS |", "| --- | --- | --- | --- | --- | --- | --- |");
  const row = (name: string, i: IngestResult) => {
    const per = i.runs.map((r) => r.replay.wallS / r.floor.wallS);
    out.push(
      `| ${name} | ${fmt.int(i.events / i.replayWallS)} | ${fmt.int(i.events / i.floorWallS)} | ${fmt.f(i.ratioWall)}x | ${fmt.f(Math.min(...per))} to ${fmt.f(Math.max(...per))} | ${fmt.f(i.ratioCpu)}x | ${fmt.mb(i.peakRssBytes)} MB |`,
    );
  };
  if (structured) row("structured", structured);
  row("random placement", h.random);
  out.push("");
  const l = h.liveLoad;
  out.push(
    `At a realistic rate: ${fmt.int(l.eventsPerS)} events/s of the structured stream piped into a live binary (\`--stdin\`, a batch every 100 ms) ` +
      `for ${l.seconds.toFixed(1)} s with one scrape of \`/metrics\` a second (${l.scrapes} scrapes): **${(l.cpuShare * 100).toFixed(1)}% of one core** ` +
      "(CPU ticks of the exporter process from /proc, over the whole window).",
    "",
  );
  const f = h.flood;
  out.push(
    `Under a garbage flood (test/fixtures/fault-probes/garbage-flood.sh: invalid UTF-8 and broken JSON lines from \`yes\`, as fast as the pipe takes them), ` +
      `${f.requests} sequential \`GET /healthz\`: p50 ${fmt.f(f.p50Ms)} ms, **p99 ${fmt.f(f.p99Ms)} ms**, max ${fmt.f(f.maxMs)} ms; SIGTERM exited in ${fmt.int(f.stopMs)} ms. ` +
      "Ingest does a few milliseconds of work per event-loop turn and then stops reading the probe's pipe until the next turn.",
    "",
  );
  return out.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--runs");
  const runs = i === -1 ? 5 : Number(process.argv[i + 1]);
  const h = await benchHardening({ seed: 42, events: 1_000_000, processes: 1000, runs });
  process.stdout.write(JSON.stringify(h, (k, v) => (k === "stdout" || k === "stderr" ? undefined : v), 2) + "\n");
  process.exit(0);
}
