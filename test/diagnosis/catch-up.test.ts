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
  const wall = 1_800_000_000_000;

  it("is catching up only while the stream's clock is behind the wall and raced ahead of it in the last few seconds", () => {
    const c = new CatchUp(6000);
    c.event(wall - 30 * MIN, wall);
    c.event(wall - 20 * MIN, wall + 100);
    assert.equal(c.catchingUp(wall - 20 * MIN, wall + 100), true, "ten minutes of stream in a tenth of a second, twenty minutes behind");
    c.event(wall - 1000, wall + 200);
    assert.equal(c.catchingUp(wall - 1000, wall + 200), false, "it caught up: a second behind");
  });

  it("a pause in a race is still the race, until the stream has been quiet for the slack", () => {
    const c = new CatchUp(6000);
    c.event(wall - 30 * MIN, wall);
    c.event(wall - 20 * MIN, wall + 100);
    assert.equal(c.catchingUp(wall - 20 * MIN, wall + 1100), true, "a second's pause: the next part of the backlog may come");
    assert.equal(c.catchingUp(wall - 20 * MIN, wall + 6000), true);
    assert.equal(c.catchingUp(wall - 20 * MIN, wall + 6200), false, "quiet for over the slack: the backlog ended there, a clock behind");
    c.event(wall - 20 * MIN + 6200, wall + 6200);
    assert.equal(c.catchingUp(wall - 20 * MIN + 6200, wall + 6300), false, "then moving with the wall");
  });

  it("a stream behind the wall that moves with it is not catching up, however long it runs", () => {
    const c = new CatchUp(6000);
    for (let t = 0; t <= 10 * MIN; t += 1000) {
      c.event(wall - 20 * MIN + t, wall + t + (t % 3000 === 0 ? 900 : 0)); // some events come late
      assert.equal(c.catchingUp(wall - 20 * MIN + t, wall + t + 950), false, `at ${t} ms`);
    }
  });

  it("a quiet stream's next event is no race: the offset of each event, not of the runs in between", () => {
    const c = new CatchUp(6000);
    c.event(wall - 20 * MIN, wall);
    // A run (a scene's settle, an expiry) 14 s into a 15 s gap, then the next poll.
    assert.equal(c.catchingUp(wall - 20 * MIN, wall + 14_000), false);
    c.event(wall - 20 * MIN + 15_000, wall + 15_000);
    assert.equal(c.catchingUp(wall - 20 * MIN + 15_000, wall + 15_100), false);
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

  it("a fault over long before the backlog's end starts no scene, though runs came in a pause between two parts of it", async () => {
    const s = faultThenRun();
    const st = s.ex.diagnosis;
    try {
      s.send(ev("compute.util", "gpu-0", "90", 1), 2 * MIN);
      // The next part is late (a loaded host, a client that pushes part after part): runs come meanwhile.
      const runs = st.runs;
      await until(() => st.runs >= runs + 2, "runs in the pause");
      assert.equal(st.active.has("gpu_xid"), false, "a pause is not the backlog's end");
      for (let t = 3 * MIN; t <= 31 * MIN; t += MIN) s.send(ev("compute.util", "gpu-0", "90", 1), t);
      const after = st.runs;
      await until(() => st.runs > after && s.ex.engine.results()[0].scene === null, "a run after the backlog that found nothing");
      assert.equal(st.activations.get("gpu_xid"), 0, "no alert for a fault over twenty-nine minutes before the backlog ends");
    } finally {
      await s.ex.stop();
    }
  });

  it("a fault the backlog ends with starts its scene once the stream has been quiet for the interval and the clocks' slack", async () => {
    const s = faultThenRun();
    const st = s.ex.diagnosis;
    try {
      assert.equal(st.active.has("gpu_xid"), false);
      await until(() => st.active.has("gpu_xid"), "gpu_xid after the quiet", 10_000);
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
