// Wrong answers found by the fourth audit of the diagnosis, through the compiled binary as a user
// meets them (`why`, `ps -o wide`, `status`, /metrics): an HCCS link's errors charged to a job
// waiting on another link, a queue of the busy minutes before a file system froze read as slow
// storage now, a process name in the driver's Xid line read as an OOM, and a contained ECC error
// (Xid 94) charged to the other tenant of the GPU, an NPU's ECC count from before the exporter
// started charged to the job on the chip now, and a GPU fallen off the bus "idle" for good on the
// utilisation it read before it fell, an empty job id read as another job, and a job that finished
// after an Xid 63 taken for a crash.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, settled, sleep, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

/** Pushes `events`, each `ago` seconds before now (0 when not given). */
async function push(ex: RunningExporter, events: ({ ago?: number } & Record<string, unknown>)[]): Promise<void> {
  const now = Date.now();
  const body = events.map(({ ago, ...e }) => JSON.stringify({ ts: now - (ago ?? 0) * 1000, ...e })).join("\n");
  const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
  assert.equal(res.status, 200, await res.text());
}

/** After the runs the last push started: a run, then twice the interval for any it asked for. */
async function afterRuns(ex: RunningExporter, runsBefore: number): Promise<void> {
  await settled(async () => assert.ok(((await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0) > runsBefore, "a diagnosis run"));
  await sleep(400);
}

const runs = async (ex: RunningExporter) => (await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0;

const cli = (ex: RunningExporter) => async (...args: string[]) => {
  const r = await runCli([...args, "--url", ex.url], { timeoutMs: 10_000 });
  return r.stdout + r.stderr;
};

const start = (pid: number, job: string, ago = 0) => ({ ago, event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: job, value: "start" });
/** A device reading with the pid of a process using it, as builtin:nvidia-smi and npu-smi send them. */
const uses = (pid: number, job: string, dev: string, key: "compute.util" | "compute.mem", value: string, ago = 0) => ({ ago, event_type: key, entity_id: dev, pid, job_id: job, value });
/** builtin:diskstats' round for `dev`. */
const disk = (dev: string, iops: string, qdepth: string, ago: number) => [
  { ago, event_type: "storage.iops", entity_id: dev, value: iops },
  { ago, event_type: "storage.qdepth", entity_id: dev, value: qdepth },
];
/** The row of `pid` in `ps -o wide`. */
const row = (ps: string, pid: number) => ps.split("\n").find((l) => l.startsWith(`${pid} `)) ?? "";

describe("truth, fourth audit, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("errors of an HCCS link nobody uses start no hccs_error for a job waiting on another, healthy link", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const before = await runs(ex);
      await push(ex, [
        start(5300, "job-53", 30),
        uses(5300, "job-53", "npu-00", "compute.util", "91", 25),
        start(5304, "job-54", 30),
        uses(5304, "job-54", "npu-04", "compute.util", "90", 25),
        // job-54's own probe: its HCCS bandwidth on hccs-4 between exchanges, below 1 (waits_on).
        { ago: 20, event_type: "transport.bw", entity_id: "hccs-4", pid: 5304, job_id: "job-54", value: "0.3" },
        // hccs-1, a link no process uses, counts errors (builtin:npu-smi).
        { event_type: "error.net", entity_id: "hccs-1", value: "HCCS error count +3 total=3" },
      ]);
      await afterRuns(ex, before);
      const run = cli(ex);
      const status = await run("status");
      assert.doesNotMatch(status, /hccs_error/, status);
      assert.equal((await scrape(ex.url)).get('xctl_scene_active{scene="hccs_error"}'), 0);
      const ps = await run("ps", "-o", "wide");
      assert.match(row(ps, 5304), /hccs-4/, ps);
      assert.doesNotMatch(row(ps, 5304), /hccs_error|HCCS error/, ps);
      // The link it waits on fails: now it is held up by it.
      await push(ex, [{ event_type: "error.net", entity_id: "hccs-4", value: "HCCS link down: health=NOK" }]);
      await settled(async () => {
        const s = await run("status");
        assert.match(s, /hccs_error[\s\S]*pids: 5304\b/, s);
      });
    } finally {
      await ex.stop();
    }
  });

  it("a process in D on storage whose queue emptied when its file system froze is not storage_slow for the busy minutes before", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const before = await runs(ex);
      await push(ex, [
        start(5401, "job-54", 120),
        // Busy until 50 s ago (4 in flight), then 40 IOPS and nothing in flight, round after round.
        ...[100, 90, 80, 70, 60].flatMap((ago) => disk("storage-01", "5200", "4", ago)),
        ...[50, 40, 30, 20, 10, 0].flatMap((ago) => disk("storage-01", "40", "0", ago)),
        // builtin:procfs: in D on it for 45 s (after the disk's round).
        { event_type: "process.state", entity_id: "pid-5401", pid: 5401, value: "D" },
        { event_type: "storage.qdepth", entity_id: "storage-01", pid: 5401, value: "IO_WAIT D for 45s" },
      ]);
      await afterRuns(ex, before);
      const run = cli(ex);
      const why = await run("why", "5401");
      assert.match(why, /waits on:\n {2}storage-01 /, why);
      assert.doesNotMatch(why, /storage_slow/, why);
      assert.doesNotMatch(row(await run("ps", "-o", "wide"), 5401), /storage_slow/);
      // The storage now queues I/O at 30 IOPS: that is slow storage.
      await push(ex, [...disk("storage-01", "30", "12", 0), { event_type: "storage.qdepth", entity_id: "storage-01", pid: 5401, value: "IO_WAIT D for 55s" }]);
      await settled(async () => {
        const w = await run("why", "5401");
        assert.match(w, /storage_slow/, w);
      });
    } finally {
      await ex.stop();
    }
  });

  it("an Xid 48 whose driver line names a process called bloom-serve is both tenants' GPU fault and no one's OOM", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      await push(ex, [
        start(5500, "job-55", 30),
        start(5501, "job-56", 30),
        uses(5500, "job-55", "gpu-00", "compute.mem", "97", 20),
        uses(5501, "job-56", "gpu-00", "compute.mem", "97", 20),
        { event_type: "error.hw", entity_id: "gpu-00", pid: 5500, value: "XID_48 NVRM: Xid (PCI:0000:18:00): 48, pid=5500, name=bloom-serve, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 2, subpartition 0." },
      ]);
      const run = cli(ex);
      await settled(async () => {
        const other = await run("why", "5501");
        assert.match(other, /root causes:\n {2}XID_48 /, other);
        assert.match(other, /gpu_xid/, other);
      });
      const named = await run("why", "5500");
      assert.match(named, /gpu_xid/, named);
      assert.doesNotMatch(named, /gpu_oom/, named);
      assert.doesNotMatch(await run("status"), /gpu_oom/);
    } finally {
      await ex.stop();
    }
  });

  it("builtin:npu-smi takes an ECC count from before the exporter started as the baseline, not a fault of the job on the chip now; a rise is", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-truth4-npu-"));
    const state = join(dir, "state");
    // npu-00 counted two double-bit HBM errors last week; nobody cleared the counter.
    writeFileSync(state, "HBM_DBE0=2\n");
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--probe", "builtin:npu-smi?interval=0.2&detail=0.2"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_NPU_STATE: state },
    });
    try {
      await eventually(() => /uncorrectable ECC errors counted before this exporter started on npu-00: double-bit hbm=2/.test(ex.stderr()), 15_000, "the baseline's warning");
      await eventually(async () => (await scrape(ex.url)).get("xctl_consumes_edges") === 2, 15_000, "both processes on their NPUs");
      await sleep(600);
      const run = cli(ex);
      const why = await run("why", "7101");
      assert.match(why, /root causes:\n {2}none known/, why);
      assert.equal((await scrape(ex.url)).get('xctl_scene_active{scene="npu_ecc_error"}'), 0);
      // A new double-bit error while it runs: that one is its.
      writeFileSync(state, "HBM_DBE0=3\n");
      await settled(async () => {
        const st = await run("status");
        assert.match(st, /npu_ecc_error[\s\S]*ECC_UNCORRECTED double-bit hbm=3[\s\S]*pids: 7101\s/, st);
      });
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a GPU that falls off the bus while it idles is lost, not idle: its last utilisation does not stand for now", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-truth4-smi-"));
    const lost = join(dir, "lost");
    // GPU 1 idles at 2% under the process (a checkpoint, the input pipeline); the process is this
    // test's own pid, so that /proc holds it alive when nvidia-smi stops listing it.
    const env = { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_UTIL1: "2", FAKE_SMI_PID2: String(process.pid), FAKE_SMI_LOST_FILE: lost };
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--scene-settle", "0s", "--probe", "builtin:nvidia-smi"], { env });
    try {
      const run = cli(ex);
      const pid = String(process.pid);
      await settled(async () => {
        const w = await run("why", pid);
        assert.match(w, /gpu_util_low/, w);
      });
      writeFileSync(lost, "");
      await settled(async () => {
        const w = await run("why", pid);
        assert.match(w, /gpu_xid/, w);
        assert.match(w, /consumes:\n {2}gpu-01 {2}util=\[GPU is lost\]/, w);
        assert.doesNotMatch(w, /gpu_util_low|workload_stalled/, w);
      });
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an empty job id on a process's own readings is no job: its Xid 13 stays its root cause", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      // The scheduler's start names the job; the script's own probe writes SLURM_JOB_ID or "".
      const own = (ago: number) => ({ ago, event_type: "compute.mem", entity_id: "gpu-00", pid: 5700, job_id: "", value: "77" });
      await push(ex, [
        start(5700, "job-59", 60),
        own(50),
        { ago: 40, event_type: "error.hw", entity_id: "gpu-00", pid: 5700, value: "XID_13 NVRM: Xid (PCI:0000:18:00): 13, pid=5700, name=python3, Graphics Exception: ESR 0x51a730=0x400000c" },
        own(30),
        own(20),
      ]);
      const run = cli(ex);
      await settled(async () => {
        const w = await run("why", "5700");
        assert.match(w, /^pid 5700 {2}job job-59 /, w);
        assert.match(w, /root causes:\n {2}XID_13 /, w);
        assert.match(w, /gpu_xid/, w);
        assert.doesNotMatch(w, /an earlier process on this pid/, w);
      });
    } finally {
      await ex.stop();
    }
  });

  it("a job that finishes two minutes after an Xid 63 (a row marked for remapping) on its GPU did not crash of it", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      await push(ex, [
        start(5800, "job-60", 200),
        uses(5800, "job-60", "gpu-01", "compute.util", "92", 190),
        { ago: 120, event_type: "error.hw", entity_id: "gpu-01", pid: 5800, value: "XID_63 NVRM: Xid (PCI:0000:2a:00): 63, pid=5800, name=python3, Row Remapper: New row (0x0000000000001a2b) is marked for remapping, reset gpu to activate." },
      ]);
      const run = cli(ex);
      await settled(async () => assert.match(await run("status"), /gpu_xid[\s\S]*pids: 5800\s/));
      const before = await runs(ex);
      await push(ex, [{ event_type: "process.state", entity_id: "pid-5800", pid: 5800, job_id: "job-60", value: "exit" }]);
      await afterRuns(ex, before);
      assert.doesNotMatch(await run("status"), /process_crash/);
      assert.equal((await scrape(ex.url)).get('xctl_scene_activations_total{scene="process_crash"}'), 0);
    } finally {
      await ex.stop();
    }
  });

  it("a contained ECC error (Xid 94) is the named tenant's alone: the other tenant's clean exit a minute later is no crash", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      await push(ex, [
        start(5600, "job-57", 120),
        start(5601, "job-58", 120),
        uses(5600, "job-57", "gpu-01", "compute.util", "90", 110),
        uses(5601, "job-58", "gpu-01", "compute.util", "90", 110),
        { ago: 60, event_type: "error.hw", entity_id: "gpu-01", pid: 5600, value: "XID_94 NVRM: Xid (PCI:0000:2a:00): 94, pid=5600, name=python3, Contained: SM (0x1). RST: No, D-RST: No" },
      ]);
      const run = cli(ex);
      await settled(async () => {
        const hit = await run("why", "5600");
        assert.match(hit, /root causes:\n {2}XID_94 /, hit);
      });
      const other = await run("why", "5601");
      assert.match(other, /root causes:\n {2}none known/, other);
      const before = await runs(ex);
      await push(ex, [{ event_type: "process.state", entity_id: "pid-5601", pid: 5601, job_id: "job-58", value: "exit" }]);
      await afterRuns(ex, before);
      const status = await run("status");
      assert.doesNotMatch(status, /process_crash/, status);
      assert.match(status, /gpu_xid[\s\S]*pids: 5600\s/, status);
      assert.equal((await scrape(ex.url)).get('xctl_scene_activations_total{scene="process_crash"}'), 0);
    } finally {
      await ex.stop();
    }
  });
});
