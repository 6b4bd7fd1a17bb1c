// StateGraph.onLeave: told of each process about to leave the graph, with why, while it still
// has every edge (so the last `why` answer can be taken from it: src/query/ended.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph, type LeaveReason } from "../../src/graph/graph.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;
const MIN = 60_000;

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null, job_id: string | null, ts: number): XEvent {
  return { ts, event_type, entity_id, job_id, pid, value };
}

/** The graph and what it told: pid, reason, and the edges the process had then. */
function watched(opts: ConstructorParameters<typeof StateGraph>[0] = {}) {
  const g = new StateGraph(opts);
  const told: { pid: number; job: string | null; reason: LeaveReason; edges: string[]; inGraph: boolean }[] = [];
  g.onLeave((p, reason) => {
    const edges = [...[...p.consumes].map((r) => `consumes:${r.id}`), ...[...p.waitsOn].map((r) => `waits_on:${r.id}`), ...p.blockedBy.map((e) => `blocked_by:${e.id}`)];
    told.push({ pid: p.pid, job: p.jobId, reason, edges: edges.sort(), inGraph: g.processes.get(p.pid) === p });
  });
  return { g, told };
}

describe("StateGraph.onLeave", () => {
  it("an ended process, at the cleanup: with all its edges, still in the graph; then it and its edges are gone", () => {
    const { g, told } = watched();
    g.apply(ev("process.state", "host", "start", 7, "job-a", T0), T0);
    g.apply(ev("compute.util", "gpu-0", "90", 7, "job-a", T0 + 1), T0);
    g.apply(ev("transport.bw", "mlx5_0", "IO_WAIT", 7, "job-a", T0 + 2), T0);
    g.apply(ev("error.hw", "gpu-0", "XID_79", null, null, T0 + 3), T0);
    g.apply(ev("process.state", "host", "exit", 7, "job-a", T0 + 4), T0);
    assert.deepEqual(told, [], "not before the cleanup");
    g.cleanup(T0 + 1000);
    assert.deepEqual(told, [{ pid: 7, job: "job-a", reason: "ended", edges: ["blocked_by:error-gpu-0", "consumes:gpu-0", "waits_on:mlx5_0"], inGraph: true }]);
    assert.equal(g.processes.has(7), false);
    assert.deepEqual(g.edges, { consumes: 0, waits_on: 0, blocked_by: 0 });
  });

  it("says why: another job's process on the pid (its end unreported), a start after an end, quiet while not running, eviction", () => {
    const { g, told } = watched({ maxNodes: 20 });
    g.apply(ev("process.state", "host", "start", 1, "job-a", T0), T0);
    g.apply(ev("compute.util", "gpu-0", "90", 1, "job-b", T0 + 1), T0);
    g.apply(ev("process.state", "host", "start", 2, "job-c", T0 + 2), T0);
    g.apply(ev("process.state", "host", "exit", 2, "job-c", T0 + 3), T0);
    g.apply(ev("process.state", "host", "start", 2, "job-c", T0 + 4), T0);
    g.apply(ev("process.state", "host", "D", 3, "job-d", T0 + 5), T0);
    g.apply(ev("compute.util", "gpu-1", "1", null, null, T0 + 11 * MIN), T0 + 11 * MIN);
    assert.deepEqual(told.map((t) => [t.pid, t.job, t.reason]), [
      [1, "job-a", "pid_reused"],
      [2, "job-c", "ended"],
      [3, "job-d", "idle"],
    ]);
    for (let pid = 100; pid < 120; pid++) g.apply(ev("process.state", "host", "start", pid, null, T0 + 11 * MIN + pid), T0 + 11 * MIN);
    const evicted = told.slice(3);
    assert.ok(evicted.length > 0 && evicted.every((t) => t.reason === "evicted" && t.inGraph), JSON.stringify(evicted));
    assert.equal(evicted.length, g.evictions.get("process"));
  });
});
