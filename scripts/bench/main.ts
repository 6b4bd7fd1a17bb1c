// `npm run bench`: generates the event files, runs every step, writes BENCHMARKS.md and prints
// a summary. Knobs (environment): BENCH_RUNS (3), BENCH_INGEST_RUNS (7: a replay is short and
// this machine's noise is not), BENCH_EVENTS (1000000), BENCH_SEED (42),
// BENCH_WRK_SECONDS (4), BENCH_WRK_CONNECTIONS (4), BENCH_STARTS (7), BENCH_ENGINE_RUNS (1000),
// BENCH_TARGETS (binary,bun,deno,node), BENCH_OUT (BENCHMARKS.md), BENCH_PACED_RATE (10000),
// BENCH_PACED_SECONDS (20), BENCH_FLOOD_REQUESTS (500), BENCH_BINARY (another build to measure
// as the binary). `--report-only` re-renders BENCHMARKS.md from .bench/results.json without
// measuring.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { benchDiagnosis } from "./diag.ts";
import { generate, type Shape } from "./gen.ts";
import { benchIngest, graphFigures, type IngestResult } from "./ingest.ts";
import { floodRun, pacedRun, startExporter } from "./live.ts";
import { renderReport, summaryLines, type EngineFigures, type Results, type RuntimeScrape } from "./report.ts";
import { wrk, type ScrapeResult } from "./scrape.ts";
import { BIN, freePort, getText, median, percentile, procMemory, ROOT, say, startChild, waitReady, type Target } from "./util.ts";

/**
 * The scrape and diagnosis figures are taken on the loaded graph with the host collectors off:
 * the bench's pids are synthetic, and builtin:procfs would end every one of them as vanished
 * within a poll (15 s), emptying the graph under the measurement. The live and footprint
 * figures run as installed.
 */
const NO_COLLECTORS = ["--collectors", "none"];
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const RUNS = env("BENCH_RUNS", 3);
const INGEST_RUNS = env("BENCH_INGEST_RUNS", 7);
const EVENTS = env("BENCH_EVENTS", 1_000_000);
const SEED = env("BENCH_SEED", 42);
const PROCESSES = 1000;
const WRK = { seconds: env("BENCH_WRK_SECONDS", 4), connections: env("BENCH_WRK_CONNECTIONS", 4), runs: RUNS };
const STARTS = env("BENCH_STARTS", 7);
const ENGINE_RUNS = env("BENCH_ENGINE_RUNS", 1000);
const PACED = { rate: env("BENCH_PACED_RATE", 10_000), seconds: env("BENCH_PACED_SECONDS", 20) };
const FLOOD_REQUESTS = env("BENCH_FLOOD_REQUESTS", 500);
const TARGETS = (process.env.BENCH_TARGETS ?? "binary,bun,deno,node").split(",") as Target[];
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? "BENCHMARKS.md");
const BINARY = join(ROOT, "dist/xctl-exporter-linux-x64");

async function main(): Promise<void> {
  const began = Date.now();
  const results: Results = {
    date: new Date().toISOString(),
    command: "npm run bench",
    config: { runs: RUNS, ingestRuns: INGEST_RUNS, events: EVENTS, seed: SEED, processes: PROCESSES, wrk: WRK, starts: STARTS, paced: PACED, floodRequests: FLOOD_REQUESTS },
    machine: _machine(),
    versions: _versions(),
    loadBefore: loadavg(),
    ingest: [],
    scrape: [],
    runtimeStarts: [],
  } as unknown as Results;

  say(`generating event files (seed ${SEED})`);
  const base = generate({ seed: SEED, events: EVENTS, processes: PROCESSES });
  const big = generate({ seed: SEED, events: EVENTS * 2, processes: PROCESSES * 10 });
  const random = generate({ seed: SEED, events: EVENTS, processes: PROCESSES, shape: "random" });
  results.files = {
    base: { ...base, bytes: statSync(base.path).size },
    big: { ...big, bytes: statSync(big.path).size },
    random: { ...random, bytes: statSync(random.path).size },
  };

  // --- ingest -----------------------------------------------------------------------------
  const ingest = async (what: string, run: () => Promise<IngestResult>, shape?: Shape) => {
    say(`ingest: ${what}, ${INGEST_RUNS} runs`);
    const r = await run();
    say(`  replay ${r.replayWallS.toFixed(2)} s, floor ${r.floorWallS.toFixed(2)} s: ${r.ratioWall.toFixed(2)}x; peak ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MB`);
    results.ingest.push(shape === undefined ? r : { ...r, shape });
  };
  for (const t of TARGETS) {
    await ingest(`${t} replay vs ${t === "binary" ? "bun" : t} floor`, () => benchIngest(t, base.path, EVENTS, INGEST_RUNS, { jit: t === "binary" }));
  }
  if (TARGETS.includes("binary")) {
    // The same on the stream without structure (issue 13: cost must not depend on the data's
    // shape); then both without the diagnosis engine's rules, to show what share of the ratio
    // the engine (and its JIT warm-up) takes.
    await ingest("binary replay vs bun floor, random placement", () => benchIngest("binary", random.path, random.events, INGEST_RUNS, { jit: true }), "random");
    for (const [file, n, shape] of [[base.path, EVENTS, undefined], [random.path, random.events, "random"]] as const) {
      await ingest(`binary replay --no-default-rules vs bun floor${shape ? ", random placement" : ""}`, () => benchIngest("binary", file, n, INGEST_RUNS, { args: ["--no-default-rules"], jit: true }), shape);
    }
  }

  // --- where ingest time goes, and the diagnosis engine on its own (both on Bun) ----------
  say("ingest stages on Bun (scripts/bench/stages.ts)");
  results.stages = _stages(base.path);
  say("ingest stages on Bun, random placement");
  results.stagesRandom = _stages(random.path);
  if (existsSync(join(ROOT, "scripts/bench/diagnosis.ts"))) {
    say("diagnosis engine on Bun (scripts/bench/diagnosis.ts)");
    results.engine = _engineBench();
  }

  // --- the binary: scrape, diagnosis, footprint --------------------------------------------
  if (TARGETS.includes("binary")) {
    say("scrape: binary, empty graph");
    const empty = await startExporter("binary", undefined, 0, NO_COLLECTORS);
    const emptyScrape = await wrk(`${empty.url}/metrics`, WRK);
    const emptyBytes = (await getText(`${empty.url}/metrics`)).length;
    const emptyDiag = await benchDiagnosis(empty.url, 100, 10);
    await empty.stop();

    say("scrape: binary, loaded with the event file");
    const loaded = await startExporter("binary", base.path, EVENTS, NO_COLLECTORS);
    const loadedText = await getText(`${loaded.url}/metrics`);
    const graph = graphFigures(loadedText);
    const loadedScrape = await wrk(`${loaded.url}/metrics`, WRK);
    const gzipScrape = await wrk(`${loaded.url}/metrics`, { ...WRK, header: "Accept-Encoding: gzip" });
    say("diagnosis: binary, loaded");
    const diag = await benchDiagnosis(loaded.url);
    const loadedMem = procMemory(loaded.proc.pid!);
    await loaded.stop();

    say("diagnosis: binary, ten times the processes");
    const loaded10 = await startExporter("binary", big.path, big.events, NO_COLLECTORS);
    const graph10 = graphFigures(await getText(`${loaded10.url}/metrics`));
    const diag10 = await benchDiagnosis(loaded10.url);
    const loaded10Mem = procMemory(loaded10.proc.pid!);
    await loaded10.stop();

    say(`realistic rate: binary fed ${PACED.rate} events/s with a scrape a second, ${RUNS} x ${PACED.seconds} s`);
    const paced = [];
    for (let i = 0; i < RUNS; i++) paced.push(await pacedRun("binary", base.path, PACED.rate, PACED.seconds));
    say(`  CPU share of one core: ${paced.map((p) => (100 * p.share).toFixed(1) + "%").join(", ")}`);
    // The same without events: what the scrapes, the host collectors and the timers cost alone.
    const pacedIdle = await pacedRun("binary", base.path, 0, PACED.seconds);
    say(`  without events: ${(100 * pacedIdle.share).toFixed(1)}%`);

    say(`flood: /healthz while a probe writes garbage, up to ${FLOOD_REQUESTS} requests`);
    const flood = await floodRun("binary", FLOOD_REQUESTS);
    say(`  ${flood.latenciesMs.length} requests, p99 ${percentile(flood.latenciesMs, 99).toFixed(1)} ms, ${flood.timeouts} timed out; SIGTERM to exit ${flood.termMs.toFixed(0)} ms`);

    say("scrape: prometheus-node-exporter, default collectors");
    const nodeExporter = await _nodeExporter();

    say(`footprint: ${STARTS} starts of the binary`);
    const starts: { readyMs: number; idleRss: number }[] = [];
    for (let i = 0; i < STARTS; i++) {
      const x = await startExporter("binary");
      starts.push({ readyMs: x.readyMs, idleRss: x.idleRss });
      await x.stop();
    }
    results.binary = {
      emptyScrape,
      emptyBytes,
      loadedScrape,
      loadedBytes: loadedText.length,
      gzipScrape,
      graph,
      graph10,
      loadS: loaded.loadS,
      load10S: loaded10.loadS,
      diag,
      diag10,
      emptyDiag,
      loadedRss: loadedMem.rss,
      loadedHwm: loadedMem.hwm,
      loaded10Rss: loaded10Mem.rss,
      readyMs: median(starts.map((s) => s.readyMs)),
      readyAllMs: starts.map((s) => s.readyMs),
      idleRss: median(starts.map((s) => s.idleRss)),
      sizeBytes: statSync(BINARY).size,
      nodeExporter,
      paced,
      pacedIdle,
      flood,
    };
  }

  // --- the source on each runtime: scrape ----------------------------------------------------
  for (const t of TARGETS.filter((x) => x !== "binary")) {
    say(`scrape: ${t} (source), empty and loaded`);
    const empty = await startExporter(t, undefined, 0, NO_COLLECTORS);
    const emptyScrape = await wrk(`${empty.url}/metrics`, WRK);
    await empty.stop();
    const loaded = await startExporter(t, base.path, EVENTS, NO_COLLECTORS);
    const loadedScrape = await wrk(`${loaded.url}/metrics`, WRK);
    const mem = procMemory(loaded.proc.pid!);
    await loaded.stop();
    const entry: RuntimeScrape = { target: t, emptyScrape, loadedScrape, loadS: loaded.loadS, readyMs: empty.readyMs, idleRss: empty.idleRss, loadedRss: mem.rss };
    results.scrape.push(entry);
  }

  results.loadAfter = loadavg();
  results.elapsedS = (Date.now() - began) / 1000;
  writeFileSync(OUT, renderReport(results));
  writeFileSync(join(ROOT, ".bench/results.json"), JSON.stringify(results, null, 2));
  process.stdout.write("\n" + summaryLines(results).join("\n") + `\n\nwrote ${OUT} in ${results.elapsedS.toFixed(0)} s\n`);
}

/** Per-stage medians of RUNS runs of scripts/bench/stages.ts. */
function _stages(file: string): Record<string, number> {
  const runs: Record<string, number>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(join(BIN, "bun"), [join(ROOT, "scripts/bench/stages.ts"), file], { encoding: "utf8", cwd: ROOT });
    if (r.status !== 0) throw new Error(`stages.ts failed: ${r.stderr}`);
    runs.push(JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>);
  }
  return Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((x) => x[k]))]));
}

/** scripts/bench/diagnosis.ts (the diagnosis engine's own benchmark), its text parsed. */
function _engineBench(): EngineFigures[] {
  const r = spawnSync(join(BIN, "bun"), [join(ROOT, "scripts/bench/diagnosis.ts"), "--runs", String(ENGINE_RUNS)], { encoding: "utf8", cwd: ROOT });
  if (r.status !== 0) throw new Error(`diagnosis.ts failed: ${r.stderr}`);
  const out: EngineFigures[] = [];
  for (const block of r.stdout.split(/^(?=processes=)/m).slice(1)) {
    const num = (re: RegExp) => Number(re.exec(block)?.[1]);
    out.push({
      processes: num(/processes=(\d+)/),
      edges: num(/edges=(\d+)/),
      hostMedianMs: num(/host-wide run ms: median=([\d.]+)/),
      hostP99Ms: num(/host-wide run ms: .*p99=([\d.]+)/),
      pidMedianMs: num(/per-pid run ms: +median=([\d.]+)/),
      pidP99Ms: num(/per-pid run ms: .*p99=([\d.]+)/),
      graphUsPerEvent: num(/graph only=([\d.]+)/),
      withMatcherUsPerEvent: num(/graph\+matcher=([\d.]+)/),
      matching: /matching: ([^)]*)\)/.exec(block)?.[1] ?? "",
    });
  }
  if (out.length < 2) throw new Error(`diagnosis.ts: unexpected output\n${r.stdout}`);
  return out;
}

async function _nodeExporter(): Promise<ScrapeResult & { bytes: number; version: string }> {
  const bin = ["/usr/bin/prometheus-node-exporter", "/usr/sbin/prometheus-node-exporter"].find((p) => existsSync(p));
  if (!bin) throw new Error("prometheus-node-exporter is not installed (scripts/bench/run.sh installs it)");
  const port = await freePort();
  const c = startChild([bin, `--web.listen-address=127.0.0.1:${port}`], port);
  try {
    await waitReady(c, "/metrics");
    const bytes = (await getText(`${c.url}/metrics`)).length;
    const r = await wrk(`${c.url}/metrics`, WRK);
    const v = spawnSync(bin, ["--version"], { encoding: "utf8" });
    const version = /version (\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? "?";
    return { ...r, bytes, version };
  } finally {
    await c.stop();
  }
}

function _machine(): Results["machine"] {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "?";
  const kernel = execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim();
  return { nproc: Number(execFileSync("nproc", { encoding: "utf8" }).trim()), cpu: model, ramBytes: totalmem(), kernel };
}

function _versions(): Results["versions"] {
  const first = (argv: string[]) => {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
    return `${r.stdout}${r.stderr}`.trim().split("\n")[0];
  };
  return {
    bun: first([join(BIN, "bun"), "--version"]),
    deno: first([join(BIN, "deno"), "--version"]).replace(/^deno /, ""),
    node: process.versions.node,
    wrk: first(["wrk", "-v"]).replace(/^wrk /, "").split(" ")[0],
    exporter: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version,
  };
}

if (process.argv.includes("--report-only")) {
  // Re-render BENCHMARKS.md from the last run's results (after a change to report.ts).
  const results = JSON.parse(readFileSync(join(ROOT, ".bench/results.json"), "utf8")) as Results;
  writeFileSync(OUT, renderReport(results));
  process.stdout.write(summaryLines(results).join("\n") + `\nwrote ${OUT}\n`);
} else await main();
process.exit(0);
