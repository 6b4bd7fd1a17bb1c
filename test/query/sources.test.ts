// Source states over a long run: what `status`, /readyz and the service log show of a probe
// that keeps crashing, driven with explicit clocks (no waiting).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ProbeState } from "../../src/metrics/registry.ts";
import { CRASH_WINDOW_MS, SourceTracker, type SourceCondition } from "../../src/query/sources.ts";

/** One probe that exits at once and is restarted every `periodMs`; its state sampled each second for `forMs`. */
function crashLoop(periodMs: number, forMs: number): SourceCondition[] {
  const probe: ProbeState = { up: false, restarts: 0, lastEventMs: 0 };
  const t0 = 1_800_000_000_000;
  const tracker = new SourceTracker(new Map([["crash.sh", probe]]), t0);
  const states: SourceCondition[] = [];
  let nextRestart = t0 + periodMs;
  for (let now = t0; now <= t0 + forMs; now += 1000) {
    // The probe runs a few ms after each restart: between samples it is down again.
    while (nextRestart <= now) {
      probe.restarts++;
      nextRestart += periodMs;
    }
    states.push(tracker.list(now)[0].state);
  }
  return states;
}

describe("a crash-looping source", () => {
  it("stays crash-looping at the longest backoff (a restart every 30 s) instead of flapping to down every cycle", () => {
    // 30 s plus the few ms each run takes: the restarts drift across the one-minute window's edge.
    const states = crashLoop(30_050, 30 * 60_000);
    const first = states.indexOf("crash-looping");
    assert.ok(first > 0 && first <= 61, `crash-looping after two restarts, got index ${first}`);
    const after = states.slice(first);
    const flaps = after.filter((s) => s !== "crash-looping").length;
    assert.equal(flaps, 0, `${flaps} of ${after.length} samples after it began were not crash-looping`);
  });

  it("goes back to up once a minute passes without a restart", () => {
    const probe: ProbeState = { up: false, restarts: 0, lastEventMs: 0 };
    const t0 = 1_800_000_000_000;
    const tracker = new SourceTracker(new Map([["p", probe]]), t0);
    let now = t0;
    // Sampled each second, as the service log does.
    const wait = (ms: number) => {
      for (const end = now + ms; now < end; ) tracker.list((now += 1000));
      return tracker.list(now)[0].state;
    };
    probe.restarts++;
    assert.equal(wait(2000), "down");
    probe.restarts++;
    assert.equal(wait(2000), "crash-looping");
    // It runs now, healthy: still crash-looping while a restart is within the minute, then up.
    probe.up = true;
    assert.equal(wait(CRASH_WINDOW_MS - 3000), "crash-looping");
    assert.equal(wait(3000), "up");
  });

  it("a restart now and then (one in several minutes) is never crash-looping", () => {
    const states = crashLoop(5 * 60_000, 60 * 60_000);
    assert.ok(!states.includes("crash-looping"));
  });
});

describe("a source that cannot be started", () => {
  it("is down with its reason, even right after crash-looping, and up clears the reason", () => {
    const probe: ProbeState = { up: false, restarts: 0, lastEventMs: 0 };
    const t0 = 1_800_000_000_000;
    const tracker = new SourceTracker(new Map([["p", probe]]), t0);
    probe.restarts = 2;
    assert.equal(tracker.list(t0 + 2000)[0].state, "crash-looping");
    // Its program was removed: restarts stop, and the state says why at once, not a minute later.
    probe.reason = "cannot start: /opt/p: no such file";
    const st = tracker.list(t0 + 3000)[0];
    assert.deepEqual([st.state, st.reason, st.restarts], ["down", "cannot start: /opt/p: no such file", 2]);
    // It runs again (the source clears the reason as it marks itself up).
    probe.up = true;
    probe.reason = null;
    assert.deepEqual([tracker.list(t0 + 4000)[0].state, tracker.list(t0 + 4000)[0].reason], ["crash-looping", null]);
    assert.equal(tracker.list(t0 + 4000 + CRASH_WINDOW_MS)[0].state, "up");
  });
});
