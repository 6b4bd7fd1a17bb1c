// A backlog taken in slices, with automatic runs in between (live): a run that comes while the
// stream's clock races to catch up with the wall sees the backlog's past. It starts no scene for
// a fault that was over by the end of the backlog; a fault the backlog ends with starts its scene
// at the next run. A clock merely behind the wall (no NTP) is not a backlog.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CatchUp } from "../../src/diagnosis/catch-up.ts";
import { ev, scenario, start, until } from "./_scenario.ts";

const MIN = 60_000;

describe("CatchUp", () => {
  it("is catching up only while the stream's clock is behind the wall and moved ahead of it since the last run", () => {
    const c = new CatchUp();
    const wall = 1_800_000_000_000;
    c.first(wall - 30 * MIN, wall);
    assert.equal(c.run(wall - 20 * MIN, wall + 100, 6000), true, "ten minutes of stream in a tenth of a second, twenty minutes behind");
    assert.equal(c.run(wall - 20 * MIN, wall + 1100, 6000), false, "it stopped racing: a clock behind, not a backlog");
    assert.equal(c.run(wall - 1000, wall + 1200, 6000), false, "it caught up: a second behind");
    assert.equal(c.run(wall + 2 * MIN, wall + 61_200, 6000), false, "moving with the wall");
  });

  it("takes the first event as the first run's base, and only the first", () => {
    const c = new CatchUp();
    c.first(1000, 10 * MIN);
    c.first(9 * MIN, 10 * MIN);
    assert.equal(c.run(9 * MIN, 10 * MIN + 50, 6000), true);
  });
});

describe("automatic runs while a backlog is taken in (live)", () => {
  /** A GPU fault at 1 min into a backlog, with a process on the GPU; a run comes right after it. */
  function faultThenRun() {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 10 });
    s.send(start(1), 0);
    s.send(ev("compute.util", "gpu-0", "90", 1), 10);
    s.send(ev("error.hw", "gpu-0", "XID_79 GPU has fallen off the bus"), MIN);
    s.ex.engine.runNow("auto");
    return s;
  }

  it("a fault over long before the backlog's end starts no scene, though a run came while it was current", async () => {
    const s = faultThenRun();
    const st = s.ex.diagnosis;
    try {
      assert.equal(st.active.has("gpu_xid"), false, "the run came while the stream raced: no scene yet");
      // The rest of the backlog: half an hour more of readings; the fault left its window.
      for (let t = 2 * MIN; t <= 31 * MIN; t += MIN) s.send(ev("compute.util", "gpu-0", "90", 1), t);
      const runs = st.runs;
      await until(() => st.runs > runs, "the run the deferred match asked for");
      await until(() => s.ex.engine.results()[0].scene === null && st.runs >= runs + 1, "a run that found nothing");
      assert.equal(st.activations.get("gpu_xid"), 0, "no alert for a fault over twenty-nine minutes before the backlog ends");
    } finally {
      await s.ex.stop();
    }
  });

  it("a fault the backlog ends with starts its scene at the next run", async () => {
    const s = faultThenRun();
    const st = s.ex.diagnosis;
    try {
      assert.equal(st.active.has("gpu_xid"), false);
      await until(() => st.active.has("gpu_xid"), "gpu_xid at the run after");
      assert.equal(st.activations.get("gpu_xid"), 1);
      assert.equal(s.ex.engine.results()[0].scene, "gpu_xid");
    } finally {
      await s.ex.stop();
    }
  });

  it("a stream twenty minutes behind the wall that moves with it starts scenes at once", async () => {
    const s = scenario({ liveClock: true, diagnosisIntervalMs: 10 });
    const st = s.ex.diagnosis;
    const behind = () => Date.now() - 20 * MIN;
    try {
      s.ex.ingest.object({ ts: behind(), ...start(1) }, "test");
      s.ex.ingest.object({ ts: behind(), ...ev("compute.util", "gpu-0", "90", 1) }, "test");
      s.ex.ingest.object({ ts: behind(), ...ev("error.hw", "gpu-0", "XID_79 GPU has fallen off the bus") }, "test");
      s.ex.engine.runNow("auto");
      assert.equal(st.active.has("gpu_xid"), true);
      assert.equal(st.activations.get("gpu_xid"), 1);
    } finally {
      await s.ex.stop();
    }
  });
});
