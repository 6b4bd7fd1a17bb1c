import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph } from "../../src/graph/graph.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null = null, ts = T0): XEvent {
  return { ts, event_type, entity_id, job_id: null, pid, value };
}

/** Ten running processes, each consuming its own GPU: what diagnosis needs most. */
function running(g: StateGraph): void {
  for (let pid = 1; pid <= 10; pid++) {
    g.apply(ev("process.state", "host", "start", pid), T0);
    g.apply(ev("compute.util", `gpu-${pid}`, "90", pid), T0);
  }
}

function assertRunningKept(g: StateGraph): void {
  for (let pid = 1; pid <= 10; pid++) {
    assert.ok(g.processes.has(pid), `running process ${pid} kept`);
    assert.ok(g.resources.has(`gpu-${pid}`), `gpu-${pid} in use kept`);
  }
  assert.equal(g.edges.consumes, 10);
}

describe("eviction at --max-nodes", () => {
  it("error nodes count against the bound: a storm of distinct errors evicts the oldest errors, not the processes", () => {
    const g = new StateGraph({ maxNodes: 1000 });
    running(g);
    for (let i = 0; i < 20_000; i++) g.apply(ev("error.hw", `nvme${i}`, "IO_ERROR", null, T0 + i), T0 + i);
    assert.ok(g.nodeCount <= 1000, `${g.nodeCount} nodes`);
    assertRunningKept(g);
    assert.ok(g.errors.has("nvme19999"), "the newest error kept");
    assert.ok(!g.errors.has("nvme0"), "the oldest error evicted");
    assert.ok(g.evictions.get("error")! > 19_000);
    assert.equal(g.evictions.get("process"), 0);
  });

  it("idle resources go before running processes", () => {
    const g = new StateGraph({ maxNodes: 1000 });
    running(g);
    for (let i = 0; i < 9500; i++) g.apply(ev("storage.iops", `disk-${i}`, "5", null, T0 + i), T0 + i);
    assert.ok(g.nodeCount <= 1000, `${g.nodeCount} nodes`);
    assertRunningKept(g);
    assert.ok(g.evictions.get("resource")! > 8500);
    assert.equal(g.evictions.get("process"), 0);
  });

  it("ended processes first, then edgeless resources, then errors, running processes last", () => {
    const g = new StateGraph({ maxNodes: 100 });
    running(g); // 20 nodes
    for (let pid = 100; pid < 130; pid++) {
      g.apply(ev("process.state", "host", "start", pid), T0);
      g.apply(ev("process.state", "host", "exit", pid), T0);
    }
    for (let i = 0; i < 20; i++) g.apply(ev("storage.iops", `disk-${i}`, "5"), T0);
    for (let i = 0; i < 30; i++) g.apply(ev("error.net", `mlx5_${i}`, "PORT_ERR"), T0);
    // 100 nodes; one more crosses the bound: down to 95 (a twentieth of the bound below it).
    g.apply(ev("error.net", "mlx5_99", "PORT_ERR"), T0);
    assert.deepEqual([...g.evictions], [["process", 6], ["resource", 0], ["error", 0]], "ended processes went first");
    // 24 ended processes left: 30 more errors evict them, then the 20 idle disks, then errors.
    for (let i = 0; i < 60; i++) g.apply(ev("error.net", `ib${i}`, "PORT_ERR", null, T0 + 1 + i), T0);
    assert.equal(g.evictions.get("process"), 30, "every ended process");
    assert.equal(g.evictions.get("resource"), 20, "every idle disk");
    assert.ok(g.evictions.get("error")! > 0);
    assert.ok(!g.errors.has("mlx5_0") && g.errors.has("ib59"), "the oldest errors went");
    assertRunningKept(g);
  });
});
