// The engine: debounced automatic runs (wall clock live, event time in replay), none in a
// steady state, expiry ending scenes, brief matches kept, per-pid runs, the result ring and
// the diagnosis metrics.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DiagnosisEngine } from "../../src/diagnosis/engine.ts";
import { defaultRules, parseRule } from "../../src/diagnosis/rules-load.ts";
import { StateGraph } from "../../src/graph/graph.ts";
import type { XEvent } from "../../src/events/schema.ts";
import { newDiagnosisState } from "../../src/diagnosis/state.ts";
import { ev, scenario, sleep, start, T0, until } from "./_scenario.ts";

describe("automatic runs (wall clock)", () => {
  it("run once after a storm of changes, then not at all while nothing changes", async () => {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 20 });
    const st = s.ex.diagnosis;
    try {
      s.send(start(1));
      for (let i = 0; i < 500; i++) s.send(ev("error.hw", `gpu-${i % 8}`, `XID_${i % 2 ? 79 : 48}`));
      assert.equal(st.runs, 0, "debounced, not run inline");
      await until(() => st.runs >= 1, "the first automatic run");
      await sleep(100);
      assert.equal(st.runs, 1, "one run for the whole storm");
      const r = s.ex.engine.results()[0];
      assert.equal(r.trigger, "auto");
      assert.equal(r.scene, "gpu_xid");
      assert.equal(st.byScene.get("gpu_xid"), 1);
      assert.ok(st.active.has("gpu_xid"));

      // Steady state: readings that change nothing a rule looks at start no run.
      s.send(ev("compute.util", "gpu-0", "70", 1));
      await until(() => st.runs === 2, "the run after a new consumer");
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 50; i++) s.send(ev("compute.util", "gpu-0", "70", 1));
        s.send(ev("compute.util", "gpu-0", String(60 + round), 1));
        await sleep(30);
      }
      assert.equal(st.runs, 2, "no run while no condition changes");
    } finally {
      await s.ex.stop();
    }
  });

  it("end a scene when its event leaves the window, by a timer on the earliest expiry", async () => {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 10, errorWindowMs: 150 });
    const st = s.ex.diagnosis;
    try {
      s.ex.ingest.object(ev("error.hw", "npu-1", "TEMP_HIGH"), "test");
      await until(() => st.active.has("npu_subhealth"), "the scene to start");
      const runs = st.runs;
      await until(() => !st.active.has("npu_subhealth"), "the scene to end without new events");
      assert.equal(st.runs, runs + 1);
      assert.equal(s.ex.engine.results()[0].scene, null);
    } finally {
      await s.ex.stop();
    }
  });

  it("make the pending links of a first fault on a busy GPU a chunk per tick while the stream is quiet", async () => {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 10 });
    try {
      for (let pid = 1; pid <= 2000; pid++) s.ex.ingest.object(ev("compute.util", "gpu-0", "50", pid), "test");
      s.ex.ingest.object(ev("error.hw", "gpu-0", "XID_79"), "test");
      assert.equal(s.ex.graph.pendingLinks, 2000 - 512, "one chunk at once");
      await until(() => s.ex.graph.pendingLinks === 0, "the rest without new events");
      assert.equal(s.ex.graph.edges.blocked_by, 2000);
    } finally {
      await s.ex.stop();
    }
  });

  it("stop after the exporter stops", async () => {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 10 });
    s.send(ev("error.hw", "gpu-1", "XID_79"));
    await s.ex.stop();
    await sleep(40);
    assert.equal(s.ex.diagnosis.runs, 0);
  });
});

describe("automatic runs (event time, for replay)", () => {
  it("run once an interval of event time has passed since the first change", async () => {
    const s = scenario({ diagnosisIntervalMs: 1000 });
    const st = s.ex.diagnosis;
    s.send(ev("error.hw", "gpu-1", "XID_79"), 0);
    s.send(ev("compute.util", "gpu-1", "50"), 500);
    assert.equal(st.runs, 0);
    s.send(ev("compute.util", "gpu-1", "50"), 1000);
    assert.equal(st.runs, 1);
    assert.equal(s.ex.engine.results()[0].scene, "gpu_xid");
    s.send(ev("compute.util", "gpu-1", "50"), 9000);
    assert.equal(st.runs, 1, "nothing changed");
    s.send(ev("error.net", "mlx5_0", "CNP storm"), 9100);
    s.send(ev("compute.util", "gpu-1", "50"), 10_000);
    assert.equal(st.runs, 1, "not before its interval");
    s.send(ev("compute.util", "gpu-1", "50"), 10_100);
    assert.equal(st.runs, 2);
    assert.equal(s.ex.engine.results()[0].trigger, "auto");
    await s.ex.stop();
  });
});

describe("automatic runs that only count (describeAutoRuns: false, replay)", () => {
  it("count runs, top scenes and active scenes as described runs do, and the final run is the same", async () => {
    const full = scenario({ diagnosisIntervalMs: 3000, errorWindowMs: 2000 });
    const lean = scenario({ diagnosisIntervalMs: 3000, errorWindowMs: 2000, describeAutoRuns: false });
    // A seeded busy little host: utilisation dips, storage stalls, errors, exits and restarts.
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const gpus = ["gpu-0", "gpu-1", "gpu-2", "npu-0"];
    const errors = [ev("error.hw", "gpu-1", "XID_79"), ev("error.hw", "npu-0", "ECC error"), ev("error.net", "mlx5_0", "PFC storm"), ev("error.hw", "nvme0n1", "I/O error"), ev("topo.link_down", "hccs-0", "down")];
    const events: Record<string, unknown>[] = [];
    for (let pid = 100; pid < 120; pid++) events.push(start(pid));
    for (let i = 0; i < 6000; i++) {
      const pid = 100 + rnd(20);
      const k = rnd(100);
      if (k < 45) events.push(ev("compute.util", gpus[rnd(4)], String(rnd(3) === 0 ? rnd(8) : 50 + rnd(50)), pid));
      else if (k < 60) events.push(ev("storage.iops", "nvme0n1", String(rnd(2) === 0 ? rnd(60) : 500), pid), ev("storage.qdepth", "nvme0n1", "8"));
      else if (k < 75) events.push(ev("transport.bw", "mlx5_0", rnd(4) === 0 ? "0.5" : "20.0", pid));
      else if (k < 85) events.push(ev("compute.mem", gpus[rnd(4)], String(80 + rnd(20)), pid));
      else if (k < 88) events.push(errors[rnd(errors.length)]);
      else if (k < 89) events.push(ev("process.state", "host-01", rnd(2) === 0 ? "exit" : "checkpoint", pid));
      else if (k < 90) events.push(start(pid));
      else events.push(ev("transport.drop", "mlx5_0", String(rnd(20))));
    }
    const counts = (x: typeof full) => ({ runs: x.ex.diagnosis.runs, byScene: [...x.ex.diagnosis.byScene], active: [...x.ex.diagnosis.active] });
    let at = 0;
    for (const e of events) {
      at += 1 + rnd(200);
      full.send(e, at);
      lean.send(e, at);
      assert.deepEqual(counts(lean), counts(full));
    }
    const st = full.ex.diagnosis;
    assert.ok(st.runs > 50, `${st.runs} runs`);
    assert.ok([...st.byScene.values()].filter((n) => n > 0).length >= 3, "several scenes came out on top");
    assert.equal(lean.ex.engine.results().length, 0);
    const final = (x: typeof full) => ({ ...x.ex.engine.runNow("replay"), id: 0, duration_ms: 0, started_at: "" });
    assert.deepEqual(final(lean), final(full));
    await full.ex.stop();
    await lean.ex.stop();
  });
});

describe("brief matches", () => {
  it("a process that exits while blocked is reported though it left the graph before the run", async () => {
    const s = scenario({ diagnosisIntervalMs: 60_000 });
    s.send(start(42));
    s.send(ev("compute.util", "gpu-2", "80", 42));
    s.send(ev("error.hw", "gpu-2", "XID_79"));
    s.send(ev("process.state", "host-01", "killed", 42));
    s.send(ev("process.state", "host-01", "exit", 42));
    s.send(ev("compute.util", "gpu-3", "70"), 5_000);
    assert.equal(s.ex.graph.processes.has(42), false);
    assert.ok(!s.ex.engine.runNow("api").matches.some((m) => m.scene === "process_crash"), "an on-demand run reports what matches now");
    const r = s.ex.engine.runNow("auto");
    const crash = r.matches.find((m) => m.scene === "process_crash");
    assert.ok(crash, "process_crash listed by the next automatic run");
    assert.deepEqual(crash.affected_pids, [42]);
    assert.equal(s.ex.diagnosis.activations.get("process_crash"), 1, "it held: it became active once");
    // Reported once: the next run sees only what matches now.
    assert.ok(!s.ex.engine.runNow("auto").matches.some((m) => m.scene === "process_crash"));
    assert.equal(s.ex.diagnosis.active.has("process_crash"), false, "cleared (no settle time here)");
    await s.ex.stop();
  });
});

describe("per-pid runs", () => {
  it("look only at the process's edges and what they reach, ignoring a scene on another process", async () => {
    const s = scenario();
    s.send(start(1));
    s.send(start(2));
    s.send(ev("compute.mem", "gpu-0", "98", 1));
    s.send(ev("error.hw", "gpu-0", "OOM"));
    s.send(ev("compute.util", "gpu-1", "70", 2));
    s.send(ev("compute.mem", "gpu-1", "40", 2));
    const host = s.ex.engine.runNow("api");
    assert.equal(host.scene, "gpu_oom");

    const two = s.ex.engine.runForPid(2)!;
    assert.equal(two.pid, 2);
    assert.equal(two.scene, null);
    assert.deepEqual(two.matches, []);
    const one = s.ex.engine.runForPid(1)!;
    assert.equal(one.scene, "gpu_oom");
    assert.deepEqual(one.affected_pids, [1]);
    assert.deepEqual(one.affected_jobs, ["job-1"]);
    assert.ok(one.causes.some((c) => c.kind === "error" && c.entity_id === "gpu-0"));
    assert.equal(s.ex.engine.runForPid(999), undefined);

    assert.deepEqual(s.ex.engine.scenesFor(2), []);
    assert.deepEqual(s.ex.engine.scenesFor(1)!.map((m) => m.scene), ["gpu_oom"]);
    assert.equal(s.ex.engine.scenesFor(999), undefined);
    assert.equal(s.ex.diagnosis.onDemandRuns, 3, "scenesFor records no run");
    assert.equal(s.ex.diagnosis.runs, 0, "on-demand runs are not automatic runs");
    await s.ex.stop();
  });

  it("count events about the process's pid, and errors on storage it waits on", async () => {
    const s = scenario();
    s.send(start(5));
    s.send(start(6));
    s.send(ev("transport.drop", "mlx5_0", "30", 5));
    s.send(ev("storage.iops", "storage-01", "IO_WAIT", 6));
    s.send(ev("error.hw", "storage-01", "I/O error"));
    assert.deepEqual(s.ex.engine.scenesFor(5)!.map((m) => m.scene), ["network_stall"]);
    assert.deepEqual(s.ex.engine.scenesFor(6)!.map((m) => m.scene), ["storage_io_error"]);
    await s.ex.stop();
  });
});

describe("result ring", () => {
  function _engine(ringSize: number) {
    const graph = new StateGraph();
    const state = newDiagnosisState();
    const engine = new DiagnosisEngine({ graph, state, ringSize, liveClock: false });
    const feed = (e: Partial<XEvent> & { event_type: XEvent["event_type"]; entity_id: string }, ts: number) => {
      const full: XEvent = { ts, job_id: null, pid: null, value: "", ...e };
      graph.apply(full, 0);
      engine.accept(full, 0);
    };
    return { graph, state, engine, feed };
  }

  it("keeps the newest results, newest first, up to its size and a limit; on-demand runs in a ring of their own", () => {
    const { engine } = _engine(3);
    engine.setRules(defaultRules());
    for (let i = 0; i < 5; i++) engine.runNow("replay");
    assert.deepEqual(engine.results().map((r) => r.id), [5, 4, 3]);
    for (let i = 0; i < 2; i++) engine.runNow("api");
    assert.equal(engine.kept, 23, "3 automatic, 20 on-demand");
    assert.deepEqual(engine.results().map((r) => r.id), [7, 6, 5, 4, 3], "on-demand runs push no automatic one out");
    assert.deepEqual(engine.results(2).map((r) => r.id), [7, 6]);
    engine.stop();
  });

  it("judges a new rule set on readings made before it and after it", () => {
    const { engine, feed, state } = _engine(10);
    const memHigh = parseRule(
      "name: m\nscene: mem_high\npriority: 1\nconditions:\n  - {type: metric, node_type: resource, metrics: [{key: mem, op: gte, target: 90}]}\nroot_cause_pattern: {primary: p, secondary: []}\nsolution_steps: []\nrelated_evidences: []\n",
      "mem_high.yaml",
    );
    engine.setRules(defaultRules()); // no default rule reads mem
    feed({ event_type: "compute.mem", entity_id: "gpu-00", value: "95" }, T0);
    engine.setRules([memHigh]);
    assert.equal(engine.runNow("api").scene, "mem_high"); // the reading made before is seen
    feed({ event_type: "compute.mem", entity_id: "gpu-00", value: "10" }, T0 + 1);
    assert.equal(engine.runNow("api").scene, null); // and so is the one after
    feed({ event_type: "compute.mem", entity_id: "gpu-00", value: "91" }, T0 + 2);
    assert.equal(engine.runNow("api").scene, "mem_high");
    assert.equal(state.onDemandRuns, 3);
    engine.stop();
  });

  it("picks up a graph built before the rules were loaded", () => {
    const { engine, feed, state } = _engine(10);
    feed({ event_type: "process.state", entity_id: "h", pid: 3, value: "start" }, T0);
    feed({ event_type: "compute.util", entity_id: "gpu-00", pid: 3, value: "2" }, T0 + 1);
    engine.setRules(defaultRules());
    assert.equal(state.byScene.size, 19);
    assert.equal(engine.runNow("api").scene, "gpu_util_low");
    engine.stop();
  });
});

describe("diagnosis metrics", () => {
  it("count runs and concluded scenes, show active scenes, observe latency", async () => {
    const s = scenario();
    let page = await s.ex.metrics.render();
    for (const scene of s.ex.diagnosis.byScene.keys()) {
      assert.match(page, new RegExp(`^xctl_diagnoses_by_scene\\{scene="${scene}"\\} 0$`, "m"));
      assert.match(page, new RegExp(`^xctl_scene_active\\{scene="${scene}"\\} 0$`, "m"));
    }
    s.send(ev("error.hw", "npu-0", "ECC error"));
    s.ex.engine.runNow("auto");
    s.ex.engine.runNow("auto");
    for (let i = 0; i < 5; i++) s.ex.engine.runNow("api"); // on-demand: counted apart, no scene state
    page = await s.ex.metrics.render();
    assert.match(page, /^xctl_diagnoses_total 2$/m);
    assert.match(page, /^xctl_diagnoses_by_scene\{scene="npu_ecc_error"\} 2$/m);
    assert.match(page, /^xctl_scene_active\{scene="npu_ecc_error"\} 1$/m);
    assert.match(page, /^xctl_diagnosis_latency_seconds_count 2$/m);
    assert.match(page, /^xctl_diagnoses_on_demand_total 5$/m);
    assert.match(page, /^xctl_scene_activations_total\{scene="npu_ecc_error"\} 1$/m);
    assert.match(page, /^xctl_scene_info\{scene="npu_ecc_error",severity="critical"\} 1$/m);
    assert.match(page, /^xctl_scene_info\{scene="gpu_util_low",severity="info"\} 1$/m);
    await s.ex.stop();
  });
});
