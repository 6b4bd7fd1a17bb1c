// The root cause status, the landing page and the scene log give each active scene: the errors
// that made that scene hold, never another scene's fault that happens to block the same pids.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { Queries } from "../../src/query/queries.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;
const line = (event_type: string, entity_id: string, value: string, pid: number | null = null, ts = T0) =>
  JSON.stringify({ ts, event_type, entity_id, job_id: pid === null ? null : `job-${pid}`, pid, value });

const _exporter = () => new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });

/** A process on `gpu`, an Xid 79 on it, the process's exit, and an automatic run: process_crash. */
async function _crashAfterXid(ex: Exporter, pid: number, gpu: string): Promise<void> {
  await ingestLine(ex, line("process.state", `pid-${pid}`, "start", pid, T0));
  await ingestLine(ex, line("compute.util", gpu, "90", pid, T0 + 1));
  await ingestLine(ex, line("error.hw", gpu, "XID_79 GPU has fallen off the bus", null, T0 + 2));
  await ingestLine(ex, line("process.state", `pid-${pid}`, "exit", pid, T0 + 3));
  ex.engine.runNow("auto");
}

describe("active scenes' root causes", () => {
  it("a network stall of a pid that an Xid also blocks is not blamed on the Xid", async () => {
    const ex = _exporter();
    await ingestLine(ex, line("process.state", "pid-7", "start", 7, T0));
    await ingestLine(ex, line("compute.util", "gpu-01", "90", 7, T0 + 1));
    await ingestLine(ex, line("error.hw", "gpu-01", "XID_79 GPU has fallen off the bus", null, T0 + 2));
    await ingestLine(ex, line("transport.drop", "mlx5_2", "40", 7, T0 + 3));
    ex.engine.runNow("auto");
    const scenes = new Queries(ex, "test").activeScenes();
    const by = new Map(scenes.map((s) => [s.scene, s]));
    assert.ok(by.has("gpu_xid") && by.has("network_stall"), scenes.map((s) => s.scene).join(","));
    assert.deepEqual(by.get("gpu_xid")!.errors, ["XID_79 GPU has fallen off the bus on gpu-01"]);
    assert.deepEqual(by.get("network_stall")!.errors, []);
    assert.doesNotMatch(by.get("network_stall")!.root_cause, /XID/);
    assert.deepEqual(by.get("network_stall")!.affected_jobs, ["job-7"]);
  });

  it("a lower scene with an error of its own names that error, and only it", async () => {
    const ex = _exporter();
    await ingestLine(ex, line("process.state", "pid-8", "start", 8, T0));
    await ingestLine(ex, line("compute.util", "gpu-02", "90", 8, T0 + 1));
    await ingestLine(ex, line("storage.qdepth", "nvme1n1", "IO_WAIT", 8, T0 + 2));
    await ingestLine(ex, line("error.hw", "gpu-02", "XID_79 GPU has fallen off the bus", null, T0 + 3));
    await ingestLine(ex, line("error.hw", "nvme1n1", "IO_ERROR I/O error, dev nvme1n1", null, T0 + 4));
    ex.engine.runNow("auto");
    const by = new Map(new Queries(ex, "test").activeScenes().map((s) => [s.scene, s]));
    assert.deepEqual(by.get("storage_io_error")?.errors, ["IO_ERROR I/O error, dev nvme1n1 on nvme1n1"]);
  });

  it("a scene whose only fault is the one blocking its pids (process_crash) still names it", async () => {
    const ex = _exporter();
    await _crashAfterXid(ex, 9, "gpu-03");
    const by = new Map(new Queries(ex, "test").activeScenes().map((s) => [s.scene, s]));
    assert.ok(by.has("process_crash"), [...by.keys()].join(","));
    assert.deepEqual(by.get("process_crash")!.errors, ["XID_79 GPU has fallen off the bus on gpu-03"]);
  });

  it("a pid that another job's process took since keeps the old job in status, and the new process gets none of its scenes in ps", async () => {
    const ex = _exporter();
    await _crashAfterXid(ex, 9, "gpu-03");
    // At once the pid is taken again, by a process of job-new on a healthy GPU.
    const reused = (event_type: string, entity_id: string, value: string, ts: number) => JSON.stringify({ ts, event_type, entity_id, job_id: "job-new", pid: 9, value });
    await ingestLine(ex, reused("process.state", "pid-9", "start", T0 + 4));
    await ingestLine(ex, reused("compute.util", "gpu-00", "90", T0 + 5));
    const q = new Queries(ex, "test");
    const by = new Map(q.activeScenes().map((s) => [s.scene, s]));
    assert.ok(by.has("process_crash"), [...by.keys()].join(","));
    assert.notEqual(by.get("process_crash")!.scene, ex.engine.results()[0].scene, "a scene below the run's top one");
    assert.deepEqual(by.get("process_crash")!.affected_jobs, ["job-9"], "the crash was job-9's");
    const row = q.processes().rows.find((r) => r.pid === 9)!;
    assert.equal(row.job_id, "job-new");
    assert.deepEqual(row.scenes, [], "the new process is not the one that crashed");
  });

  it("a process with no job that has the pid of an OOM-killed one since gets none of its scene in ps", async () => {
    const ex = _exporter();
    await ingestLine(ex, line("process.state", "pid-11", "start", 11, T0));
    await ingestLine(ex, line("compute.util", "gpu-00", "90", 11, T0 + 1));
    await ingestLine(ex, JSON.stringify({ ts: T0 + 2, event_type: "process.state", entity_id: "memory", pid: 11, value: "oom_killed" }));
    ex.engine.runNow("auto");
    await ingestLine(ex, line("compute.util", "gpu-01", "50", null, T0 + 2000)); // the killed one leaves at cleanup
    ex.engine.runNow("auto");
    const q = new Queries(ex, "test");
    assert.ok(q.activeScenes().some((s) => s.scene === "host_oom_kill" && s.affected_pids.includes(11)));
    // nvidia-smi lists a new process with the pid: no start, no job.
    await ingestLine(ex, JSON.stringify({ ts: T0 + 3000, event_type: "compute.util", entity_id: "gpu-00", pid: 11, value: "90" }));
    const row = q.processes().rows.find((r) => r.pid === 11)!;
    assert.deepEqual([row.job_id, row.state, row.scenes], [null, "running", []], "the OOM kill was of the process before it");
  });

  it("a host scene about an earlier process's Xid 13 does not name the pid's new owner, in status or ps", async () => {
    const ex = _exporter();
    await ingestLine(ex, line("process.state", "pid-12", "start", 12, T0));
    await ingestLine(ex, line("compute.util", "gpu-00", "90", 12, T0 + 1));
    // The kernel's Xid line names the pid, no job; the process exits.
    await ingestLine(ex, JSON.stringify({ ts: T0 + 2, event_type: "error.hw", entity_id: "gpu-00", pid: 12, value: "XID_13 NVRM: Xid (PCI:0000:3b:00): 13, pid=12" }));
    await ingestLine(ex, line("process.state", "pid-12", "exit", 12, T0 + 3));
    await ingestLine(ex, line("compute.util", "gpu-01", "50", null, T0 + 2000)); // it leaves at cleanup
    // A process with no job gets the pid, on another GPU.
    await ingestLine(ex, JSON.stringify({ ts: T0 + 3000, event_type: "process.state", entity_id: "pid-12", pid: 12, value: "start" }));
    await ingestLine(ex, JSON.stringify({ ts: T0 + 3001, event_type: "compute.util", entity_id: "gpu-01", pid: 12, value: "50" }));
    ex.engine.runNow("auto");
    const q = new Queries(ex, "test");
    const xid = q.activeScenes().find((s) => s.scene === "gpu_xid");
    assert.ok(xid, q.activeScenes().map((s) => s.scene).join(","));
    assert.deepEqual(xid.affected_pids, [], "the pid names another process now");
    assert.deepEqual(q.processes().rows.find((r) => r.pid === 12)!.scenes, []);
  });

  it("an Xid whose error node --max-nodes evicted blames no process any more, and status still names the Xid the scene is about", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, maxNodes: 12 });
    await ingestLine(ex, line("process.state", "pid-1", "start", 1, T0));
    await ingestLine(ex, line("compute.util", "gpu-00", "90", 1, T0 + 1));
    await ingestLine(ex, line("error.hw", "gpu-00", "XID_79", null, T0 + 2));
    // A storm of distinct errors on devices nobody uses: the oldest error node (the Xid's) goes first.
    for (let i = 0; i < 20; i++) await ingestLine(ex, line("error.hw", `disk-${i}`, "SMART_WARN", null, T0 + 10 + i));
    ex.engine.runNow("auto");
    assert.ok(!ex.graph.errors.has("gpu-00"), "evicted");
    const q = new Queries(ex, "test");
    const xid = q.activeScenes().find((s) => s.scene === "gpu_xid")!;
    assert.deepEqual([xid.affected_pids, xid.errors], [[], ["XID_79 on gpu-00"]]);
    assert.deepEqual(q.processes().rows.find((r) => r.pid === 1)!.blocked_by, []);
    await ex.stop();
  });

  it("a scene held only by --scene-settle keeps the pids of the last run that found it, and says it is settling", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, errorWindowMs: 1000, sceneSettleMs: 60_000 });
    await ingestLine(ex, line("process.state", "pid-7", "start", 7, T0));
    await ingestLine(ex, line("transport.bw", "mlx5_2", "0.3", 7, T0 + 1));
    await ingestLine(ex, line("transport.drop", "mlx5_2", "40", 7, T0 + 2));
    const found = ex.engine.runNow("auto");
    assert.ok(found.matches.some((m) => m.scene === "network_stall"));
    // The drops leave the window; the next run no longer finds the scene, which settles.
    await ingestLine(ex, line("compute.util", "gpu-9", "50", null, T0 + 5000));
    const later = ex.engine.runNow("auto");
    assert.ok(!later.matches.some((m) => m.scene === "network_stall"));
    assert.ok(ex.diagnosis.active.has("network_stall"), "still active within the settle time");
    const s = new Queries(ex, "test").activeScenes().find((x) => x.scene === "network_stall")!;
    assert.deepEqual(s.affected_pids, [7]);
    assert.deepEqual(s.affected_jobs, ["job-7"]);
    assert.equal(s.matching, false);
    assert.equal(s.matched_at, found.started_at);
    const ps = new Queries(ex, "test").processes().rows.find((p) => p.pid === 7);
    assert.deepEqual(ps?.scenes, ["network_stall"]);
  });
});
