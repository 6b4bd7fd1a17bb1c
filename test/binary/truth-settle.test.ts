// Scene state through the compiled binary as an alert sees it: a scene clears only after it has
// not held for --scene-settle (SPEC §4), however long it held before, so a condition that stops
// for a moment after minutes of holding is one episode (one activation, one alert), not two.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

async function push(ex: RunningExporter, events: object[]): Promise<void> {
  const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify({ ts: Date.now(), ...e })).join("\n") });
  assert.equal(res.status, 200, await res.text());
}

const util = (value: string) => ({ event_type: "compute.util", entity_id: "gpu-00", pid: 4100, job_id: "job-41", value });

describe("scene settle, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a scene that held longer than --scene-settle and stops for a moment stays active: one activation", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--scene-settle", "3s"]);
    try {
      const metric = async (name: string) => (await scrape(ex.url)).get(`${name}{scene="gpu_util_low"}`);
      await push(ex, [{ event_type: "process.state", entity_id: "host", pid: 4100, job_id: "job-41", value: "start" }, util("2")]);
      await eventually(async () => (await metric("xctl_scene_active")) === 1, 10_000, "gpu_util_low active");
      // It holds, steadily, for longer than the settle time: no change, no run.
      await new Promise((r) => setTimeout(r, 4000));
      await push(ex, [util("50")]);
      await eventually(async () => ((await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0) >= 2, 10_000, "the run after the change");
      assert.equal(await metric("xctl_scene_active"), 1, "it stopped holding a moment ago: it settles for 3 s");
      await push(ex, [util("2")]);
      await eventually(async () => ((await scrape(ex.url)).get("xctl_diagnoses_total") ?? 0) >= 3, 10_000, "the run after it holds again");
      assert.equal(await metric("xctl_scene_activations_total"), 1, "one episode, one alert");
      assert.doesNotMatch(ex.stderr(), /scene cleared: gpu_util_low/);
    } finally {
      await ex.stop();
    }
  });
});
