// Diagnosis run time against graph size: median and p99 of a host-wide run with 100,000
// edges and with ten times the processes (1,000,000 edges), plus per-pid runs and the cost
// the matcher adds to each event. A run reads only the per-condition state, so its time
// should not grow with the graph.
// It also reports how many processes a host run of the process-scoped rules asks about (the
// candidates, not the graph) and what a repeated error costs on an entity with 50,000 users.
//   node --import tsx scripts/bench/diagnosis.ts [--runs 2000] [--small]
import { DiagnosisEngine } from "../../src/diagnosis/engine.ts";
import { defaultRules } from "../../src/diagnosis/rules-load.ts";
import type { XEvent } from "../../src/events/schema.ts";
import { StateGraph } from "../../src/graph/graph.ts";
import { newDiagnosisState } from "../../src/diagnosis/state.ts";

const RUNS = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 2000;
const T0 = 1_732_500_000_000;

interface Setup {
  graph: StateGraph;
  engine: DiagnosisEngine;
  feed(ev: Partial<XEvent> & Pick<XEvent, "event_type" | "entity_id">): void;
}

function setup(withEngine: boolean): Setup {
  const graph = new StateGraph({ maxNodes: 10_000_000 });
  const state = newDiagnosisState();
  // Event-time debounce with a long interval: only the runs measured here happen.
  const engine = new DiagnosisEngine({ graph, state, liveClock: false, intervalMs: 1e12 });
  if (withEngine) engine.setRules(defaultRules());
  let ts = T0;
  const wall = Date.now();
  return {
    graph,
    engine,
    feed(ev) {
      const full: XEvent = { ts: ts++, job_id: null, pid: null, value: "", ...ev };
      graph.apply(full, wall);
      if (withEngine) engine.accept(full, wall);
    },
  };
}

/** Four edges per process: consumes a GPU, waits on a NIC and on storage, blocked by a GPU error. */
function populate(s: Setup, processes: number): number {
  const gpus = Math.max(8, Math.floor(processes / 25));
  const started = performance.now();
  let events = 0;
  for (let p = 1; p <= processes; p++) {
    const gpu = `gpu-${p % gpus}`;
    s.feed({ event_type: "process.state", entity_id: "host", pid: p, job_id: `job-${p % 500}`, value: "start" });
    s.feed({ event_type: "compute.util", entity_id: gpu, pid: p, value: String(40 + (p % 50)) });
    s.feed({ event_type: "compute.mem", entity_id: gpu, pid: p, value: String(50 + (p % 40)) });
    s.feed({ event_type: "transport.bw", entity_id: `mlx5_${p % 8}`, pid: p, value: "0.5" });
    s.feed({ event_type: "storage.iops", entity_id: `storage-${p % 64}`, pid: p, value: "IO_WAIT" });
    events += 5;
  }
  for (let g = 0; g < gpus; g++) s.feed({ event_type: "error.hw", entity_id: `gpu-${g}`, value: g % 2 ? "XID_79" : "XID_48" });
  events += gpus;
  return (performance.now() - started) / events;
}

function stats(samples: number[]): { median: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

function measure(processes: number): void {
  const bare = setup(false);
  const bareMs = populate(bare, processes);
  const s = setup(true);
  const perEventMs = populate(s, processes);
  const e = s.graph.edges;
  const edges = e.consumes + e.waits_on + e.blocked_by;

  // Between runs a GPU's utilisation swings across the rules' thresholds, so scenes start
  // and end and each run has fresh work; only the run itself is timed.
  const host: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    s.feed({ event_type: "compute.util", entity_id: "gpu-0", value: i % 2 ? "2" : "80" });
    const t = performance.now();
    s.engine.runNow("api");
    host.push(performance.now() - t);
  }
  const scenes = s.engine.results(1)[0].matches.map((m) => m.scene).join(",");
  const pid: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    s.engine.runForPid(1 + ((i * 7919) % processes), "api");
    pid.push(performance.now() - t);
  }
  const asked0 = s.engine.processesAsked;
  for (let i = 0; i < 100; i++) {
    s.feed({ event_type: "compute.util", entity_id: "gpu-0", value: i % 2 ? "2" : "80" });
    s.engine.runNow("auto");
  }
  const askedPerRun = (s.engine.processesAsked - asked0) / 100;
  const h = stats(host.slice(Math.floor(RUNS / 10)));
  const p = stats(pid.slice(Math.floor(RUNS / 10)));
  const f = (x: number) => x.toFixed(4);
  process.stdout.write(
    `processes=${processes} edges=${edges} rules=${s.engine.rules.length}\n` +
      `  host-wide run ms: median=${f(h.median)} p99=${f(h.p99)} max=${f(h.max)} (matching: ${scenes})\n` +
      `  per-pid run ms:   median=${f(p.median)} p99=${f(p.p99)} max=${f(p.max)}\n` +
      `  processes asked per host run (process-scoped rules): ${askedPerRun.toFixed(1)} of ${processes}\n` +
      `  per event us: graph only=${(bareMs * 1000).toFixed(2)} graph+matcher=${(perEventMs * 1000).toFixed(2)}\n`,
  );
}

/**
 * Issue 13 point 5: 50,000 processes on gpu-0, then 20,000 error.hw on gpu-0. The first links
 * every user (in chunks); each repeat should cost what an error on an unused entity costs.
 */
function errorRefresh(users: number, errors: number): void {
  const s = setup(true);
  for (let p = 1; p <= users; p++) s.feed({ event_type: "compute.util", entity_id: "gpu-0", pid: p, value: "50" });
  let t = performance.now();
  s.feed({ event_type: "error.hw", entity_id: "gpu-0", value: "XID_79" });
  const first = performance.now() - t;
  const linkedAtOnce = s.graph.edges.blocked_by;
  let worst = 0;
  t = performance.now();
  for (let i = 0; i < errors; i++) {
    const t1 = performance.now();
    s.feed({ event_type: "error.hw", entity_id: "gpu-0", value: i % 2 ? "XID_79" : "XID_48" });
    worst = Math.max(worst, performance.now() - t1);
  }
  const busy = (performance.now() - t) / errors;
  t = performance.now();
  for (let i = 0; i < errors; i++) s.feed({ event_type: "error.hw", entity_id: "gpu-idle", value: i % 2 ? "XID_79" : "XID_48" });
  const idle = (performance.now() - t) / errors;
  process.stdout.write(
    `error refresh, ${users} users of gpu-0: first error ms=${first.toFixed(2)} (links ${linkedAtOnce} at once, the rest in chunks)\n` +
      `  each of ${errors} repeats us: ${(busy * 1000).toFixed(2)}, the first ${Math.ceil((users - linkedAtOnce) / 512)} also making 512 pending links each (worst event ms ${worst.toFixed(2)}); on an entity nobody uses: ${(idle * 1000).toFixed(2)}\n`,
  );
}

process.stdout.write(`diagnosis benchmark (${RUNS} runs each; first 10% discarded as warm-up)\n`);
// Warm the JIT on both paths so the per-event figures compare like with like.
populate(setup(false), 5_000);
populate(setup(true), 5_000);
measure(25_000);
if (!process.argv.includes("--small")) measure(250_000);
errorRefresh(50_000, 20_000);
