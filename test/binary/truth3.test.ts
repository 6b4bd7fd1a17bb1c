// Wrong answers found by the third audit of the diagnosis, on what the built-in collectors send
// (builtin:procfs's D waits, builtin:diskstats' queue, builtin:kmsg's Xids, builtin:nvidia-smi's
// GPU_LOST), through the compiled binary as a user meets them: `why`, `ps` and `status`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, settled, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const INCIDENTS = join(ROOT, "test/fixtures/incidents");

async function push(ex: RunningExporter, events: object[]): Promise<void> {
  const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify({ ts: Date.now(), ...e })).join("\n") });
  assert.equal(res.status, 200, await res.text());
}

/** Pushes an incident's events, shifted to end 2 s ago. */
async function pushIncident(ex: RunningExporter, incident: string): Promise<void> {
  const events = readFileSync(join(INCIDENTS, `${incident}.ndjson`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { ts: number });
  const shift = Date.now() - 2000 - events[events.length - 1].ts;
  await push(ex, events.map((e) => ({ ...e, ts: e.ts + shift })));
  await eventually(async () => ((await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0) >= 1, 10_000, "a diagnosis run");
}

const cli = (ex: RunningExporter) => async (...args: string[]) => {
  const r = await runCli([...args, "--url", ex.url], { timeoutMs: 10_000 });
  return r.stdout + r.stderr;
};

const start = (pid: number, job: string) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: job, value: "start" });
/** builtin:procfs's round for a process in D on `dev`. */
const inD = (pid: number, dev: string, s: number) => [
  { event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "D" },
  { event_type: "storage.qdepth", entity_id: dev, pid, value: `IO_WAIT D for ${s}s` },
];
/** builtin:diskstats' round for `dev`. */
const disk = (dev: string, iops: string, qdepth: string) => [
  { event_type: "storage.iops", entity_id: dev, value: iops },
  { event_type: "storage.qdepth", entity_id: dev, value: qdepth },
];

describe("truth, third audit, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a process in D on an idle disk (nothing queued) is not storage_slow; one on a disk with I/O queued at 30 IOPS is", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      // diskstats' rounds, then procfs's (its IO_WAIT lands in the disk's qdepth key last).
      await push(ex, [start(5101, "job-51"), start(5102, "job-52"), ...disk("vda", "59", "0"), ...disk("sdb", "30", "48"), ...inD(5101, "vda", 45), ...inD(5102, "sdb", 45)]);
      const why = cli(ex);
      await settled(async () => {
        const slow = await why("why", "5102");
        assert.match(slow, /storage_slow/, slow);
        const idle = await why("why", "5101");
        assert.match(idle, /waits on:\n {2}vda {2}iops=59 qdepth=IO_WAIT D for 45s\n/, idle);
        assert.doesNotMatch(idle, /storage_slow/, idle);
      });
    } finally {
      await ex.stop();
    }
  });

  it("storage_slow clears once procfs says the D of a process's data-loader child is over, though another process still waits on storage", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--scene-settle", "1s", "--log-level", "warn"]);
    try {
      // builtin:procfs for a process whose child (a data-loader worker) is stuck in D: the process's
      // own state is left as it is, and the child's wait ends with `D ended after Ns (child N)` alone.
      const child = (value: string) => ({ event_type: "storage.qdepth", entity_id: "sdb", pid: 5201, value });
      await push(ex, [start(5201, "job-52a"), start(5202, "job-52b"), ...disk("sdb", "30", "48"), ...disk("nvme0n1", "52000", "3"), child("IO_WAIT D for 45s (child 5207)"), ...inD(5202, "nvme0n1", 30)]);
      const active = async () => (await scrape(ex.url)).get('xctl_scene_active{scene="storage_slow"}');
      await eventually(async () => (await active()) === 1, 10_000, "storage_slow active for 5201");
      await push(ex, [child("D ended after 60s (child 5207)")]);
      // Nothing else happens on the host: the scene must clear after the settle time all the same.
      await eventually(async () => (await active()) === 0, 10_000, "storage_slow to clear");
      const status = await cli(ex)("status");
      assert.doesNotMatch(status, /storage_slow/, status);
    } finally {
      await ex.stop();
    }
  });

  it("a cancelled job (Xid 45 for each rank, then procfs finds the pids gone) did not crash; a rank whose GPU fell off the bus did", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      await pushIncident(ex, "111-job-cancelled-xid45-then-exit");
      const why = cli(ex);
      await settled(async () => {
        const crashed = await why("why", "11104");
        assert.match(crashed, /process_crash/, crashed);
        for (const pid of ["11101", "11102"]) {
          const out = await why("why", pid);
          assert.match(out, /XID_45/, out);
          assert.doesNotMatch(out, /process_crash/, out);
        }
      });
    } finally {
      await ex.stop();
    }
  });

  it("a rank whose GPU fell off the bus: its why and ps name the kernel's Xid 79 beside nvidia-smi's GPU_LOST; the other ranks' why names it as their job's", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      await pushIncident(ex, "112-rank-gpu-falls-off-bus-collective-hangs");
      const why = cli(ex);
      await settled(async () => {
        const lost = await why("why", "11202");
        assert.match(lost, /root causes:\n {2}GPU_LOST [^\n]* on gpu-02 [^\n]*\n {2}XID_79 on gpu-02 /, lost);
        const ps = await why("ps", "-o", "wide");
        assert.match(ps, /11202 +job-1120 +\S+ +gpu-02 +- +GPU_LOST@gpu-02,XID_79@gpu-02 /, ps);
        const rank0 = await why("why", "11200");
        assert.match(rank0, /root causes:\n {2}none known\n/, rank0);
        assert.match(rank0, /other processes of job job-1120 blocked by errors:\n {2}pid 11202 \(running\): GPU_LOST@gpu-02, XID_79@gpu-02\n/, rank0);
        const status = await why("status");
        assert.match(status, /gpu_xid[\s\S]*XID_79 on gpu-02/, status);
        assert.match(status, /gpu_xid[\s\S]*GPU_LOST [^\n]*on gpu-02/, status);
      });
    } finally {
      await ex.stop();
    }
  });
});
