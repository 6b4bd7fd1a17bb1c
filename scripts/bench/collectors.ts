// The host collectors' CPU share at their default intervals, on a synthetic host tree: 1,000
// processes in the graph (each with stat, environ, cgroup, mountinfo, 24 fds and 8 threads, a
// quarter of them opening or closing a file between rounds; every eighth with 4 data-loader
// workers of 4 threads each, not in the graph), 8 GPUs, 8 RDMA ports (8 processes holding their
// verbs devices, 4 of them RoCE), 24 block devices.
// Each round is timed with process.cpuUsage() (user + system of every thread, the fs pool
// included) around one collector round, and its share of a core is CPU per round x rounds per
// second at the default interval. Rounds 1-8 include the one-off work (baselines, job lookups,
// the first fd scans); the steady figure is the mean of rounds 9-16; the table shows the median
// of BENCH_COLLECTOR_RUNS runs (default 5). Writes its section into BENCHMARKS.md (between
// markers, so the rest of the report stays) and .bench/collectors.json; `--report-only`
// re-renders that section from the JSON.
//
//   node_modules/.bin/bun scripts/bench/collectors.ts      # the binary's runtime
//   node --import tsx scripts/bench/collectors.ts
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createConsola } from "consola";
import { Exporter } from "../../src/exporter.ts";
import { DiskstatsSource, DISKSTATS_DEFAULT_INTERVAL_MS } from "../../src/sources/diskstats/index.ts";
import { INFINIBAND_DEFAULTS, InfinibandSource } from "../../src/sources/infiniband/index.ts";
import type { PollingSource } from "../../src/sources/poller.ts";
import { PROCFS_DEFAULTS, ProcfsSource } from "../../src/sources/procfs/index.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { ROOT } from "./util.ts";

const PROCESSES = 1000;
const GPUS = 8;
const PORTS = 8;
const FDS = 24;
/** Threads per process (task/), looked through for one stuck in D. */
const THREADS = 8;
/** Every WORKERS_EVERY-th process has WORKERS child processes (data-loader workers) of WORKER_THREADS threads. */
const WORKERS_EVERY = 8;
const WORKERS = 4;
const WORKER_THREADS = 4;
const ROUNDS = 16;
const STEADY_FROM = 8;
const RUNS = Number(process.env.BENCH_COLLECTOR_RUNS ?? 5);
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? "BENCHMARKS.md");
const JSON_OUT = join(ROOT, ".bench/collectors.json");
const BEGIN = "<!-- collectors:begin -->";
const END = "<!-- collectors:end -->";

interface Row {
  collector: string;
  intervalS: number;
  firstMsPerRound: number;
  steadyMsPerRound: number;
  /** Steady CPU share of one core, in percent. */
  sharePct: number;
  eventsPerRound: number;
}

interface Results {
  date: string;
  runtime: string;
  runs: number;
  host: string;
  /** The 1-minute load average when the runs began (other work on the machine inflates CPU time). */
  load?: number;
  rows: Row[];
}

declare const Bun: { version: string } | undefined;
declare const Deno: { version: { deno: string } } | undefined;
const runtime = typeof Bun !== "undefined" ? `bun ${Bun.version}` : typeof Deno !== "undefined" ? `deno ${Deno.version.deno}` : `node ${process.versions.node}`;

function _w(root: string, rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

/** The synthetic host: returns its root and the pids. */
function buildHost(): { root: string; pids: number[] } {
  const root = mkdtempSync(join(tmpdir(), "xctl-bench-host-"));
  _w(root, "proc/stat", "cpu  1 2 3 4 5 6 7 0 0 0\nbtime 1732500000\n");
  _w(root, "proc/1/stat", "1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7 0 0 0\n");
  const mounts = [
    "21 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw",
    "22 21 0:21 / /proc rw shared:12 - proc proc rw",
    "24 21 0:6 / /dev rw shared:2 - devtmpfs udev rw",
    "40 21 0:45 / /mnt/datasets rw shared:30 - nfs4 fileserver-01:/export/datasets rw,vers=4.2",
    "41 21 259:3 / /scratch rw shared:31 - xfs /dev/nvme1n1 rw",
  ].join("\n") + "\n";
  const pids: number[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    const pid = 10_000 + i;
    pids.push(pid);
    const d = `proc/${pid}`;
    _w(root, `${d}/stat`, `${pid} (python3) S 1 ${pid} ${pid} 0 -1 4194560 512034 0 14 0 81244 10311 0 0 20 0 41 0 2318844 82124513280 1250122 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 12 0 0 0 0 0\n`);
    _w(root, `${d}/environ`, `PATH=/usr/bin\0HOME=/home/u\0${i % 2 === 0 ? `SLURM_JOB_ID=${9000 + (i % 50)}\0` : ""}`);
    _w(root, `${d}/cgroup`, i % 2 === 0 ? `0::/system.slice/slurmstepd.scope/job_${9000 + (i % 50)}/step_0/user/task_${i % 8}\n` : "0::/user.slice/user-1000.slice/session-3.scope\n");
    _w(root, `${d}/mountinfo`, mounts);
    _w(root, `${d}/wchan`, "do_epoll_wait");
    // Threads: the main one and THREADS - 1 more, asleep; the main one the parent of the workers.
    const workers = i % WORKERS_EVERY === 0 ? Array.from({ length: WORKERS }, (_, w) => 3_000_000 + i * WORKERS + w) : [];
    for (let t = 0; t < THREADS; t++) {
      const tid = t === 0 ? pid : 1_000_000 + i * THREADS + t;
      _w(root, `${d}/task/${tid}/stat`, `${tid} (python3) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 41 0 2318844 0 0\n`);
      _w(root, `${d}/task/${tid}/children`, t === 0 ? workers.map((w) => `${w} `).join("") : "");
    }
    for (const w of workers) {
      _w(root, `proc/${w}/stat`, `${w} (pt_data_worker) S ${pid} ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 ${WORKER_THREADS} 0 2318900 0 0\n`);
      for (let t = 0; t < WORKER_THREADS; t++) {
        const tid = t === 0 ? w : 5_000_000 + (w - 3_000_000) * WORKER_THREADS + t;
        _w(root, `proc/${w}/task/${tid}/stat`, `${tid} (pt_data_worker) S ${pid} ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 ${WORKER_THREADS} 0 2318900 0 0\n`);
        _w(root, `proc/${w}/task/${tid}/children`, "");
      }
    }
    mkdirSync(join(root, d, "fd"), { recursive: true });
    for (let fd = 0; fd < FDS; fd++) {
      const target =
        fd === 3 && i < PORTS ? `/dev/infiniband/uverbs${i}` : fd < 3 ? "/dev/null" : fd % 3 === 0 ? `socket:[${pid * 100 + fd}]` : fd % 3 === 1 ? `/scratch/data/shard-${fd}.bin` : `pipe:[${pid * 100 + fd}]`;
      symlinkSync(target, join(root, d, "fd", String(fd)));
    }
  }
  const disks: string[] = [];
  for (let n = 0; n < 8; n++) {
    disks.push(` 259 ${n * 2} nvme${n}n1 163219 2871 9730214 31588 588221 310045 24761970 512034 0 361260 559430 0 0 0 0 20817 15807`);
    disks.push(` 259 ${n * 2 + 1} nvme${n}n1p1 162890 2871 9712598 31510 576034 310045 24761970 500102 0 355104 531612 0 0 0 0 0 0`);
    disks.push(`   7 ${n} loop${n} 58 0 2088 13 0 0 0 0 0 32 13 0 0 0 0 0 0`);
  }
  _w(root, "proc/diskstats", disks.join("\n") + "\n");
  const counters = ["symbol_error", "link_error_recovery", "link_downed", "port_rcv_errors", "port_xmit_discards", "local_link_integrity_errors", "excessive_buffer_overrun_errors", "port_rcv_remote_physical_errors", "port_xmit_data", "port_rcv_data", "port_xmit_packets", "port_rcv_packets", "port_xmit_wait"];
  const hw = ["out_of_sequence", "packet_seq_err", "local_ack_timeout_err", "rnr_nak_retry_err", "implied_nak_seq_err", "duplicate_request", "np_cnp_sent", "rp_cnp_handled", "np_ecn_marked_roce_packets", "rp_cnp_ignored", "rx_write_requests", "rx_read_requests"];
  for (let n = 0; n < PORTS; n++) {
    const p = `sys/class/infiniband/mlx5_${n}/ports/1`;
    _w(root, `${p}/state`, "4: ACTIVE\n");
    _w(root, `${p}/phys_state`, "5: LinkUp\n");
    _w(root, `${p}/link_layer`, n < 4 ? "InfiniBand\n" : "Ethernet\n");
    for (const c of counters) _w(root, `${p}/counters/${c}`, "1000\n");
    for (const c of hw) _w(root, `${p}/hw_counters/${c}`, "1000\n");
    _w(root, `sys/class/infiniband_verbs/uverbs${n}/ibdev`, `mlx5_${n}\n`);
  }
  return { root, pids };
}

/**
 * Moves the host on between rounds (not timed): counters rise, and a quarter of the processes
 * open or close a file (data loaders do, all the time), so fd scans find changed fd sets.
 */
function advanceHost(root: string, pids: number[], round: number): void {
  for (let n = 0; n < PORTS; n++) {
    for (const c of ["port_xmit_data", "port_rcv_data"]) _w(root, `sys/class/infiniband/mlx5_${n}/ports/1/counters/${c}`, `${1000 + round * 3_750_000_000}\n`);
  }
  for (let i = round % 4; i < pids.length; i += 4) {
    const fd = join(root, "proc", String(pids[i]), "fd", String(FDS));
    // existsSync follows the (dangling) link: ask lstat.
    let there = true;
    try {
      lstatSync(fd);
    } catch {
      there = false;
    }
    if (there) rmSync(fd);
    else symlinkSync(`/scratch/data/shard-${round}.bin`, fd);
  }
}

function context(exporter: Exporter, name: string): SourceContext {
  return {
    push: () => undefined,
    end: () => {},
    emit: (ev) => void exporter.ingest.object(ev, name),
    setUp: () => {},
    restarted: () => {},
    processes: () => [...exporter.graph.processes.values()].map((p) => ({ pid: p.pid, jobId: p.jobId, state: p.state })),
    log: exporter.log,
  };
}

async function measure(kind: "procfs" | "infiniband" | "diskstats", root: string, pids: number[]): Promise<Omit<Row, "collector" | "intervalS" | "sharePct">> {
  const log = createConsola({ level: -999 });
  const exporter = new Exporter({ log, liveClock: false, processMetrics: false });
  for (const pid of pids) exporter.ingest.object({ event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "start" }, "bench");
  for (let g = 0; g < GPUS; g++) exporter.ingest.object({ event_type: "compute.util", entity_id: `gpu-0${g}`, pid: pids[g], value: "90" }, "bench");
  let t = Date.now();
  const clock = () => t;
  const host = { procfs: join(root, "proc"), sysfs: join(root, "sys") };
  const src: PollingSource =
    kind === "procfs" ? new ProcfsSource({ host, clock }) : kind === "infiniband" ? new InfinibandSource({ ...host, clock }) : new DiskstatsSource({ procfs: host.procfs, clock });
  let events = 0;
  const ctx = context(exporter, kind);
  const emit = ctx.emit;
  ctx.emit = (ev) => {
    events++;
    emit(ev);
  };
  src.attach(ctx);
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    advanceHost(root, pids, r);
    const before = process.cpuUsage();
    await src.runOnce();
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / 1000);
    t += src.intervalMs;
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  return { firstMsPerRound: mean(cpu.slice(0, STEADY_FROM)), steadyMsPerRound: mean(cpu.slice(STEADY_FROM)), eventsPerRound: events / ROUNDS };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function render(r: Results): string {
  const total = r.rows.reduce((a, x) => a + x.sharePct, 0);
  const lines = [
    BEGIN,
    "## Host collectors",
    "",
    `CPU share of one core at each collector's default interval, on a synthetic host: ${PROCESSES.toLocaleString("en")} processes in the graph (24 fds and ${THREADS} threads each, a quarter opening or closing a file between rounds; one in ${WORKERS_EVERY} with ${WORKERS} child processes of ${WORKER_THREADS} threads each; threads and descendants are looked through within procfs's read budget of ${PROCFS_DEFAULTS.maxTaskReads.toLocaleString("en")} a round), ${GPUS} GPUs, ${PORTS} RDMA ports (4 InfiniBand, 4 RoCE), 24 block devices. ` +
      `CPU per round is process.cpuUsage() around one round (every thread, the fs pool included); share = steady CPU per round / interval. ` +
      `Steady = mean of rounds ${STEADY_FROM + 1}-${ROUNDS}; first = mean of rounds 1-${STEADY_FROM} (baselines, the one-off job lookups and fd scans). Median of ${r.runs} runs, ${r.runtime}, ${r.date.slice(0, 10)}, ${r.host}${r.load === undefined ? "" : `, load average ${r.load.toFixed(1)} at the start`}. Target: under 1% of a core together.`,
    "",
    "| collector | interval | CPU per round, first rounds | CPU per round, steady | events per round | share of a core |",
    "| --- | --- | --- | --- | --- | --- |",
    ...r.rows.map((x) => `| ${x.collector} | ${x.intervalS} s | ${x.firstMsPerRound.toFixed(1)} ms | ${x.steadyMsPerRound.toFixed(1)} ms | ${x.eventsPerRound.toFixed(1)} | ${x.sharePct.toFixed(3)}% |`),
    `| **together** | | | | | **${total.toFixed(3)}%** ${total < 1 ? "(under 1%)" : "(OVER the 1% target)"} |`,
    "",
    "Reproduce: `node_modules/.bin/bun scripts/bench/collectors.ts` (also run by `npm run bench`); `BENCH_COLLECTOR_RUNS` sets the runs.",
    END,
  ];
  return lines.join("\n");
}

function writeSection(section: string): void {
  const text = existsSync(OUT) ? readFileSync(OUT, "utf8") : "# Benchmarks\n";
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  let next: string;
  if (a !== -1 && b > a) next = text.slice(0, a) + section + text.slice(b + END.length);
  else {
    const at = text.indexOf("\n## Reproduce");
    next = at === -1 ? `${text.trimEnd()}\n\n${section}\n` : `${text.slice(0, at)}\n${section}\n${text.slice(at)}`;
  }
  writeFileSync(OUT, next);
}

async function main(): Promise<void> {
  if (process.argv.includes("--report-only")) {
    const r = JSON.parse(readFileSync(JSON_OUT, "utf8")) as Results;
    writeSection(render(r));
    console.log(render(r));
    return;
  }
  const { root, pids } = buildHost();
  const { loadavg } = await import("node:os");
  const load = loadavg()[0];
  const rows: Row[] = [];
  try {
    const intervals = { procfs: PROCFS_DEFAULTS.intervalMs, infiniband: INFINIBAND_DEFAULTS.intervalMs, diskstats: DISKSTATS_DEFAULT_INTERVAL_MS };
    for (const kind of ["procfs", "infiniband", "diskstats"] as const) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await measure(kind, root, pids));
      const steady = median(runs.map((x) => x.steadyMsPerRound));
      const row: Row = {
        collector: `builtin:${kind}`,
        intervalS: intervals[kind] / 1000,
        firstMsPerRound: median(runs.map((x) => x.firstMsPerRound)),
        steadyMsPerRound: steady,
        sharePct: (steady / intervals[kind]) * 100,
        eventsPerRound: median(runs.map((x) => x.eventsPerRound)),
      };
      rows.push(row);
      console.error(`${row.collector}: ${row.steadyMsPerRound.toFixed(2)} ms per round steady (${row.firstMsPerRound.toFixed(2)} first), ${row.sharePct.toFixed(3)}% of a core`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const { cpus } = await import("node:os");
  const results: Results = { date: new Date().toISOString(), runtime, runs: RUNS, host: `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}`, load, rows };
  // The JSON `--report-only` reads belongs to the default report only.
  if (process.env.BENCH_OUT === undefined) {
    mkdirSync(dirname(JSON_OUT), { recursive: true });
    writeFileSync(JSON_OUT, JSON.stringify(results, null, 2));
  }
  const section = render(results);
  writeSection(section);
  console.log(section);
}

await main();
