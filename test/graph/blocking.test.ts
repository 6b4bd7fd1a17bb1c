// Who an error blocks (SPEC §3 fault scope), in time, and what a repeated error costs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph, type GraphObserver } from "../../src/graph/graph.ts";
import { FaultScopeTable } from "../../src/graph/fault-scope.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null = null, ts = T0): XEvent {
  return { ts, event_type, entity_id, job_id: null, pid, value };
}

const blockers = (g: StateGraph, pid: number) => g.processes.get(pid)!.blockedBy.map((e) => e.id);

describe("fault scope table", () => {
  it("knows device and process faults, ignores case, and lets overrides win", () => {
    const t = new FaultScopeTable();
    for (const v of ["XID_79", "XID_48", "XID_63", "XID_64", "XID_94", "XID_95", "SXID_12028", "IO_ERROR", "NFS_NOT_RESPONDING", "ECN marks", "CNP storm", "uncorrectable ECC", "link down", "something new"]) {
      assert.equal(t.of(v), "device", v);
    }
    for (const v of ["OOM", "CUDA out of memory", "oom", "XID_13", "XID_31", "XID_43", "XID_45"]) assert.equal(t.of(v), "process", v);
    assert.equal(t.of("HW_MEMORY_CORRUPTION Memory failure: 0x3f2c5d: Sending SIGBUS to python3:4242 due to hardware memory corruption"), "process");
    assert.equal(t.of("XID_130"), "device", "a whole-value match, not a prefix");
    // The values builtin:kmsg writes: the code, then the driver's message.
    assert.equal(t.of("XID_43 NVRM: Xid (PCI:0000:3b:00): 43, pid=61044, name=python3, Ch 00000008"), "process");
    assert.equal(t.of("XID_130 NVRM: Xid (PCI:0000:3b:00): 130, pid=61044"), "device");
    assert.equal(t.of("XID_79 NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', GPU has fallen off the bus."), "device");
    assert.equal(t.ofEvent("OOM", null), "device", "without a pid every error is a device fault");
    const o = new FaultScopeTable([{ pattern: "XID_99", scope: "process" }, { pattern: "xid_79", scope: "process" }]);
    assert.equal(o.of("XID_99"), "process");
    assert.equal(o.of("XID_79"), "process");
    assert.equal(o.of("XID_48"), "device");
  });
});

describe("blocked_by follows fault scope", () => {
  it("an OOM naming one of two processes on a GPU blocks only that one", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-0", "90", 1), T0);
    g.apply(ev("compute.util", "gpu-0", "90", 2), T0);
    g.apply(ev("error.hw", "gpu-0", "CUDA out of memory", 1), T0);
    assert.deepEqual(blockers(g, 1), ["error-gpu-0"]);
    assert.deepEqual(blockers(g, 2), []);
    g.apply(ev("error.hw", "gpu-0", "XID_31", 2, T0 + 1), T0 + 1); // an application Xid of pid 2: only pid 2
    assert.deepEqual(blockers(g, 2), ["error-gpu-0"]);
    assert.equal(g.edges.blocked_by, 2);
    g.apply(ev("error.hw", "gpu-0", "OOM", 77, T0 + 2), T0 + 2); // an unknown pid: nothing
    assert.equal(g.edges.blocked_by, 2);
    assert.equal(g.processes.has(77), false);
  });

  it("host memory gone bad under one process (the kernel names it) blocks that process only", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-0", "90", 1), T0);
    g.apply(ev("compute.util", "gpu-1", "90", 2), T0);
    g.apply(ev("error.hw", "memory", "HW_MEMORY_CORRUPTION Memory failure: 0x3f2c5d: Sending SIGBUS to python3:1 due to hardware memory corruption", 1), T0);
    assert.deepEqual(blockers(g, 1), ["error-memory"]);
    assert.deepEqual(blockers(g, 2), []);
  });

  it("an I/O error blocks the process waiting on the disk", () => {
    const g = new StateGraph();
    g.apply(ev("storage.iops", "nvme1n1", "IO_WAIT", 5), T0);
    g.apply(ev("error.hw", "nvme1n1", "IO_ERROR"), T0);
    assert.deepEqual(blockers(g, 5), ["error-nvme1n1"]);
  });

  it("a process that joins after a fault is not charged with it; a fresh device fault hits it", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-2", "90", 1), T0);
    g.apply(ev("error.hw", "gpu-2", "XID_79"), T0);
    g.apply(ev("compute.util", "gpu-2", "90", 2, T0 + 10), T0 + 10); // joins after the Xid
    assert.deepEqual(blockers(g, 2), []);
    g.apply(ev("error.hw", "gpu-2", "OOM", 1, T0 + 20), T0 + 20); // a process fault of pid 1: not pid 2's
    assert.deepEqual(blockers(g, 2), []);
    g.apply(ev("error.hw", "gpu-2", "XID_79", null, T0 + 30), T0 + 30); // a fresh device fault: hits the newcomer
    assert.deepEqual(blockers(g, 2), ["error-gpu-2"]);
    const p2 = g.processes.get(2)!;
    assert.deepEqual(p2.blockedAt, [T0 + 30], "linked at the time of the fault that hit it");
    assert.deepEqual(g.processes.get(1)!.blockedAt, [T0]);
  });
});

describe("cost of an error", () => {
  /** Counts the work an error does: iterations over the entity's user sets, and edges made. */
  function counting(g: StateGraph, entity: string) {
    const work = { iterations: 0, edges: 0 };
    const r = g.resources.get(entity)!;
    for (const set of [r.consumers, r.waiters]) {
      const iter = set[Symbol.iterator].bind(set);
      const values = set.values.bind(set);
      set[Symbol.iterator] = () => (work.iterations++, iter());
      set.values = () => (work.iterations++, values());
    }
    const obs: GraphObserver = { edgeAdded: (kind) => void (kind === "blocked_by" && work.edges++), edgeRemoved() {}, nodeChanged() {}, nodeRemoved() {} };
    g.observe(obs);
    return work;
  }

  it("a repeated error on an entity with 20,000 users links only newcomers, in chunks the first time", () => {
    const users = 20_000;
    const g = new StateGraph({ maxNodes: 1_000_000, linkChunk: 500 });
    for (let pid = 1; pid <= users; pid++) g.apply(ev("compute.util", "gpu-0", "50", pid), T0);
    const work = counting(g, "gpu-0");

    g.apply(ev("error.hw", "gpu-0", "XID_79", null, T0 + 1), T0 + 1);
    assert.equal(work.edges, 500, "the first fault links one chunk at once");
    assert.equal(g.pendingLinks, users - 500);
    g.apply(ev("compute.util", "gpu-1", "50", null, T0 + 2), T0 + 2); // any event links one more chunk
    assert.equal(work.edges, 1000);
    g.drainLinks();
    assert.equal(work.edges, users);
    assert.equal(g.pendingLinks, 0);

    const before = { ...work };
    for (let i = 0; i < 1000; i++) g.apply(ev("error.hw", "gpu-0", i % 2 ? "XID_79" : "XID_48", null, T0 + 10 + i), T0);
    assert.deepEqual(work, before, "1000 refreshes: no walk over the users, no edge");

    g.apply(ev("compute.util", "gpu-0", "50", users + 1, T0 + 2000), T0 + 2000); // one newcomer
    const iterations = work.iterations;
    g.apply(ev("error.hw", "gpu-0", "XID_79", null, T0 + 2001), T0 + 2001);
    assert.equal(work.edges, users + 1, "the refresh links the newcomer only");
    assert.equal(work.iterations, iterations, "without walking the users");
  });

  it("a fault's pending links skip processes that left and errors that expired", () => {
    const g = new StateGraph({ linkChunk: 2, errorWindowMs: 1000 });
    for (let pid = 1; pid <= 10; pid++) g.apply(ev("compute.util", "gpu-0", "50", pid), T0);
    g.apply(ev("error.hw", "gpu-0", "XID_79"), T0);
    assert.equal(g.edges.blocked_by, 2);
    g.removeProcess(g.processes.get(10)!);
    g.drainLinks();
    assert.equal(g.edges.blocked_by, 9);
    for (let pid = 1; pid <= 10; pid++) g.apply(ev("compute.util", "gpu-1", "50", pid), T0);
    g.apply(ev("error.hw", "gpu-1", "XID_79", null, T0 + 1), T0 + 1);
    assert.equal(g.errors.get("gpu-1")!.blocked.size, 2);
    g.removeError(g.errors.get("gpu-1")!);
    g.drainLinks();
    assert.equal(g.pendingLinks, 0);
    assert.equal(g.edges.blocked_by, 9, "only the gpu-0 edges");
  });
});
