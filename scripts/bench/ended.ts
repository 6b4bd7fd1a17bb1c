// What keeping the last `why` answer of each process that leaves the graph costs
// (src/query/ended.ts): the work per removed process, timed around each keep.
//   FILE given: the recorded file through the exporter as replay configures it; every process
//     that leaves is timed (most of them ended and were cleaned up).
//   MASS=N: N processes on 8 GPUs, a Xid 79 on each GPU, all of them exit at once, one cleanup
//     removes them: the answers of the first ones ask the rules, the rest are past the budget.
// Prints one JSON object: removals, with and without scenes, mean and max µs per keep.
//
//   bun scripts/bench/ended.ts FILE     MASS=5000 bun scripts/bench/ended.ts
import { closeSync, openSync, readSync } from "node:fs";
import { createConsola } from "consola";
import { Exporter } from "../../src/exporter.ts";

const log = createConsola({ level: 1 });
const x = new Exporter({ log, processMetrics: false, liveClock: false, describeAutoRuns: false, maxNodes: 1_000_000 });
const t = { asked: [] as number[], skipped: [] as number[] };
x.graph.onLeave((p, reason) => {
  const before = x.ended!.scenesSkipped;
  const t0 = performance.now();
  x.ended!.keep(p, reason);
  const us = (performance.now() - t0) * 1000;
  (x.ended!.scenesSkipped === before ? t.asked : t.skipped).push(us);
});

const mass = Number(process.env.MASS ?? 0);
if (mass > 0) {
  const T0 = 1_732_500_000_000;
  const lines: string[] = [];
  const ev = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null) => lines.push(JSON.stringify({ ts, event_type, entity_id, pid, job_id: pid === null ? null : `job-${pid % 97}`, value }));
  for (let i = 0; i < mass; i++) ev(T0 + 1, "process.state", "host", "start", 10_000 + i);
  for (let i = 0; i < mass; i++) ev(T0 + 2, "compute.util", `gpu-0${i % 8}`, "90", 10_000 + i);
  for (let g = 0; g < 8; g++) ev(T0 + 3, "error.hw", `gpu-0${g}`, "XID_79", null);
  for (let i = 0; i < mass; i++) ev(T0 + 4, "process.state", "host", "exit", 10_000 + i);
  ev(T0 + 2_000, "compute.util", "gpu-00", "1", null);
  const input = x.ingest.feed("bench", { streamClock: true });
  input.push(new TextEncoder().encode(lines.join("\n") + "\n"));
  input.end();
} else {
  const file = process.argv[process.argv.length - 1];
  const input = x.ingest.feed("bench", { streamClock: true });
  const fd = openSync(file, "r");
  const buf = new Uint8Array(1024 * 1024);
  for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) input.push(buf.subarray(0, n));
  closeSync(fd);
  input.end();
}
x.cleanup(Date.now());

const stats = (a: number[]) => ({ n: a.length, mean_us: a.length ? Math.round((a.reduce((s, v) => s + v, 0) / a.length) * 10) / 10 : 0, max_us: Math.round(Math.max(0, ...a)), total_ms: Math.round(a.reduce((s, v) => s + v, 0) / 100) / 10 });
process.stdout.write(JSON.stringify({ scenes_asked: stats(t.asked), scenes_skipped: stats(t.skipped), kept: x.ended!.size, dropped: x.ended!.dropped }) + "\n");
