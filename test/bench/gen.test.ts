// The benchmark's event generator (scripts/bench/gen.ts): the random-placement stream is what
// BENCHMARKS.md says it is (the structured one's event mix, with readings spread over every
// GPU for every process), every line is an event the exporter accepts, and a seed gives the
// same bytes each time.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate, type Shape } from "../../scripts/bench/gen.ts";
import { parseLine } from "../../src/events/parse.ts";
import type { XEvent } from "../../src/events/schema.ts";

const EVENTS = 40_000;
const PROCESSES = 50;

function _events(dir: string, shape: Shape, seed = 7): { text: string; events: XEvent[] } {
  const path = join(dir, `${shape}-${seed}.ndjson`);
  generate({ seed, events: EVENTS, processes: PROCESSES, shape }, path);
  const text = readFileSync(path, "utf8");
  const events = text
    .trimEnd()
    .split("\n")
    .map((line, i) => {
      const r = parseLine(line, 0);
      assert.notEqual(typeof r, "string", `line ${i + 1} rejected (${String(r)}): ${line}`);
      return r as XEvent;
    });
  return { text, events };
}

/** Share of each event type. */
function _mix(events: XEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) m.set(e.event_type, (m.get(e.event_type) ?? 0) + 1 / events.length);
  return m;
}

/** GPUs each pid's compute readings named. */
function _gpusByPid(events: XEvent[]): Map<number, Set<string>> {
  const m = new Map<number, Set<string>>();
  for (const e of events) {
    if (!e.event_type.startsWith("compute.") || e.pid === null) continue;
    let s = m.get(e.pid);
    if (s === undefined) m.set(e.pid, (s = new Set()));
    s.add(e.entity_id);
  }
  return m;
}

describe("bench event generator", () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-gen-"));

  it("random placement: the structured stream's mix, each process on (nearly) every GPU, a job per pid", () => {
    try {
      const jobs = _events(dir, "structured").events;
      const random = _events(dir, "random").events;
      assert.equal(random.length, EVENTS);
      // Same event types, in the same proportions but for the placement burst (compute.util,
      // one per GPU of a job, at each start): within two points each.
      const a = _mix(jobs);
      const b = _mix(random);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [t, share] of b) if (t !== "compute.util") assert.ok(Math.abs(share - a.get(t)!) < 0.02, `${t}: ${share} vs ${a.get(t)}`);

      // Structured: a process reads only its job's GPUs, 32 or 64 of them; random: a process
      // with a few hundred readings has been on every GPU, or nearly, whatever its job.
      const jobGpus = [..._gpusByPid(jobs).values()].map((s) => s.size);
      assert.ok(jobGpus.some((n) => n === 32), "some structured process stays on its job's 32 GPUs");
      const readings = new Map<number, number>();
      for (const e of random) if (e.event_type.startsWith("compute.") && e.pid !== null) readings.set(e.pid, (readings.get(e.pid) ?? 0) + 1);
      let busy = 0;
      for (const [pid, gpus] of _gpusByPid(random)) {
        if (readings.get(pid)! < 300) continue;
        busy++;
        assert.ok(gpus.size >= 60, `pid ${pid}: ${readings.get(pid)} readings on only ${gpus.size} GPUs`);
      }
      assert.ok(busy >= PROCESSES / 2, `${busy} processes with 300 readings or more`);

      // A pid keeps its job; at most PROCESSES are live at once (churn replaces, never adds).
      const jobOf = new Map<number, string>();
      for (const e of random) {
        if (e.pid === null || e.job_id === null) continue;
        assert.equal(jobOf.get(e.pid) ?? e.job_id, e.job_id, `pid ${e.pid} changed job`);
        jobOf.set(e.pid, e.job_id);
      }
      const live = new Set<number>();
      let most = 0;
      for (const e of random) {
        if (e.event_type !== "process.state" || e.pid === null) continue;
        if (e.value === "start") live.add(e.pid);
        else live.delete(e.pid);
        most = Math.max(most, live.size);
      }
      assert.equal(most, PROCESSES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a seed gives the same bytes; another seed others", () => {
    const d = mkdtempSync(join(tmpdir(), "xctl-gen-"));
    try {
      const one = _events(d, "random", 11).text;
      rmSync(join(d, "random-11.ndjson"));
      assert.equal(_events(d, "random", 11).text, one);
      assert.notEqual(_events(d, "random", 12).text, one);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
