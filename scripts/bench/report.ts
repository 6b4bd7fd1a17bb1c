// BENCHMARKS.md and the printed summary, from the results of one `npm run bench`.
import type { DiagResult } from "./diag.ts";
import type { GenResult } from "./gen.ts";
import type { FloodRun, PacedRun } from "./live.ts";
import type { GraphFigures, IngestResult, JitWork } from "./ingest.ts";
import type { ScrapeResult } from "./scrape.ts";
import { fmt, median, percentile, type Target } from "./util.ts";

export interface RuntimeScrape {
  target: Target;
  emptyScrape: ScrapeResult;
  loadedScrape: ScrapeResult;
  loadS: number;
  readyMs: number;
  idleRss: number;
  loadedRss: number;
}

export interface BinaryResults {
  emptyScrape: ScrapeResult;
  emptyBytes: number;
  loadedScrape: ScrapeResult;
  loadedBytes: number;
  gzipScrape: ScrapeResult;
  graph: GraphFigures;
  graph10: GraphFigures;
  loadS: number;
  load10S: number;
  diag: DiagResult;
  diag10: DiagResult;
  emptyDiag: DiagResult;
  loadedRss: number;
  loadedHwm: number;
  loaded10Rss: number;
  readyMs: number;
  readyAllMs: number[];
  idleRss: number;
  sizeBytes: number;
  nodeExporter: ScrapeResult & { bytes: number; version: string };
  /** The binary at a realistic rate (live.ts pacedRun), one entry per run. */
  paced?: PacedRun[];
  /** The same with no events written (scrapes, collectors and timers alone), one run. */
  pacedIdle?: PacedRun;
  /** /healthz under a garbage flood (live.ts floodRun). */
  flood?: FloodRun;
}

/** One graph size of scripts/bench/diagnosis.ts. */
export interface EngineFigures {
  processes: number;
  edges: number;
  hostMedianMs: number;
  hostP99Ms: number;
  pidMedianMs: number;
  pidP99Ms: number;
  graphUsPerEvent: number;
  withMatcherUsPerEvent: number;
  matching: string;
}

export interface Results {
  date: string;
  command: string;
  elapsedS: number;
  config: {
    runs: number;
    ingestRuns?: number;
    events: number;
    seed: number;
    processes: number;
    wrk: { seconds: number; connections: number; runs: number };
    starts: number;
    paced?: { rate: number; seconds: number };
    floodRequests?: number;
  };
  machine: { nproc: number; cpu: string; ramBytes: number; kernel: string };
  versions: { bun: string; deno: string; node: string; wrk: string; exporter: string };
  loadBefore: number[];
  loadAfter: number[];
  files: { base: GenResult; big: GenResult; random?: GenResult };
  ingest: IngestResult[];
  /** CPU seconds of cumulative pipeline stages (scripts/bench/stages.ts, Bun). */
  stages?: Record<string, number>;
  /** The same on the random-placement file. */
  stagesRandom?: Record<string, number>;
  /** scripts/bench/diagnosis.ts, when present. */
  engine?: EngineFigures[];
  binary?: BinaryResults;
  scrape: RuntimeScrape[];
}

interface Check {
  what: string;
  target: string;
  measured: string;
  ok: boolean;
}

export function checks(r: Results): Check[] {
  const out: Check[] = [];
  const bin = r.ingest.find((i) => i.target === "binary" && (i.shape ?? "structured") === "structured" && !i.args);
  if (bin) {
    out.push({ what: "ingest through the binary vs the Bun parse floor (wall)", target: "≤ 2.0x", measured: `${fmt.f(bin.ratioWall)}x`, ok: bin.ratioWall <= 2 });
    out.push({ what: "peak memory of that replay", target: "< 200 MB", measured: `${fmt.mb(bin.peakRssBytes)} MB`, ok: bin.peakRssBytes < 200 * 2 ** 20 });
  }
  const rnd = r.ingest.find((i) => i.target === "binary" && i.shape === "random" && !i.args);
  if (rnd) {
    out.push({ what: "the same on the random-placement stream (wall)", target: "≤ 2.0x", measured: `${fmt.f(rnd.ratioWall)}x`, ok: rnd.ratioWall <= 2 });
  }
  const b = r.binary;
  if (b) {
    const ratio = b.loadedScrape.rps / b.emptyScrape.rps;
    out.push({ what: `scrape, ${fmt.int(b.graph.edges)}-edge graph vs empty graph`, target: "≥ 0.8x", measured: `${fmt.f(ratio)}x`, ok: ratio >= 0.8 });
    out.push({ what: `scrape throughput, ${fmt.int(b.graph.edges)}-edge graph`, target: "≥ 3,000/s", measured: `${fmt.int(b.loadedScrape.rps)}/s`, ok: b.loadedScrape.rps >= 3000 });
    if (r.engine && r.engine.length >= 2) {
      const [e1, e10] = r.engine;
      out.push({ what: `diagnosis run median, ${fmt.int(e1.edges)} edges (engine benchmark)`, target: "< 1 ms", measured: `${fmt.f(e1.hostMedianMs, 4)} ms`, ok: e1.hostMedianMs < 1 });
      const x = e10.hostMedianMs / e1.hostMedianMs;
      out.push({
        what: `diagnosis run median, 10x processes (${fmt.int(e10.edges)} edges)`,
        target: "≤ 2x the above",
        measured: `${fmt.f(e10.hostMedianMs, 4)} ms (${fmt.f(x)}x)`,
        ok: x <= 2,
      });
    }
    out.push({ what: `diagnosis run median through the API, busy host (${fmt.int(b.graph.edges)} edges)`, target: "< 1 ms", measured: `${fmt.f(b.diag.engineMedianMs, 3)} ms`, ok: b.diag.engineMedianMs < 1 });
    const d10 = b.diag10.engineMedianMs / b.diag.engineMedianMs;
    out.push({
      what: `the same, 10x processes (${fmt.int(b.graph10.edges)} edges)`,
      target: "≤ 2x the above",
      measured: `${fmt.f(b.diag10.engineMedianMs, 3)} ms (${fmt.f(d10)}x)`,
      ok: d10 <= 2,
    });
    if (b.flood) {
      const p99 = percentile(b.flood.latenciesMs, 99);
      out.push({ what: "/healthz p99 while a probe floods garbage (binary)", target: "< 50 ms", measured: `${fmt.f(p99, 1)} ms`, ok: p99 < 50 });
    }
    out.push({ what: "idle resident memory (binary)", target: "< 80 MB", measured: `${fmt.mb(b.idleRss)} MB`, ok: b.idleRss < 80 * 2 ** 20 });
    out.push({ what: "start to first 200 on /healthz (binary, median)", target: "< 200 ms", measured: `${fmt.int(b.readyMs)} ms`, ok: b.readyMs < 200 });
  }
  return out;
}

export function summaryLines(r: Results): string[] {
  const lines = [`xctl-exporter benchmarks, ${r.date.slice(0, 16)}Z, ${r.machine.nproc} x ${r.machine.cpu}, load ${r.loadBefore.map((x) => x.toFixed(1)).join(" ")}`];
  for (const c of checks(r)) lines.push(`${c.ok ? "PASS" : "FAIL"}  ${c.what}: ${c.measured} (target ${c.target})`);
  return lines;
}

/** What each stage of scripts/bench/stages.ts adds to. */
const _STAGE_BASE: Record<string, string> = {
  "framer+parse+validate": "framer",
  "framer+scan": "framer",
  "+maps": "framer+scan",
  "+graph": "framer+scan",
  "exporter-no-rules": "+graph",
  "exporter-default-rules": "exporter-no-rules",
};

export function renderReport(r: Results): string {
  const L: string[] = [];
  const p = (s = "") => L.push(s);
  const row = (cells: (string | number)[]) => p(`| ${cells.join(" | ")} |`);
  const head = (cells: string[]) => {
    row(cells);
    p(`|${cells.map(() => " --- ").join("|")}|`);
  };

  p("# Benchmarks");
  p();
  p(`Generated by \`${r.command}\` (scripts/bench/) on ${r.date.replace("T", " ").slice(0, 19)} UTC in ${fmt.int(r.elapsedS)} s. Do not edit by hand: run it again.`);
  p();
  p(`Machine: ${r.machine.nproc} CPUs (${r.machine.cpu}), ${fmt.f(r.machine.ramBytes / 2 ** 30, 1)} GiB RAM, ${r.machine.kernel}. ` +
    `Load average before / after: ${r.loadBefore.map((x) => x.toFixed(2)).join(" ")} / ${r.loadAfter.map((x) => x.toFixed(2)).join(" ")} ` +
    `(other work on the machine shows up as noise; ratios are taken within one run, side by side).`);
  p();
  p(`Runtimes: Bun ${r.versions.bun} (also inside the binary), Deno ${r.versions.deno}, Node ${r.versions.node} (source through tsx). ` +
    `Load generator: wrk ${r.versions.wrk}. xctl-exporter ${r.versions.exporter}.`);
  p();
  p(`Every figure is the median of ${r.config.runs} runs unless it says otherwise (ingest: ${r.config.ingestRuns ?? r.config.runs} runs); scrape runs are ${r.config.wrk.seconds} s of ` +
    `\`wrk -t1 -c${r.config.wrk.connections}\` each; start-up is the median of ${r.config.starts} starts.`);
  p();

  p("## Targets");
  p();
  head(["target", "goal", "measured", ""]);
  for (const c of checks(r)) row([c.what, c.target, c.measured, c.ok ? "holds" : "**misses**"]);
  p();

  const f = r.files.base;
  p("## Input");
  p();
  p(`A seeded busy host (scripts/bench/gen.ts, seed ${r.config.seed}): ${fmt.int(f.events)} events (${fmt.mb(f.bytes)} MB), ` +
    `${fmt.int(r.config.processes)} processes in jobs of 32 or 64 GPUs over gpu-00..gpu-63, NICs mlx5_0..15 and nvme0n1..nvme7n1, ` +
    `every event type present, about one event in a thousand an error (error.hw, error.net, topo.link_down), processes ending and ` +
    `restarting; readings in the units the project's probes use (GPU utilisation and memory in percent, bandwidth in GB/s), ` +
    `with the occasional low reading, memory spike or drop storm. The ten-times file has ${fmt.int(r.config.processes * 10)} processes and ${fmt.int(r.files.big.events)} events.`);
  p();
  const fr = r.files.random;
  if (fr) {
    p(`The random-placement file (\`gen.ts --shape random\`, same seed): ${fmt.int(fr.events)} events (${fmt.mb(fr.bytes)} MB), the same event-type mix and ` +
      `value distributions with no structure: each reading names a uniformly random process of the ${fmt.int(r.config.processes)} and, for a GPU, a uniformly ` +
      "random GPU of the 64, so every process ends up on every GPU and each GPU fault blocks every process.");
    p();
  }
  const g = r.binary?.graph ?? r.ingest[0]?.graph;
  const g10 = r.binary?.graph10;
  if (g) {
    head(["graph after loading", "processes", "resources", "error nodes", "consumes", "waits_on", "blocked_by", "edges"]);
    const gr = (name: string, x: GraphFigures) =>
      row([name, fmt.int(x.processes), fmt.int(x.resources), fmt.int(x.errors), fmt.int(x.consumes), fmt.int(x.waitsOn), fmt.int(x.blockedBy), fmt.int(x.edges)]);
    gr("busy host", g);
    if (g10) gr("10x processes", g10);
    p();
  }

  p("## Ingest");
  p();
  p("`xctl-exporter replay FILE` (graph, diagnosis and all, then the exposition) against the floor on the same runtime: " +
    "scripts/bench/floor.ts reads the file in 1 MiB chunks, splits lines and `JSON.parse`s each, nothing else. The binary's floor " +
    "runs on Bun. Times are whole processes, start to exit, measured by GNU time, which also gives the peak resident memory; " +
    "the two alternate, so both see the same machine, after one untimed run of each. \"inner\" is the replay's own figure (reading to the last event, without start-up and output). " +
    "A row with `--no-default-rules` replays without the rules: the graph, the counters and the exposition, and no diagnosis.");
  p();
  head(["runs on", "replay events/s", "floor events/s", "ratio (wall)", "per-run ratios (wall)", "ratio (CPU)", "replay inner events/s", "replay peak RSS", "floor peak RSS"]);
  for (const i of r.ingest) {
    // The spread says how far one run's ratio can be trusted on this machine.
    const each = i.runs.map((x) => x.replay.wallS / x.floor.wallS).sort((a, b) => a - b);
    row([
      _ingestLabel(i),
      fmt.int(i.events / i.replayWallS),
      fmt.int(i.events / i.floorWallS),
      `${fmt.f(i.ratioWall)}x`,
      each.length > 0 ? `${fmt.f(each[0])} to ${fmt.f(each[each.length - 1])}` : "",
      `${fmt.f(i.ratioCpu)}x`,
      fmt.int(i.events / i.replayInnerS),
      `${fmt.mb(i.peakRssBytes)} MB`,
      `${fmt.mb(i.floorPeakRssBytes)} MB`,
    ]);
  }
  p();
  const jit = r.ingest.filter((i) => i.jit !== undefined);
  if (jit.length > 0) {
    p("What the JIT compiled: one more run of each with `BUN_JSC_reportCompileTimes=1`, JavaScriptCore's own account of its compiles " +
      "(counted per tier, Baseline / DFG / FTL, and their CPU time). The compiler runs on two threads of its own, which share this " +
      "machine's cores with the replay, and until a function is compiled it runs in a slower tier. A process that ends after a " +
      "second pays this in full; a long-running exporter pays it once.");
    p();
    head(["replay on", "replay: compiles", "compile CPU", "floor: compiles", "compile CPU"]);
    // FTL here includes its compiles for entry in the middle of a loop (FTLForOSREntry).
    const tier = (w: JitWork, t: string) => {
      let k = 0;
      for (const [name, x] of Object.entries(w.tiers)) if (name === t || (t === "FTL" && name.startsWith("FTL"))) k += x.compiles;
      return k;
    };
    const n = (w: JitWork) => `${w.compiles} (${["Baseline", "DFG", "FTL"].map((t) => tier(w, t)).join(" / ")})`;
    for (const i of jit) row([_ingestLabel(i), n(i.jit!.replay), `${fmt.f(i.jit!.replay.ms / 1000, 3)} s`, n(i.jit!.floor), `${fmt.f(i.jit!.floor.ms / 1000, 3)} s`]);
    p();
  }

  if (r.stages) {
    const st = r.stages;
    p(`Where the time goes (scripts/bench/stages.ts on Bun, in one process, CPU seconds for the whole file, median of ${r.config.runs} runs; ` +
      "each stage builds on the one it names; framer+parse+validate is the full path a line takes when the scanner declines it, " +
      "framer+scan the path the exporter takes; +maps is the least any graph does per event (the entity's and the pid's node found or made in a Map, " +
      "the reading kept, the edge between them in a Set; no edge kinds, faults, expiry, counters or observers), a lower bound for the graph's design; " +
      "the exporter stages add counters, the event stream and the diagnosis engine; " +
      "the (warm) rows run the floor, +maps and the exporter again in the same process, once the JIT has compiled the code, " +
      "and are compared with the warm floor: the difference to the first pass is warm-up, which a long-running exporter pays once):");
    p();
    const sr = r.stagesRandom;
    const cols = ["stage", "on top of", "CPU s", "added by the stage", "vs floor"];
    head(sr ? [...cols, "random: CPU s", "added", "vs floor"] : cols);
    const added = (x: Record<string, number>, name: string) => {
      const base = _STAGE_BASE[name];
      return base === undefined || x[base] === undefined ? "" : `${fmt.f(x[name] - x[base], 3)} s`;
    };
    // A warm row is compared with the warm floor, where the run has one.
    const floorOf = (x: Record<string, number>, name: string) => (name.endsWith("(warm)") ? (x["floor (warm)"] ?? x.floor) : x.floor);
    for (const [name, sec] of Object.entries(st)) {
      const cells = [name, _STAGE_BASE[name] ?? "", fmt.f(sec, 3), added(st, name), `${fmt.f(sec / floorOf(st, name))}x`];
      if (sr) cells.push(fmt.f(sr[name], 3), added(sr, name), `${fmt.f(sr[name] / floorOf(sr, name))}x`);
      row(cells);
    }
    p();
  }

  const b = r.binary;
  if (b) {
    p("## Scrape");
    p();
    p(`\`GET /metrics\` with wrk, plain (no Accept-Encoding) unless marked gzip (which Prometheus asks for). The loaded exporter got the ` +
      `event file through \`--stdin\` first (in ${fmt.f(b.loadS, 1)} s: ${fmt.int(f.events / b.loadS)} events/s including HTTP polling of the count). ` +
      `These exporters and the diagnosis ones below run with \`--collectors none\`: the file's pids are synthetic, and builtin:procfs would end ` +
      `them all as vanished within its first poll, emptying the graph being measured.`);
    p();
    head(["server", "scrapes/s", "p50", "p99", "page bytes"]);
    const sr = (name: string, s: ScrapeResult, bytes: number) => row([name, fmt.int(s.rps), `${fmt.f(s.p50Ms, 2)} ms`, `${fmt.f(s.p99Ms, 2)} ms`, fmt.int(bytes)]);
    sr("binary, empty graph", b.emptyScrape, b.emptyBytes);
    sr(`binary, ${fmt.int(b.graph.edges)}-edge graph`, b.loadedScrape, b.loadedBytes);
    sr(`binary, ${fmt.int(b.graph.edges)}-edge graph, gzip`, b.gzipScrape, b.gzipScrape.runs[0]?.bytes ?? NaN);
    sr(`prometheus-node-exporter ${b.nodeExporter.version} (default collectors)`, b.nodeExporter, b.nodeExporter.bytes);
    p();

    p("## Diagnosis");
    p();
    if (r.engine) {
      p("scripts/bench/diagnosis.ts (the diagnosis engine's own benchmark, on Bun, in one process): a synthetic host with four " +
        "edges per process, a whole-host run after each change of a GPU's utilisation across the rules' thresholds, then per-pid runs.");
      p();
      head(["processes", "edges", "host-wide median", "host-wide p99", "per-pid median", "per-pid p99", "graph µs/event", "graph + matcher µs/event", "matching"]);
      for (const e of r.engine) {
        row([fmt.int(e.processes), fmt.int(e.edges), `${fmt.f(e.hostMedianMs, 4)} ms`, `${fmt.f(e.hostP99Ms, 4)} ms`, `${fmt.f(e.pidMedianMs, 4)} ms`, `${fmt.f(e.pidP99Ms, 4)} ms`, fmt.f(e.graphUsPerEvent), fmt.f(e.withMatcherUsPerEvent), e.matching]);
      }
      p();
    }
    p(`Through the API of the binary, loaded with the event files: \`POST /api/v1/diagnoses\` (a whole-host run) ${b.diag.runs} times, one at a time, after warm-up runs. ` +
      `"engine" is the run's own \`duration_ms\`; "HTTP net" is the round trip minus the median round trip of \`GET /healthz\` ` +
      `(${fmt.f(b.diag.emptyRouteMedianMs, 3)} ms here), so it includes serialising the result.`);
    p();
    head(["graph", "engine median", "engine p99", "HTTP net median", "HTTP net p99", "scene"]);
    const dr = (name: string, d: DiagResult) =>
      row([name, `${fmt.f(d.engineMedianMs, 3)} ms`, `${fmt.f(d.engineP99Ms, 3)} ms`, `${fmt.f(d.netMedianMs, 3)} ms`, `${fmt.f(d.netP99Ms, 3)} ms`, d.scene ?? "none"]);
    dr("empty", b.emptyDiag);
    dr(`busy host, ${fmt.int(b.graph.edges)} edges`, b.diag);
    dr(`10x processes, ${fmt.int(b.graph10.edges)} edges`, b.diag10);
    p();

    _live(r, p, head, row);

    p("## Footprint (binary)");
    p();
    head(["measure", "value"]);
    row(["binary size", `${fmt.mb(b.sizeBytes)} MB`]);
    row([`start to first 200 on /healthz (median of ${b.readyAllMs.length})`, `${fmt.int(b.readyMs)} ms (all: ${b.readyAllMs.map((x) => fmt.int(x)).join(", ")})`]);
    row(["idle resident memory (200 ms after ready)", `${fmt.mb(b.idleRss)} MB`]);
    row([`resident memory, ${fmt.int(b.graph.edges)}-edge graph loaded (peak)`, `${fmt.mb(b.loadedRss)} MB (${fmt.mb(b.loadedHwm)} MB)`]);
    row([`resident memory, 10x processes loaded`, `${fmt.mb(b.loaded10Rss)} MB`]);
    p();
  }

  if (r.scrape.length > 0) {
    p("## The source on each runtime");
    p();
    p("The same scrape figures for `src/main.ts` run by each runtime (ingest is in the table above).");
    p();
    head(["runtime", "empty scrapes/s", "loaded scrapes/s", "loaded/empty", "loaded p99", "stdin load events/s", "start to ready", "idle RSS", "loaded RSS"]);
    const rows: RuntimeScrape[] = [...r.scrape];
    for (const s of rows) {
      row([
        s.target,
        fmt.int(s.emptyScrape.rps),
        fmt.int(s.loadedScrape.rps),
        `${fmt.f(s.loadedScrape.rps / s.emptyScrape.rps)}x`,
        `${fmt.f(s.loadedScrape.p99Ms, 2)} ms`,
        fmt.int(f.events / s.loadS),
        `${fmt.int(s.readyMs)} ms`,
        `${fmt.mb(s.idleRss)} MB`,
        `${fmt.mb(s.loadedRss)} MB`,
      ]);
    }
    p();
  }

  p("## Reproduce");
  p();
  p("```sh");
  p("npm ci");
  p("npm run bench            # builds dist/ if stale, installs wrk / GNU time / node exporter if missing");
  p("BENCH_RUNS=5 BENCH_TARGETS=binary npm run bench   # more runs, the binary only");
  p("```");
  p();
  p("Event files are cached under `.bench/` by seed, size and shape (`scripts/bench/gen.ts --shape random` writes the random-placement one). " +
    "`scripts/bench/stages.ts FILE` splits ingest time by pipeline stage, `scripts/bench/profile-top.ts` summarises a `--cpu-prof` profile, " +
    "and `scripts/bench/ab.sh REV N FILE` compares the replay CPU of another revision's source with the working tree's, for finding what to fix; " +
    "`BENCH_BINARY=PATH npm run bench` measures another build as the binary.");
  p();
  return L.join("\n");
}

/** The binary at a realistic rate, and under a garbage flood (live.ts). */
function _live(r: Results, p: (s?: string) => void, head: (cells: string[]) => void, row: (cells: (string | number)[]) => void): void {
  const b = r.binary!;
  if (!b.paced && !b.flood) return;
  p("## Live");
  p();
  if (b.paced && b.paced.length > 0) {
    const x = b.paced[0];
    const shares = b.paced.map((q) => q.share);
    p(`The binary at a realistic rate: ${fmt.int(x.rate)} events/s of the busy-host file (time stamps set to now) written to \`--stdin\` every 10 ms as due, ` +
      `\`GET /metrics\` once a second, ${fmt.int(x.seconds)} s measured after 2 s of warm-up; CPU share of one core = the process's CPU time ` +
      "(`/proc/PID/stat` utime + stime) over that span. The exporter runs as installed (`--collectors auto`: the host collectors whose " +
      "sources this machine has run too, and their events count among those accepted). Median of the runs, each run listed; " +
      "the row with 0 events/s is one run of the same without events (scrapes, collectors and timers alone).");
    p();
    head(["events/s", "scrapes/s", "CPU share of one core (median)", "each run", "CPU µs per event (scrapes and idle work included)", "events written, accepted (all sources)"]);
    const med = median(shares);
    row([
      fmt.int(x.rate),
      "1",
      `${fmt.f(100 * med, 1)}%`,
      shares.map((v) => `${fmt.f(100 * v, 1)}%`).join(", "),
      fmt.f((med * 1e6) / x.rate, 1),
      b.paced.map((q) => `${fmt.int(q.written)}, ${fmt.int(q.accepted)}`).join("; "),
    ]);
    const idle = b.pacedIdle;
    if (idle) row(["0", "1", `${fmt.f(100 * idle.share, 1)}%`, "one run", "", `0, ${fmt.int(idle.accepted)}`]);
    p();
  }
  const f = b.flood;
  if (f) {
    const l = f.latenciesMs;
    p("`GET /healthz` while a probe floods the exporter with garbage (scripts/bench/garbage-probe.sh: lines of invalid UTF-8 and of broken JSON, " +
      `as fast as \`yes\` writes them; the probe runs from start-up): up to ${fmt.int(r.config.floodRequests ?? l.length)} requests one after another, 10 ms apart, ` +
      "each given up after 5 s (and counted at 5 s), all within 30 s; then SIGTERM (SIGKILL after 5 s).");
    p();
    head(["start to first 200", "requests", "timed out", "p50", "p99", "max", "lines rejected meanwhile", "SIGTERM to exit"]);
    row([
      Number.isFinite(f.readyMs) ? `${fmt.int(f.readyMs)} ms` : "none within 15 s",
      fmt.int(l.length),
      fmt.int(f.timeouts),
      `${fmt.f(median(l), 1)} ms`,
      `${fmt.f(percentile(l, 99), 1)} ms`,
      `${fmt.f(Math.max(...l), 1)} ms`,
      fmt.int(f.rejected),
      `${fmt.int(f.termMs)} ms${f.termMs >= 5000 ? " (SIGKILL)" : ""}`,
    ]);
    p();
  }
}

/** "binary (Bun), random placement, `--no-default-rules`": the runtime, the stream and the flags of an ingest row. */
function _ingestLabel(i: IngestResult): string {
  let s = i.target === "binary" ? "binary (Bun)" : `${i.target} (source)`;
  if (i.shape === "random") s += ", random placement";
  if (i.args !== undefined) s += `, \`${i.args.join(" ")}\``;
  return s;
}
