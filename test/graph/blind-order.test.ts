// A device fault, a process's start and its first use of the device, in every order they may
// arrive in: the same facts give the same blocked_by edge (SPEC §3: a device fault hits every
// process using the device at that moment). A fault from before the graph saw the device's users
// (a kernel log's backlog at the exporter's start) is told by the process's start time alone.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph } from "../../src/graph/graph.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;
const PID = 5900;

type Step = "fault" | "start" | "use";
const ORDERS: Step[][] = [
  ["fault", "start", "use"],
  ["fault", "use", "start"],
  ["start", "fault", "use"],
  ["start", "use", "fault"],
  ["use", "start", "fault"],
  ["use", "fault", "start"],
];

interface Row {
  /** What the process does on the device: its reading makes a consumes or a waits_on edge. */
  edge: "consumes" | "waits_on";
  /** blind: the exporter has just started, the fault is read from the ring's backlog; seen: the device was read for minutes before it; swept: the fault left the window (another process's own fault keeps the node). */
  fault: "blind" | "seen" | "swept";
  /** The process's start, before or after the fault, or never told (no builtin:procfs: readings alone). */
  started: "before" | "after" | "never";
  blocked: boolean;
}

/** The facts: the fault at T0 - 30 s (T0 - 400 s when swept), the start at T0 - 60 s or T0 - 10 s, the first use at T0 - 1 s; received at T0. */
function play(row: Row, order: Step[]): string[] {
  // Cleanup when the test says (a sweep between the fault and another process's, below).
  const g = new StateGraph({ errorWindowMs: 300_000, cleanupEveryMs: 3_600_000 });
  const gpu = row.edge === "consumes";
  const entity = gpu ? "gpu-01" : "nvme0n1";
  const ev = (event_type: EventType, entity_id: string, value: string, pid: number | null, ts: number, job_id: string | null = null): XEvent => ({ ts, event_type, entity_id, job_id, pid, value });
  // Read by its collector since long before the fault, with no user yet.
  if (row.fault === "seen") g.apply(ev(gpu ? "compute.util" : "storage.iops", entity, gpu ? "0" : "2400", null, T0 - 600_000), T0 - 600_000);
  const steps: Record<Step, () => void> = {
    fault: () => {
      const at = row.fault === "swept" ? T0 - 400_000 : T0 - 30_000;
      g.apply(ev("error.hw", entity, gpu ? "XID_79 NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus." : "IO_ERROR blk_update_request: I/O error", null, at), T0);
      if (row.fault !== "swept") return;
      // Another process's own fault now keeps the error node; the device fault is over.
      g.apply(ev("error.hw", entity, gpu ? "XID_13" : "OOM", 77, T0 - 30_000), T0);
      g.cleanup(T0);
      assert.equal(g.errors.get(entity)?.deviceSwept, true, "the window swept the device fault");
    },
    start: () => g.apply(ev("process.state", `pid-${PID}`, "start", PID, row.started === "before" ? T0 - 60_000 : T0 - 10_000, "job-59"), T0),
    use: () => g.apply(ev(gpu ? "compute.util" : "storage.iops", entity, gpu ? "93" : "IO_WAIT", PID, T0 - 1000, "job-59"), T0),
  };
  for (const s of order) if (s !== "start" || row.started !== "never") steps[s]();
  const p = g.processes.get(PID)!;
  assert.ok(gpu ? p.consumes.size === 1 : p.waitsOn.size === 1, `the ${row.edge} edge`);
  return p.blockedBy.map((e) => e.id);
}

const ROWS: Row[] = [];
for (const edge of ["consumes", "waits_on"] as const) {
  for (const started of ["before", "after"] as const) {
    // A blind fault: a process started by then was on the device, whatever came first.
    ROWS.push({ edge, fault: "blind", started, blocked: started === "before" });
    // A fault the graph saw while it knew the device's users: a new consumer came after it (the
    // next report links it); a new waiter that may have been there then is stuck on it.
    ROWS.push({ edge, fault: "seen", started, blocked: edge === "waits_on" && started === "before" });
    ROWS.push({ edge, fault: "swept", started, blocked: false });
  }
  // A start never told: a consumer may have started after a blind fault, and is not blamed for it
  // (the next report of a lasting fault links it); a waiter is stuck on it all the same.
  ROWS.push({ edge, fault: "blind", started: "never", blocked: edge === "waits_on" });
  ROWS.push({ edge, fault: "seen", started: "never", blocked: edge === "waits_on" });
  ROWS.push({ edge, fault: "swept", started: "never", blocked: false });
}

describe("a device fault, a process's start and its use of the device, in all six orders", () => {
  for (const row of ROWS) {
    const when = row.started === "never" ? "its start never told" : `process started ${row.started} it`;
    it(`${row.fault} fault, ${when}, ${row.edge}: ${row.blocked ? "blocked" : "not blocked"}`, () => {
      for (const order of ORDERS) {
        // A fault the graph saw come while it watched the device, told after a reading it says
        // came later, is a late record: the graph knows no time for the edge to compare (left out).
        if (row.fault === "seen" && row.edge === "consumes" && order.indexOf("use") < order.indexOf("fault")) continue;
        const want = row.blocked ? [`error-${row.edge === "consumes" ? "gpu-01" : "nvme0n1"}`] : [];
        assert.deepEqual(play(row, order), want, order.join(" → "));
      }
    });
  }

  it("a fault that linked a process before its start was known, and came before it: the edge is a later fault's, from after its start", () => {
    const g = new StateGraph();
    const at = (e: XEvent) => g.apply(e, T0);
    at({ ts: T0 - 1000, event_type: "compute.util", entity_id: "gpu-01", job_id: null, pid: PID, value: "93" });
    at({ ts: T0 - 30_000, event_type: "error.hw", entity_id: "gpu-01", job_id: null, pid: null, value: "XID_48" });
    at({ ts: T0 - 5000, event_type: "error.hw", entity_id: "gpu-01", job_id: null, pid: null, value: "GPU_LOST Unknown Error" });
    at({ ts: T0 - 20_000, event_type: "process.state", entity_id: `pid-${PID}`, job_id: null, pid: PID, value: "start" });
    const p = g.processes.get(PID)!;
    assert.deepEqual(p.blockedBy.map((e) => e.id), ["error-gpu-01"]);
    assert.deepEqual([p.blockedAt[0], p.blockedType[0]], [T0 - 5000, "GPU_LOST Unknown Error"], "since the GPU_LOST, not the Xid 48 from before it started");
    assert.equal(g.edges.blocked_by, 1);
  });

  it("a process unlinked so is a new user: the next device fault there hits it", () => {
    const g = new StateGraph();
    const at = (e: XEvent) => g.apply(e, T0);
    at({ ts: T0 - 1000, event_type: "compute.util", entity_id: "gpu-01", job_id: null, pid: PID, value: "93" });
    at({ ts: T0 - 30_000, event_type: "error.hw", entity_id: "gpu-01", job_id: null, pid: null, value: "XID_48" });
    at({ ts: T0 - 10_000, event_type: "process.state", entity_id: `pid-${PID}`, job_id: null, pid: PID, value: "start" });
    assert.deepEqual(g.processes.get(PID)!.blockedBy, []);
    assert.equal(g.edges.blocked_by, 0);
    at({ ts: T0, event_type: "error.hw", entity_id: "gpu-01", job_id: null, pid: null, value: "XID_79" });
    assert.deepEqual(g.processes.get(PID)!.blockedBy.map((e) => e.id), ["error-gpu-01"]);
  });
});
