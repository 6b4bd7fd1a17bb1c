// Who is charged with what (SPEC §3 fault scope, §4 scope: process), in host runs, per-pid runs
// and why: a process fault blames only its pid, a device fault every process using the device
// at that moment, a newcomer nothing from before it came; "its GPUs" means its own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { defaultRules, parseRule } from "../../src/diagnosis/rules-load.ts";
import { whyView } from "../../src/query/why.ts";
import { ev, scenario, start, T0, type Scenario } from "./_scenario.ts";

const scenesOf = (s: Scenario, pid: number) => s.ex.engine.scenesFor(pid)!.map((m) => m.scene);
const why = (s: Scenario, pid: number) => whyView(s.ex.graph, pid, (p) => s.ex.engine.scenesFor(p) ?? [])!;

describe("fault scope in answers", () => {
  it("two jobs wait on one slow disk: each one's why and scene evidence show its own wait", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("storage.qdepth", "vda", "9")); // builtin:diskstats: I/O queued on it
    s.send(ev("storage.qdepth", "vda", "IO_WAIT D for 30s (child 11)", 1));
    s.send(ev("storage.qdepth", "vda", "IO_WAIT D for 45s (thread 22)", 2));
    s.send(ev("storage.iops", "vda", "12"));
    for (const [pid, own] of [[1, "IO_WAIT D for 30s (child 11)"], [2, "IO_WAIT D for 45s (thread 22)"]] as const) {
      const w = why(s, pid);
      assert.deepEqual(w.waits_on, [{ resource: "vda", meta: { iops: "12", qdepth: own } }]);
      const slow = w.scenes.find((m) => m.scene === "storage_slow");
      assert.ok(slow, `storage_slow for ${pid}`);
      const vda = slow.causes.find((c) => c.kind === "resource" && c.id === "vda");
      assert.deepEqual(vda, { kind: "resource", id: "vda", relation: "waits_on", values: { iops: "12", qdepth: own } }, `pid ${pid}`);
    }
    await s.ex.stop();
  });

  it("two jobs on one GPU: the evidence of one's scene shows its own reading of the GPU, not the other job's event", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    // nvidia-smi names each user of the GPU with the GPU's own figures: 2's event comes last.
    s.send(ev("compute.mem", "gpu-0", "98", 1));
    s.send(ev("compute.mem", "gpu-0", "98", 2));
    s.send(ev("error.hw", "gpu-0", "CUDA out of memory", 1));
    const oom = why(s, 1).scenes.find((m) => m.scene === "gpu_oom");
    assert.ok(oom, "gpu_oom for 1");
    const pids = oom.evidence.flatMap((e) => (e.events ?? []).map((x) => x.pid));
    assert.deepEqual(pids, [1, 1], JSON.stringify(oom.evidence));
    assert.deepEqual(oom.affected_pids, [1]);
    await s.ex.stop();
  });

  it("drops that stopped before a process started are not its network stall; drops after it started are", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(ev("transport.bw", "mlx5_1", "0.2", 1));
    s.send(ev("transport.drop", "mlx5_1", "380"), 1000);
    s.send(ev("transport.drop", "mlx5_1", "0"), 30_000);
    s.send(start(2), 90_000);
    s.send(ev("transport.bw", "mlx5_1", "0.3", 2), 91_000);
    assert.deepEqual([scenesOf(s, 1).includes("network_stall"), scenesOf(s, 2).includes("network_stall")], [true, false]);
    s.send(ev("transport.drop", "mlx5_1", "120"), 100_000);
    assert.ok(scenesOf(s, 2).includes("network_stall"));
    await s.ex.stop();
  });

  it("two processes share a GPU and the OOM names one: only it is blamed", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.mem", "gpu-0", "98", 1));
    s.send(ev("compute.util", "gpu-0", "90", 2));
    s.send(ev("error.hw", "gpu-0", "CUDA out of memory", 1));
    const host = s.ex.engine.runNow("auto");
    const oom = host.matches.find((m) => m.scene === "gpu_oom");
    assert.ok(oom, "gpu_oom matches");
    assert.deepEqual(oom.affected_pids, [1]);
    assert.deepEqual(scenesOf(s, 1), ["gpu_oom"]);
    assert.deepEqual(scenesOf(s, 2), []);
    assert.deepEqual(why(s, 2).root_causes, []);
    assert.deepEqual(why(s, 1).root_causes.map((c) => c.error_type), ["CUDA out of memory"]);
    await s.ex.stop();
  });

  it("an Xid 79 whose kernel line names the pid of a process on another GPU hits the GPU's user, not that pid", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.util", "gpu-0", "90", 1));
    s.send(ev("compute.util", "gpu-1", "90", 2));
    // NVRM names whoever was in the driver when it saw the fault: here pid 2, which uses gpu-1.
    s.send({ ...ev("error.hw", "gpu-0", "XID_79 NVRM: Xid (PCI:0000:3b:00): 79, pid=2, name=python3, GPU has fallen off the bus.", 2), job_id: "job-2" });
    const host = s.ex.engine.runNow("auto");
    const xid = host.matches.find((m) => m.scene === "gpu_xid");
    assert.ok(xid, "gpu_xid matches");
    assert.deepEqual(xid.affected_pids, [1]);
    assert.deepEqual(xid.affected_jobs, ["job-1"]);
    assert.deepEqual(scenesOf(s, 1), ["gpu_xid"]);
    assert.deepEqual(scenesOf(s, 2), [], "pid 2 was only named by the line");
    assert.deepEqual(why(s, 2).root_causes, []);
    // An application Xid (a process fault) with that pid is its own, wherever it ran.
    s.send({ ...ev("error.hw", "gpu-1", "XID_13 Graphics SM Warp Exception", 2), job_id: "job-2" });
    assert.deepEqual(scenesOf(s, 2), ["gpu_xid"]);
    await s.ex.stop();
  });

  it("a process that joined a GPU after another job's OOM shows nothing of it; a fresh Xid 79 hits it", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(ev("compute.mem", "gpu-0", "99", 1));
    s.send(ev("error.hw", "gpu-0", "OOM", 1));
    s.send(ev("error.hw", "gpu-0", "XID_79")); // a device fault while only pid 1 is there
    s.send(start(3), 1000);
    s.send(ev("compute.util", "gpu-0", "80", 3), 1001);
    const w = why(s, 3);
    assert.deepEqual(w.root_causes, []);
    assert.deepEqual(w.scenes, [], "neither the OOM nor the Xid from before it came");
    assert.deepEqual(s.ex.engine.runForPid(3)!.matches, []);
    s.send(ev("error.hw", "gpu-0", "XID_79"), 2000);
    assert.deepEqual(scenesOf(s, 3), ["gpu_xid"]);
    assert.deepEqual(why(s, 3).root_causes.map((c) => [c.error_type, c.since]), [["XID_79", new Date(T0 + 2000).toISOString()]], "since the Xid that hit it");
    await s.ex.stop();
  });

  it("a process on a GPU that fell off the bus shows XID_79 with the evidence", async () => {
    const s = scenario();
    s.send(start(7));
    s.send(ev("compute.util", "gpu-4", "85", 7));
    s.send(ev("error.hw", "gpu-4", "XID_79"));
    const [m] = s.ex.engine.scenesFor(7)!;
    assert.equal(m.scene, "gpu_xid");
    assert.deepEqual(m.evidence, [
      {
        path: "conditions[0]",
        condition: "event error.hw on gpu-* value XID|PCIE_AER_FATAL|PCIE_AER_UNRECOVERED|GPU_LOST|GPU_RESET_REQUIRED|ROW_REMAP_FAILURE|ROW_REMAP_PENDING|RETIRED_PAGES_PENDING|ECC_UNCORRECTED",
        events: [{ event_type: "error.hw", entity_id: "gpu-4", value: "XID_79", ts: s.now(), pid: null, job_id: null }],
      },
    ]);
    assert.ok(m.causes.some((c) => c.kind === "error" && c.error_type === "XID_79"));
    assert.deepEqual(m.affected_pids, [7]);
    await s.ex.stop();
  });

  it("a process that starts waiting on a device with a live fault is stuck on it; one that starts consuming is not", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    // nvidia-smi reads the GPU, no one on it: the graph knows its users when the Xid comes (one it
    // never read could have had 2 on it then, unreported: blind-order.test.ts).
    s.send(ev("compute.util", "gpu-0", "0"));
    s.send(ev("error.net", "mlx5_0", "PFC_STORM"));
    s.send(ev("error.hw", "gpu-0", "XID_79"));
    s.send(ev("transport.bw", "mlx5_0", "0.12", 1), 2); // waits on the storming NIC right after
    s.send(ev("compute.util", "gpu-0", "80", 2), 3); // starts using the GPU after its Xid
    assert.deepEqual(why(s, 1).root_causes.map((c) => c.error_type), ["PFC_STORM"]);
    assert.ok(scenesOf(s, 1).includes("roce_congestion"));
    assert.deepEqual(why(s, 2).root_causes, []);
    assert.deepEqual(scenesOf(s, 2), []);
    await s.ex.stop();
  });

  it("an application Xid and another job's OOM on one GPU: each process is told its own fault", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.util", "gpu-0", "80", 1));
    s.send(ev("compute.mem", "gpu-0", "99", 2));
    s.send(ev("error.hw", "gpu-0", "XID_13", 1));
    s.send(ev("error.hw", "gpu-0", "CUDA out of memory", 2)); // the error node's last value
    assert.deepEqual(why(s, 1).root_causes.map((c) => c.error_type), ["XID_13"]);
    assert.deepEqual(why(s, 2).root_causes.map((c) => c.error_type), ["CUDA out of memory"]);
    const xid = s.ex.engine.scenesFor(1)!.find((m) => m.scene === "gpu_xid")!;
    assert.deepEqual(xid.causes.filter((c) => c.kind === "error").map((c) => c.kind === "error" && c.error_type), ["XID_13"]);
    assert.deepEqual(scenesOf(s, 1), ["gpu_xid"]);
    assert.deepEqual(scenesOf(s, 2), ["gpu_oom"]);
    await s.ex.stop();
  });

  it("an I/O error on a kernel block device blocks the process waiting on it", async () => {
    const s = scenario();
    s.send(start(9));
    s.send(start(10));
    s.send(ev("storage.iops", "nvme1n1", "IO_WAIT", 9));
    s.send(ev("storage.iops", "sda", "IO_WAIT", 10));
    s.send(ev("error.hw", "nvme1n1", "IO_ERROR"));
    assert.deepEqual(why(s, 9).root_causes.map((c) => [c.entity, c.error_type]), [["nvme1n1", "IO_ERROR"]]);
    assert.ok(scenesOf(s, 9).includes("storage_io_error"));
    assert.ok(!scenesOf(s, 10).includes("storage_io_error"), "sda had no error");
    const host = s.ex.engine.runNow("auto").matches.find((m) => m.scene === "storage_io_error");
    assert.deepEqual(host?.affected_pids, [9]);
    await s.ex.stop();
  });
});

describe("fault scope from the rules", () => {
  it("a rule file's fault_scope makes a site Xid a process fault for the whole host", async () => {
    const site = parseRule(readFileSync(new URL("../fixtures/rules-upstream/xid_site.yaml", import.meta.url), "utf8"), "xid_site.yaml");
    for (const rules of [defaultRules(), [...defaultRules(), site]]) {
      const s = scenario({ rules });
      s.send(start(1));
      s.send(start(2));
      s.send(ev("compute.util", "gpu-0", "80", 1));
      s.send(ev("compute.util", "gpu-0", "80", 2));
      s.send(ev("error.hw", "gpu-0", "XID_99", 1));
      const blocked = [1, 2].filter((pid) => why(s, pid).root_causes.length > 0);
      assert.deepEqual(blocked, rules.includes(site) ? [1] : [1, 2], "unknown kinds are device faults; the site says process");
      await s.ex.stop();
    }
  });
});

describe("events about a process", () => {
  it("another process's exit on a GPU this one uses is not this one's crash", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.util", "gpu-0", "80", 1));
    s.send(ev("compute.util", "gpu-0", "80", 2));
    s.send(ev("error.hw", "gpu-0", "XID_79")); // both blocked
    s.send(ev("process.state", "gpu-0", "exit", 1)); // a probe naming the GPU as the entity
    assert.deepEqual(scenesOf(s, 2), ["gpu_xid"], "pid 2 did not crash");
    assert.ok(scenesOf(s, 1).includes("process_crash"));
    await s.ex.stop();
  });
});

describe("scope: process", () => {
  it("workload_stalled does not fire for a process whose GPUs are busy when a GPU elsewhere idles", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.util", "gpu-0", "80", 1)); // its GPU is busy
    s.send(ev("transport.bw", "mlx5_0", "0.2", 1)); // and it waits on the network
    s.send(ev("compute.util", "gpu-1", "2", 2)); // an idle GPU elsewhere, whose user waits on nothing
    assert.ok(!s.scenes().includes("workload_stalled"));
    assert.ok(!scenesOf(s, 1).includes("workload_stalled"));
    // Its own GPU idles: now it is stalled, and only it is named.
    s.send(ev("compute.util", "gpu-0", "1", 1), 5000);
    const m = s.ex.engine.runNow("auto").matches.find((x) => x.scene === "workload_stalled");
    assert.ok(m, "fires for pid 1");
    assert.deepEqual(m.affected_pids, [1]);
    assert.deepEqual(m.evidence.find((e) => e.path === "conditions[3]")?.nodes, [{ id: "gpu-0", type: "resource", values: { util: "1" } }]);
    await s.ex.stop();
  });

  it("an automatic run follows a process-scoped rule starting for another process while it already holds host-wide", async () => {
    const s = scenario({ diagnosisIntervalMs: 100 });
    s.send(start(1));
    s.send(ev("compute.util", "gpu-0", "2", 1)); // gpu_util_low for pid 1
    s.send(ev("compute.util", "gpu-0", "2", 1), 1000);
    assert.deepEqual(s.ex.engine.results(1)[0].matches.find((m) => m.scene === "gpu_util_low")?.affected_pids, [1]);
    s.send(start(2), 2000);
    s.send(ev("compute.util", "gpu-0", "2", 2), 2001); // a new consumer of an idle GPU: no host-wide flip
    s.send(ev("compute.util", "gpu-0", "2", 2), 3000);
    const last = s.ex.engine.results(1)[0];
    assert.ok(last.started_at && last.trigger === "auto");
    assert.deepEqual(last.matches.find((m) => m.scene === "gpu_util_low")?.affected_pids, [1, 2]);
    await s.ex.stop();
  });

  it("a process that starts waiting where drops already storm is named by the next run (a search that found none asks it)", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.util", "gpu-0", "80", 1));
    s.send(ev("transport.bw", "mlx5_5", "0.5", 2)); // a waits_on edge elsewhere: the rule holds host-wide
    s.send(ev("transport.drop", "mlx5_0", "40")); // drops on a NIC nobody uses yet
    const stall = () => s.ex.engine.runNow("auto").matches.find((m) => m.scene === "network_stall");
    assert.equal(stall(), undefined, "nobody waits on mlx5_0");
    s.send(ev("transport.bw", "mlx5_0", "0.3", 1)); // pid 1 starts waiting on it
    assert.deepEqual(stall()?.affected_pids, [1]);
    await s.ex.stop();
  });

  it("a repeated I/O error reaches a process that started waiting on the disk after an earlier one", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(ev("error.hw", "nvme0n1", "IO_ERROR"), 10); // before pid 1 used the disk: not its fault
    s.send(ev("error.hw", "nvme0n1", "TIMEOUT"), 20); // the disk's live fault is now a timeout
    s.send(ev("storage.iops", "nvme0n1", "0.2", 1), 30); // pid 1 starts waiting: blocked by the timeout
    const io = () => s.ex.engine.runNow("auto").matches.find((m) => m.scene === "storage_io_error")?.affected_pids;
    assert.equal(io(), undefined, "the I/O error came before pid 1 waited on the disk");
    s.send(ev("error.hw", "nvme0n1", "IO_ERROR"), 40); // a new I/O error while it waits
    assert.deepEqual(io(), [1]);
    await s.ex.stop();
  });

  it("a host run asks only the candidates of a process-scoped rule, not every process", async () => {
    const s = scenario();
    for (let pid = 1; pid <= 3000; pid++) {
      s.send(start(pid));
      s.send(ev("compute.util", `gpu-${pid % 64}`, "90", pid));
      s.send(ev("transport.bw", `mlx5_${pid % 4}`, "0.5", pid)); // every process waits on the network
    }
    const asked0 = s.ex.engine.processesAsked;
    s.ex.engine.runNow("auto");
    assert.ok(s.ex.engine.processesAsked - asked0 <= 10, `asked ${s.ex.engine.processesAsked - asked0} with no idle GPU`);
    s.send(ev("compute.util", "gpu-5", "1")); // one GPU idles: its ~47 users are the candidates
    const asked1 = s.ex.engine.processesAsked;
    const m = s.ex.engine.runNow("auto").matches.find((x) => x.scene === "workload_stalled");
    assert.equal(m?.affected_pids.length, 32, "capped list of the 47 stalled");
    assert.ok(m.affected_pids.every((p) => p % 64 === 5));
    const asked = s.ex.engine.processesAsked - asked1;
    assert.ok(asked <= 2 * 47 * 2, `asked ${asked} of 3000`);
    await s.ex.stop();
  });
});

describe("scene settle", () => {
  it("flapping conditions keep a scene active within the settle time, then it clears once", async () => {
    const s = scenario({ sceneSettleMs: 60_000, diagnosisIntervalMs: 1000 });
    const st = s.ex.diagnosis;
    s.send(start(1));
    let at = 0;
    // gpu_util_low flips every 10 s for two minutes: the rule matches half the time.
    for (let i = 0; i < 12; i++) {
      s.send(ev("compute.util", "gpu-0", i % 2 === 0 ? "3" : "70", 1), (at += 10_000));
      s.send(ev("compute.util", "gpu-0", i % 2 === 0 ? "3" : "70", 1), at + 1500); // lets the debounced run happen
      assert.equal(st.active.has("gpu_util_low"), true, `active at ${at} ms`);
    }
    assert.equal(st.activations.get("gpu_util_low"), 1, "one activation for the whole flapping episode");
    // Quiet: it does not hold any more; it clears only after the settle time.
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 30_000));
    assert.equal(st.active.has("gpu_util_low"), true, "30 s after it last held");
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 40_000));
    assert.equal(st.active.has("gpu_util_low"), false, "cleared past the settle time");
    assert.equal(st.activations.get("gpu_util_low"), 1);
    // On-demand runs change nothing of this.
    const runs = st.runs;
    s.ex.engine.runNow("api");
    s.ex.engine.runForPid(1);
    assert.equal(st.runs, runs);
    s.send(ev("compute.util", "gpu-0", "2", 1), (at += 1000));
    s.send(ev("compute.util", "gpu-0", "2", 1), (at += 1500));
    assert.equal(st.activations.get("gpu_util_low"), 2, "a new episode counts again");
    await s.ex.stop();
  });

  it("a scene that held steadily for longer than the settle time settles from when it stopped, not from the last run that found it", async () => {
    // Runs follow changes: a steady state runs nothing, so the last run that found the scene
    // may be minutes before it stopped holding. It cleared at once then, and the next flap
    // was a new activation (a new alert) a second later.
    const s = scenario({ sceneSettleMs: 60_000, diagnosisIntervalMs: 1000 });
    const st = s.ex.diagnosis;
    s.send(start(1), 0);
    s.send(ev("compute.util", "gpu-0", "3", 1), 1000);
    s.send(ev("compute.util", "gpu-0", "3", 1), 2500); // the run after it
    assert.equal(st.active.has("gpu_util_low"), true);
    // Five minutes of the same readings: nothing changes, no run.
    let at = 2500;
    for (let i = 0; i < 20; i++) s.send(ev("compute.util", "gpu-0", "3", 1), (at += 15_000));
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 15_000)); // stops holding
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 1500)); // the run after it
    assert.equal(st.active.has("gpu_util_low"), true, "it stopped holding 1.5 s ago: it settles for a minute");
    s.send(ev("compute.util", "gpu-0", "2", 1), (at += 10_000)); // it holds again 10 s later
    s.send(ev("compute.util", "gpu-0", "2", 1), (at += 1500));
    assert.equal(st.activations.get("gpu_util_low"), 1, "the same episode, no second alert");
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 1000));
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 50_000));
    assert.equal(st.active.has("gpu_util_low"), true, "51 s after it stopped");
    s.send(ev("compute.util", "gpu-0", "70", 1), (at += 10_000));
    assert.equal(st.active.has("gpu_util_low"), false, "61 s after it stopped: cleared");
    await s.ex.stop();
  });

  it("on-demand runs keep their own ring and do not push automatic results out", async () => {
    const s = scenario();
    s.send(ev("error.hw", "gpu-1", "XID_79"));
    const auto = s.ex.engine.runNow("auto");
    for (let i = 0; i < 150; i++) s.ex.engine.runNow("api");
    const kept = s.ex.engine.results(200);
    assert.ok(kept.some((r) => r.id === auto.id), "the automatic result is still there");
    assert.equal(kept.filter((r) => r.trigger === "api").length, 20);
    await s.ex.stop();
  });
});
