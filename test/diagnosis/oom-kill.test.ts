// host_oom_kill (rules/host_oom_kill.yaml) through a real Exporter in event time: the kernel's
// OOM killer ends a process, which leaves the graph at the next cleanup; the run after still
// names it and its job, the scene settles for --scene-settle, and a pid reused since is not it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { activeScenes } from "../../src/query/status.ts";
import { ev, scenario, start, type Scenario } from "./_scenario.ts";

/** As builtin:kmsg writes "Out of memory: Killed process N (...)": no job id, entity `memory`. */
const oomKill = (pid: number) => ev("process.state", "memory", "oom_killed", pid);

function _runsWith(s: Scenario, scene: string) {
  return s.ex.engine.results().filter((r) => r.trigger !== "api" && r.matches.some((m) => m.scene === scene));
}

function _status(s: Scenario) {
  const runs = s.ex.engine.results().filter((r) => r.pid === null && r.trigger !== "api");
  return activeScenes(s.ex.diagnosis.active, s.ex.engine.rules, runs, s.ex.graph);
}

describe("host_oom_kill", () => {
  it("names the killed pid and its job after the process left the graph, and stays active for --scene-settle", async () => {
    const s = scenario({ sceneSettleMs: 60_000 });
    s.send(start(100), 0);
    s.send(start(200), 1);
    s.send(ev("compute.util", "gpu-0", "91", 100), 2);
    s.send(ev("compute.util", "gpu-1", "88", 200), 3);
    s.send(oomKill(100), 1_000);
    // The next event, seconds later: the cleanup removes pid 100, then the due run reports it.
    s.send(ev("compute.util", "gpu-1", "87", 200), 6_000);
    assert.equal(s.ex.graph.processes.has(100), false, "the killed process left the graph");
    const [run] = _runsWith(s, "host_oom_kill");
    assert.ok(run, "an automatic run found host_oom_kill");
    assert.equal(run.scene, "host_oom_kill");
    assert.deepEqual(run.affected_pids, [100]);
    assert.deepEqual(run.affected_jobs, ["job-100"]);
    assert.equal(run.severity, "critical");
    assert.deepEqual(
      run.evidence.map((e) => [e.path, e.events?.map((x) => [x.event_type, x.entity_id, x.value, x.pid]) ?? e.nodes?.map((n) => [n.id, n.values.state, n.values.job_id])]),
      [
        ["conditions[0].conditions[0].conditions[0]", [["process.state", "memory", "oom_killed", 100]]],
        ["conditions[0].conditions[0].conditions[1]", [["pid-100", "oom_killed", "job-100"]]],
      ],
    );
    assert.match(run.solution_steps[0].command ?? "", /dmesg -T \| grep -i -E 'killed process\|out of memory/);
    assert.ok(s.ex.diagnosis.active.has("host_oom_kill"));
    // pid 200 of another job is not concerned.
    assert.ok(!s.ex.engine.scenesFor(200)!.some((m) => m.scene === "host_oom_kill"));
    // Settling: later runs no longer find it, status still shows the pid and job of the run that did.
    s.send(ev("compute.util", "gpu-1", "86", 200), 30_000);
    const settling = _status(s).find((a) => a.scene === "host_oom_kill");
    assert.ok(settling, "still active while it settles");
    assert.equal(settling.matching, false);
    assert.deepEqual([settling.affected_pids, settling.affected_jobs], [[100], ["job-100"]]);
    assert.equal(s.ex.diagnosis.activations.get("host_oom_kill"), 1);
    // A minute after the run that found it: cleared.
    s.send(ev("compute.util", "gpu-1", "86", 200), 62_000);
    s.send(ev("compute.util", "gpu-1", "86", 200), 64_000);
    assert.equal(s.ex.diagnosis.active.has("host_oom_kill"), false);
    await s.ex.stop();
  });

  it("is not a user's kill, a normal exit, or a kill of a pid the graph never held", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(start(101));
    s.send(ev("process.state", "host-01", "killed", 100));
    s.send(ev("process.state", "host-01", "exit", 101));
    s.send(oomKill(4242));
    assert.deepEqual(s.scenes(), []);
    await s.ex.stop();
  });

  it("a pid reused by a new process inside the error window is not the killed one", async () => {
    const s = scenario();
    s.send(start(100), 0);
    s.send(oomKill(100), 1_000);
    s.send(ev("compute.util", "gpu-0", "5"), 3_000);
    assert.ok(s.scenes().includes("host_oom_kill"));
    // Two minutes later a new job's process gets pid 100; the kill is still inside the window.
    s.send({ ...start(100), job_id: "job-new" }, 120_000);
    s.send(ev("compute.util", "gpu-0", "93", 100), 120_001);
    assert.ok(!s.scenes().includes("host_oom_kill"));
    assert.ok(!s.ex.engine.scenesFor(100)!.some((m) => m.scene === "host_oom_kill"));
    // A kill the kernel log holds from before any probe named the pid (builtin:kmsg reads the
    // ring from its start): the graph had no such process, and the pid's next owner is not it.
    s.send(oomKill(300), 130_000);
    s.send({ ...start(300), job_id: "job-300" }, 190_000);
    s.send(ev("compute.util", "gpu-1", "93", 300), 190_001);
    assert.ok(!s.scenes().includes("host_oom_kill"));
    assert.ok(!s.ex.engine.scenesFor(300)!.some((m) => m.scene === "host_oom_kill"));
    await s.ex.stop();
  });

  it("is what ended a blocked process (no process_crash blaming the blocking error), and ranks below a device fault on the host", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(ev("storage.iops", "nvme0n1", "0.3", 100));
    s.send(ev("error.hw", "nvme0n1", "IO_ERROR I/O error, dev nvme0n1, sector 2048"));
    s.send(oomKill(100));
    let r = s.ex.engine.runNow("auto");
    assert.equal(r.scene, "host_oom_kill");
    const order = r.matches.map((m) => m.scene);
    // The kernel's OOM killer ended it: the I/O error it was blocked by is its storage scene, not the crash's cause.
    assert.ok(!order.includes("process_crash"), order.join(", "));
    assert.ok(order.includes("storage_io_error"), order.join(", "));
    s.send(ev("error.hw", "gpu-5", "XID_79"));
    r = s.ex.engine.runNow("auto");
    assert.equal(r.scene, "gpu_xid");
    assert.equal(r.matches[1].scene, "host_oom_kill");
    // Not the run's top scene: status takes the job from the run's evidence of the process.
    const st = _status(s).find((a) => a.scene === "host_oom_kill")!;
    assert.deepEqual(st.affected_jobs, ["job-100"]);
    await s.ex.stop();
  });
});
