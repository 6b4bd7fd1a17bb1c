// Wrong answers an SRE on a shared multi-job host could get, each through the compiled binary as
// a user meets it: a labelled incident's events pushed to `serve` (shifted to end now, so the
// live clock reads them as just happened), then `why`, `ps`, `status` and /metrics. Each case was
// a wrong blame before its fix (see the incident's story in test/fixtures/incidents/).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const INCIDENTS = join(ROOT, "test/fixtures/incidents");

/** Starts the binary, pushes the incident's events ending 2 s ago, and waits for the run after them. */
async function pushed(incident: string, body: (ex: RunningExporter, cli: (...args: string[]) => Promise<string>) => Promise<void>): Promise<void> {
  const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
  try {
    const events = readFileSync(join(INCIDENTS, `${incident}.ndjson`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { ts: number });
    const shift = Date.now() - 2000 - events[events.length - 1].ts;
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify({ ...e, ts: e.ts + shift })).join("\n") });
    const answer = (await res.json()) as { accepted: number; rejected_total: number };
    assert.deepEqual([res.status, answer.rejected_total, answer.accepted], [200, 0, events.length]);
    await eventually(async () => ((await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0) >= 1, 10_000, "a diagnosis run");
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, "--url", ex.url], { timeoutMs: 10_000 });
      return r.stdout + r.stderr;
    };
    // The answers after the run that follows the last event: the push is read in chunks, and a
    // run may come between them, so the checks are retried until that run has come.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await body(ex, cli);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await ex.stop();
  }
}

const active = async (ex: RunningExporter) =>
  [...(await scrape(ex.url))].filter(([k, v]) => k.startsWith("xctl_scene_active{") && v === 1).map(([k]) => /scene="([^"]+)"/.exec(k)![1]).sort();

describe("the diagnosis blames no job wrongly, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a 12-minute-old Xid 63 that a co-tenant's own Xid 13s kept in the graph is neither cause of a clean exit nor the co-tenant's cause", { timeout: 30_000 }, async () => {
    await pushed("93-stale-xid-kept-alive-by-cotenant", async (ex, cli) => {
      assert.deepEqual(await active(ex), ["gpu_xid"], "no process_crash for 79001's clean exit");
      const status = await cli("status");
      assert.doesNotMatch(status, /process_crash|79001|job-7900/, status);
      assert.match(await cli("ps"), /79002\s+job-7910\s+running\s+gpu-01\s+-\s+XID_13@gpu-01\s+gpu_xid/);
      const why = await cli("why", "79002");
      assert.match(why, /root causes:\n {2}XID_13 on gpu-01/, why);
      assert.doesNotMatch(why, /XID_63/, why);
    });
  });

  it("a new job's process on a reused pid, seen only through intent.run, is not blamed for the old process's Xid 79", { timeout: 30_000 }, async () => {
    await pushed("94-pid-reused-job-seen-through-intent", async (_ex, cli) => {
      const why = await cli("why", "80101");
      assert.match(why, /pid 80101 {2}job job-8030 {2}state running/, why);
      assert.match(why, /root causes:\n {2}none known/, why);
      assert.match(why, /consumes:\n {2}gpu-01 /, why);
      assert.doesNotMatch(why, /gpu-00|XID_79/, why);
      assert.match(await cli("why", "80102"), /XID_79 on gpu-00/);
    });
  });

  it("a job whose checkpoint wait ended is not storage_slow or workload_stalled when another job's checkpoint crawls", { timeout: 30_000 }, async () => {
    await pushed("95-wait-over-then-storage-slows", async (ex, cli) => {
      assert.deepEqual(await active(ex), ["checkpoint_timeout", "gpu_util_low", "storage_slow"]);
      const ps = await cli("ps");
      assert.match(ps, /81001\s+job-8100\s+running\s+gpu-00\s+-\s+-\s+gpu_util_low\s/, ps);
      assert.match(ps, /81002\s+job-8110\s+checkpoint_saving\s+gpu-01\s+storage-01\s+-\s+checkpoint_timeout,storage_slow\s/, ps);
      const status = await cli("status");
      assert.match(status, /storage_slow .*\n.*\n {4}pids: 81002 {3}jobs: job-8110\n/, status);
    });
  });

  it("errors on an HCCS link nobody uses make no hccs_error naming the job an NPU's ECC error stopped", { timeout: 30_000 }, async () => {
    await pushed("96-hccs-errors-on-idle-link-and-ecc-elsewhere", async (ex, cli) => {
      assert.deepEqual(await active(ex), ["npu_ecc_error"]);
      const status = await cli("status");
      assert.doesNotMatch(status, /hccs_error/, status);
      assert.match(status, /npu_ecc_error .*\n.*\n {4}pids: 82006 {3}jobs: job-8210\n/, status);
    });
  });

  it("an OOM kill of the pid's earlier owner makes no process_crash or host_oom_kill of the process running on the pid now", { timeout: 30_000 }, async () => {
    await pushed("97-old-kill-of-pid-then-xid-on-new-owner", async (ex, cli) => {
      assert.deepEqual(await active(ex), ["gpu_xid"]);
      const ps = await cli("ps");
      assert.match(ps, /83001\s+-\s+running\s+gpu-00\s+-\s+XID_79@gpu-00\s+gpu_xid\s/, ps);
      const why = await cli("why", "83001");
      assert.doesNotMatch(why, /process_crash|host_oom_kill/, why);
    });
  });
});
