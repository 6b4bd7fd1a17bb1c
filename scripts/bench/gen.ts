// Deterministic busy-host event file for the benchmarks: a seeded history of ~P processes in
// jobs spread over 64 GPUs, 16 NICs and 8 NVMe devices, every event type present, about one
// event in a thousand an error. The same (seed, events, processes) always gives the same bytes,
// so files are cached under .bench/ by that key.
//
//   node --import tsx scripts/bench/gen.ts [--seed 42] [--events 1000000] [--processes 1000] [--shape structured|random | --random] [--out FILE]
//
// Shape: each process starts with a placement burst (process.state start, intent.run, one
// compute.util per GPU of its job: the `consumes` edges), then the steady stream samples
// readings. Jobs span 32 or 64 GPUs, so ~1000 processes make a graph of about 100k edges, the
// size the targets are written against.
//
// `--shape random` gives the same event-type mix and value distributions with no structure:
// every reading names a uniformly random pid of the P live ones and, for a GPU, a uniformly
// random GPU of 64 (so every process ends up on every GPU, and the edges, error fan-out and
// matcher state are spread over the whole graph rather than kept within jobs). A process
// starts with `process.state start` and `intent.run` only (no placement burst), keeps its job
// id for life, and a churned pid is replaced by a new one, so P stay live.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { seededRandom } from "../../src/sources/demo-host.ts";

// 3: the random-placement shape as described above (an earlier one, with a placement burst and
// churned processes back on their job's GPUs, was cached under the same name).
export const GEN_VERSION = 3;
export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../.bench");

const GPUS = Array.from({ length: 64 }, (_, i) => `gpu-${String(i).padStart(2, "0")}`);
const NICS = Array.from({ length: 16 }, (_, i) => `mlx5_${i}`);
const NVME = Array.from({ length: 8 }, (_, i) => `nvme${i}n1`);
const GPU_XIDS = ["XID_79", "XID_48", "XID_31", "XID_63", "OOM"];
const NET_ERRORS = ["CQE_ERROR", "PORT_ERR", "RETRY_EXCEEDED", "PFC_STORM"];
const IO_ERRORS = ["io_error", "timeout", "media_error"];
const JOB_SPANS = [32, 64, 64, 64];

/** `structured`: processes placed on their job's GPUs (the default); `random`: uniformly random placement. */
export type Shape = "structured" | "random";

export interface GenOptions {
  seed: number;
  events: number;
  processes: number;
  shape?: Shape;
}

export interface GenResult {
  path: string;
  events: number;
  bytes: number;
  cached: boolean;
}

interface Proc {
  pid: number;
  job: string;
  gpus: number[];
}

export function benchFile(o: GenOptions): string {
  const shape = o.shape === "random" ? "-random" : "";
  return join(BENCH_DIR, `events-v${GEN_VERSION}-s${o.seed}-n${o.events}-p${o.processes}${shape}.ndjson`);
}

/** Writes the file unless the cache has it; returns its path. */
export function generate(o: GenOptions, out = benchFile(o)): GenResult {
  if (existsSync(out)) return { path: out, events: o.events, bytes: 0, cached: true };
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  const rand = seededRandom(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  let ts = 1_732_500_000_000;
  let written = 0;
  let bytes = 0;
  let buf: string[] = [];
  const emit = (type: string, entity: string, job: string | null, pid: number | null, value: string) => {
    ts += rand() < 0.5 ? 1 : 2; // ~1.5 ms apart: a million events span ~25 minutes
    buf.push(
      `{"ts":${ts},"event_type":"${type}","entity_id":"${entity}","job_id":${job === null ? "null" : `"${job}"`},"pid":${pid === null ? "null" : pid},"value":"${value}"}`,
    );
    written++;
    if (buf.length >= 4096) flush();
  };
  const flush = () => {
    if (buf.length === 0) return;
    const text = buf.join("\n") + "\n";
    bytes += writeSync(fd, text);
    buf = [];
  };

  // Jobs: a job spans 32 or 64 GPUs; its processes each drive every GPU of the job.
  let nextPid = 10_000;
  let jobNo = 0;
  const jobs: { id: string; gpus: number[] }[] = [];
  const newJob = () => {
    const span = pick(JOB_SPANS);
    const first = span === 64 ? 0 : Math.floor(rand() * 2) * 32;
    const job = { id: `job-${String(jobNo++).padStart(4, "0")}`, gpus: Array.from({ length: span }, (_, i) => first + i) };
    jobs.push(job);
    return job;
  };
  for (let i = 0; i < Math.max(1, Math.round(o.processes / 60)); i++) newJob();
  const procs: Proc[] = [];
  const random = o.shape === "random";
  const ALL_GPUS = GPUS.map((_, i) => i);
  const start = (job: { id: string; gpus: number[] }) => {
    const p: Proc = { pid: nextPid++, job: job.id, gpus: random ? ALL_GPUS : job.gpus };
    procs.push(p);
    emit("process.state", `pid-${p.pid}`, p.job, p.pid, "start");
    emit("intent.run", `pid-${p.pid}`, p.job, p.pid, "train");
    if (!random) for (const g of p.gpus) emit("compute.util", GPUS[g], p.job, p.pid, String(50 + Math.floor(rand() * 50)));
  };
  for (let i = 0; i < o.processes && written < o.events; i++) start(pick(jobs));

  while (written < o.events) {
    const r = rand();
    const p = procs[Math.floor(rand() * procs.length)];
    const withPid = rand() < 0.9;
    const job = withPid ? p.job : null;
    const pid = withPid ? p.pid : null;
    if (r < 0.001) {
      // Errors: mostly network and storage; GPU faults are the rarest (and block the most).
      const e = rand();
      if (e < 0.2) emit("error.hw", GPUS[pick(p.gpus)], p.job, p.pid, pick(GPU_XIDS));
      else if (e < 0.4) emit("error.hw", pick(NVME), null, null, pick(IO_ERRORS));
      else if (e < 0.8) emit("error.net", pick(NICS), null, null, pick(NET_ERRORS));
      else emit("topo.link_down", pick(NICS), null, null, "DOWN");
    } else if (r < 0.0012) {
      // Churn: a process ends (exit, sometimes zombie) and its job starts a replacement.
      const i = procs.indexOf(p);
      procs.splice(i, 1);
      emit("process.state", `pid-${p.pid}`, p.job, p.pid, rand() < 0.9 ? "exit" : "zombie");
      start(jobs.find((j) => j.id === p.job)!);
    } else if (r < 0.0013) {
      emit("action.exec", `pid-${p.pid}`, p.job, p.pid, "kill");
    } else if (r < 0.002) {
      emit("intent.run", `pid-${p.pid}`, p.job, p.pid, "train");
    } else if (r < 0.32) {
      // Readings in the units the probes use (builtin:demo, nvidia-smi): percent for GPUs.
      emit("compute.util", GPUS[pick(p.gpus)], job, pid, String(rand() < 0.03 ? Math.floor(rand() * 10) : 60 + Math.floor(rand() * 40)));
    } else if (r < 0.5) {
      emit("compute.mem", GPUS[pick(p.gpus)], job, pid, String(rand() < 0.005 ? 95 + Math.floor(rand() * 5) : 40 + Math.floor(rand() * 50)));
    } else if (r < 0.68) {
      // Bandwidth in GB/s; 1 in 50 readings says the process is waiting.
      const w = rand();
      emit("transport.bw", pick(NICS), job, pid, w < 0.01 ? "IO_WAIT" : w < 0.02 ? "0.4" : (1 + rand() * 24).toFixed(1));
    } else if (r < 0.7) {
      // Drops: a NIC's count; during a storm (1 in 10) attributed to a process.
      const storm = rand() < 0.1;
      emit("transport.drop", pick(NICS), storm ? p.job : null, storm ? p.pid : null, String(storm ? 10 + Math.floor(rand() * 70) : Math.floor(rand() * 2)));
    } else if (r < 0.85) {
      emit("storage.iops", pick(NVME), job, pid, rand() < 0.02 ? "0" : String(1000 + Math.floor(rand() * 200000)));
    } else {
      emit("storage.qdepth", pick(NVME), job, pid, rand() < 0.02 ? "IO_WAIT" : String(1 + Math.floor(rand() * 64)));
    }
  }
  flush();
  // On disk before anything is timed: otherwise the first runs read while the kernel still
  // writes the file back, and time that.
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, out);
  return { path: out, events: written, bytes, cached: false };
}

function _flag(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(argv[i + 1]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const s = argv.indexOf("--shape");
  const shape = (argv.includes("--random") ? "random" : s === -1 ? "structured" : argv[s + 1]) as Shape;
  if (shape !== "structured" && shape !== "random") throw new Error(`--shape: structured or random, not ${shape}`);
  const o = { seed: _flag(argv, "seed", 42), events: _flag(argv, "events", 1_000_000), processes: _flag(argv, "processes", 1000), shape };
  const i = argv.indexOf("--out");
  const r = generate(o, i === -1 ? undefined : argv[i + 1]);
  console.log(`${r.cached ? "cached" : "wrote"} ${r.path} (${r.events} events)`);
}
