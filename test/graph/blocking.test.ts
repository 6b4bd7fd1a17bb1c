// Who an error blocks (SPEC §3 fault scope), in time, and what a repeated error costs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph, type GraphObserver } from "../../src/graph/graph.ts";
import { FaultScopeTable } from "../../src/graph/fault-scope.ts";
import { blockedType, blockingFaults } from "../../src/graph/blocking.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null = null, ts = T0): XEvent {
  return { ts, event_type, entity_id, job_id: null, pid, value };
}

const blockers = (g: StateGraph, pid: number) => g.processes.get(pid)!.blockedBy.map((e) => e.id);

describe("fault scope table", () => {
  it("knows device and process faults, ignores case, and lets overrides win", () => {
    const t = new FaultScopeTable();
    for (const v of ["XID_79", "XID_48", "XID_63", "XID_64", "XID_95", "SXID_12028", "IO_ERROR", "NFS_NOT_RESPONDING", "ECN marks", "CNP storm", "uncorrectable ECC", "link down", "something new"]) {
      assert.equal(t.of(v), "device", v);
    }
    for (const v of ["OOM", "CUDA out of memory", "oom", "XID_13", "XID_31", "XID_43", "XID_45"]) assert.equal(t.of(v), "process", v);
    // Xid 94: an uncorrectable ECC error the GPU contained to the contexts that touched it (the
    // driver names their pid); the other applications on the GPU run on. Xid 95 is uncontained.
    assert.equal(t.of("XID_94 NVRM: Xid (PCI:0000:01:00): 94, pid=7062, name=python3, Contained: SM (0x1). RST: No, D-RST: No"), "process");
    assert.equal(t.of("XID_95 NVRM: Xid (PCI:0000:01:00): 95, pid=7062, name=python3, Uncontained: LTC TAG (0x2,0x0). RST: Yes, D-RST: No"), "device");
    // The code decides, not the process name in the driver's message: "bloom" holds "oom".
    assert.equal(t.of("XID_48 NVRM: Xid (PCI:0000:3b:00): 48, pid=4242, name=bloom-serve, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 2, subpartition 0."), "device");
    assert.equal(t.of("XID_79 NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=illegal memory access, GPU has fallen off the bus."), "device");
    // A process's own CUDA error for its own bad access, as an application's probe reports it.
    for (const v of ["CUDA_ERROR_ILLEGAL_ADDRESS an illegal memory access was encountered", "cudaErrorIllegalAddress", "CUDA error: misaligned address", "CUDA_ERROR_ILLEGAL_INSTRUCTION"]) {
      assert.equal(t.of(v), "process", v);
    }
    assert.equal(t.of("CUDA_ERROR_ECC_UNCORRECTABLE uncorrectable ECC error encountered"), "device", "the GPU's memory, not the process's access");
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
    // A rule file's entry comes before the defaults even when it takes only the whole value.
    const w = new FaultScopeTable([{ pattern: "*Contained: CE User Channel*", scope: "device" }]);
    assert.equal(w.of("XID_94 NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No"), "device");
    assert.equal(w.of("XID_94 NVRM: Xid (PCI:0000:01:00): 94, pid=7062, Contained: SM (0x1)."), "process");
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

describe("each blocked_by edge leaves the window with the fault that made it", () => {
  const MIN = 60_000;
  const at = (g: StateGraph, e: XEvent) => g.apply(e, e.ts);
  const why = (g: StateGraph, pid: number) => {
    const p = g.processes.get(pid)!;
    return p.blockedBy.map((e, i) => `${blockedType(p, i)} on ${e.entityId}`);
  };

  it("a device fault over for 7 minutes is no one's cause, though another process's own faults keep the error node", () => {
    const g = new StateGraph();
    at(g, ev("compute.util", "gpu-1", "80", 1));
    at(g, ev("compute.util", "gpu-1", "80", 2));
    at(g, ev("error.hw", "gpu-1", "XID_63"));
    assert.deepEqual(why(g, 1), ["XID_63 on gpu-1"]);
    for (const m of [2, 4, 6]) at(g, ev("error.hw", "gpu-1", "XID_13", 2, T0 + m * MIN));
    at(g, ev("compute.util", "gpu-1", "80", 1, T0 + 7 * MIN));
    assert.ok(g.errors.has("gpu-1"), "pid 2's Xid 13 keeps the error node");
    assert.deepEqual(why(g, 1), [], "pid 1 was concerned by the Xid 63 only, over since 10:02");
    assert.deepEqual(why(g, 2), ["XID_13 on gpu-1"], "pid 2's cause is its own fault, not the old Xid 63");
    assert.equal(g.edges.blocked_by, 1);
  });

  it("one process's OOM is over once the window passes, though another's OOM on the GPU is recent", () => {
    const g = new StateGraph();
    at(g, ev("compute.util", "gpu-0", "90", 1));
    at(g, ev("compute.util", "gpu-0", "90", 2));
    at(g, ev("error.hw", "gpu-0", "OOM", 1));
    at(g, ev("error.hw", "gpu-0", "OOM", 2, T0 + 4 * MIN));
    at(g, ev("error.hw", "gpu-0", "OOM", 2, T0 + 8 * MIN));
    assert.deepEqual(why(g, 1), []);
    assert.deepEqual(why(g, 2), ["OOM on gpu-0"]);
  });

  it("a device fault keeps its own edges fresh when it repeats, and a process fault of one user does not end them", () => {
    const g = new StateGraph();
    at(g, ev("compute.util", "gpu-0", "90", 1));
    at(g, ev("compute.util", "gpu-0", "90", 2));
    at(g, ev("error.hw", "gpu-0", "XID_13", 1)); // pid 1's own
    at(g, ev("error.hw", "gpu-0", "XID_48", null, T0 + 4 * MIN)); // the device, later: both
    at(g, ev("compute.util", "gpu-0", "90", 2, T0 + 8 * MIN));
    assert.deepEqual(why(g, 1), ["XID_48 on gpu-0"], "pid 1's Xid 13 is over; the Xid 48 is not");
    assert.deepEqual(why(g, 2), ["XID_48 on gpu-0"]);
  });

  it("a process that starts waiting after a device fault left the window is not blocked by it", () => {
    const g = new StateGraph({ faultScope: new FaultScopeTable([{ pattern: "QP_ERROR*", scope: "process" }]) });
    at(g, ev("transport.bw", "mlx5_0", "IO_WAIT", 1));
    at(g, ev("topo.link_down", "mlx5_0", "LINK_DOWN port=1"));
    for (const m of [3, 6]) at(g, ev("error.net", "mlx5_0", "QP_ERROR qp=7", 1, T0 + m * MIN)); // pid 1's own, keeping the node
    at(g, ev("transport.bw", "mlx5_0", "IO_WAIT", 2, T0 + 7 * MIN));
    assert.deepEqual(why(g, 2), [], "the link went down 7 minutes before pid 2 waited on the NIC");
    assert.deepEqual(why(g, 1), ["QP_ERROR qp=7 on mlx5_0"]);
  });
});

describe("a process that starts waiting on a device with a live fault", () => {
  const at = (g: StateGraph, e: XEvent) => g.apply(e, e.ts);
  it("is blocked at once when it may have used the device then, not when it started after the fault's last report", () => {
    const g = new StateGraph();
    at(g, ev("transport.bw", "mlx5_1", "IO_WAIT LINK_DOWN port=1", 1));
    at(g, ev("topo.link_down", "mlx5_1", "LINK_DOWN port=1"));
    // Known from readings only: it may have been on the NIC unreported; its wait is the fault's.
    at(g, ev("transport.bw", "mlx5_1", "0.2", 2, T0 + 30_000));
    assert.deepEqual(blockers(g, 2), ["error-mlx5_1"]);
    // Started a minute after the port was last seen down (it came back): not its fault.
    at(g, { ...ev("process.state", "gpu-3", "start", 3, T0 + 60_000), job_id: "job-b" });
    at(g, ev("transport.bw", "mlx5_1", "0.3", 3, T0 + 61_000));
    assert.deepEqual(blockers(g, 3), []);
    // The port goes down again: now it is.
    at(g, ev("topo.link_down", "mlx5_1", "LINK_DOWN port=1", null, T0 + 90_000));
    assert.deepEqual(blockers(g, 3), ["error-mlx5_1"]);
  });
});

describe("a device fault stamped before a process started", () => {
  it("does not reach it (a kernel record read late); the next fault there does", () => {
    const g = new StateGraph();
    g.apply({ ...ev("process.state", "gpu-0", "start", 5, T0), job_id: "job-b" }, T0);
    g.apply(ev("compute.util", "gpu-0", "90", 5, T0 + 1), T0 + 1);
    // Known from readings only: it may have started after the fault too, so it is not blamed for
    // it (a fault that came first would not reach it either: test/graph/blind-order.test.ts).
    g.apply(ev("compute.util", "gpu-0", "90", 6, T0 + 1), T0 + 1);
    g.apply(ev("error.hw", "gpu-0", "XID_48", null, T0 - 60_000), T0 + 2);
    assert.deepEqual([blockers(g, 5), blockers(g, 6)], [[], []]);
    g.apply(ev("error.hw", "gpu-0", "XID_48", null, T0 + 10), T0 + 10);
    assert.deepEqual([blockers(g, 5), blockers(g, 6)], [["error-gpu-0"], ["error-gpu-0"]]);
  });
});

describe("a device fault from before the graph saw its device (a kernel log's backlog at the exporter's start)", () => {
  const at = (g: StateGraph, e: XEvent, wall = e.ts) => g.apply(e, wall);
  const START = (pid: number, ts: number) => ev("process.state", `pid-${pid}`, "start", pid, ts);
  it("reaches a process first seen on the device later once its start is known and before the fault; not one started after it", () => {
    const g = new StateGraph();
    // Read from the ring at T0: logged 100 s and 240 s before, no reading of either GPU yet.
    at(g, ev("error.hw", "gpu-1", "XID_74", null, T0 - 100_000), T0);
    at(g, ev("error.hw", "gpu-2", "XID_48", null, T0 - 240_000), T0);
    // nvidia-smi lists the processes: their start is not known, so neither is whether they were there.
    for (const [pid, gpu] of [[1, "gpu-1"], [2, "gpu-2"], [3, "gpu-1"]] as const) at(g, ev("compute.util", gpu, "100", pid, T0 + 1000));
    assert.deepEqual([blockers(g, 1), blockers(g, 2), blockers(g, 3)], [[], [], []]);
    // builtin:procfs reads their starts: 1 ran for hours, 2 started after gpu-2's fault, 3 after gpu-1's.
    at(g, START(1, T0 - 3 * 3600_000), T0 + 15_000);
    at(g, START(2, T0 - 60_000), T0 + 15_000);
    at(g, START(3, T0 - 30_000), T0 + 15_000);
    assert.deepEqual([blockers(g, 1), blockers(g, 2), blockers(g, 3)], [["error-gpu-1"], [], []]);
    assert.equal(g.processes.get(1)!.blockedAt[0], T0 - 100_000, "charged at the fault's time");
    assert.equal(g.processes.get(1)!.state, "running");
    assert.equal(g.processes.get(1)!.updatedTs, T0 + 1000, "a late word of its start does not move its last news back");
    // A process whose start was told before its first reading there (a probe's start): the same
    // facts as pid 1's in the other order, the same answer (blind-order.test.ts has every order).
    at(g, START(4, T0 - 7200_000), T0 + 16_000);
    at(g, ev("compute.util", "gpu-1", "100", 4, T0 + 16_000));
    assert.deepEqual(blockers(g, 4), ["error-gpu-1"]);
    // One that started after the fault came to the device after it, in either order.
    at(g, START(5, T0 - 30_000), T0 + 16_000);
    at(g, ev("compute.util", "gpu-1", "100", 5, T0 + 16_000));
    assert.deepEqual(blockers(g, 5), []);
  });

  it("a process fault of a pid the graph did not hold yet reaches the process once its start is told, if it started by then", () => {
    const g = new StateGraph();
    // The ring's Xid 31 of pid 1 (an inference server that runs on with a broken context), and
    // an Xid 13 of pid 2 from before pid 2's process started (its earlier owner's).
    at(g, ev("error.hw", "gpu-0", "XID_31 NVRM: Xid (PCI:0000:18:00): 31, pid=1, name=tritonserver, Ch 00000010", 1, T0 - 90_000), T0);
    at(g, ev("error.hw", "gpu-1", "XID_13 NVRM: Xid (PCI:0000:3b:00): 13, pid=2, name=python3, Graphics Exception", 2, T0 - 200_000), T0);
    at(g, ev("compute.util", "gpu-0", "0", 1, T0 + 1000));
    at(g, ev("compute.util", "gpu-1", "90", 2, T0 + 1000));
    assert.deepEqual([blockers(g, 1), blockers(g, 2)], [[], []], "start not known: the pid may have been another process's then");
    at(g, START(1, T0 - 3 * 3600_000), T0 + 15_000);
    at(g, START(2, T0 - 100_000), T0 + 15_000);
    assert.deepEqual([blockers(g, 1), blockers(g, 2)], [["error-gpu-0"], []]);
    assert.match(g.processes.get(1)!.blockedType[0], /^XID_31 /);
    // A probe's start that comes after the kernel's line of the process's own fault, stamped before it.
    at(g, ev("error.hw", "gpu-2", "XID_43 NVRM: Xid (PCI:0000:5e:00): 43, pid=3, name=python3, Ch 00000008", 3, T0 + 20_000), T0 + 20_000);
    at(g, { ...START(3, T0 + 19_800), job_id: "job-c" }, T0 + 20_100);
    assert.deepEqual(blockers(g, 3), ["error-gpu-2"]);
  });

  it("does not reach a process that started before a fault on a device the graph watched, but came to the device after it", () => {
    const g = new StateGraph();
    at(g, ev("compute.util", "gpu-1", "0", null, T0 - 300_000));
    at(g, ev("error.hw", "gpu-1", "XID_92", null, T0 - 100_000));
    // Started at T0 - 200 s (loading data on the CPU), first on the GPU at T0: nvidia-smi watched the GPU all along.
    at(g, ev("compute.util", "gpu-1", "90", 1, T0));
    at(g, START(1, T0 - 200_000), T0 + 15_000);
    assert.deepEqual(blockers(g, 1), []);
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

describe("the device faults a process is told of", () => {
  const faults = (g: StateGraph, pid: number) => {
    const p = g.processes.get(pid)!;
    return blockingFaults(p, 0, g.eventNow, Date.now(), g.errorWindowMs).map((f) => f.type);
  };
  it("names the last of each code since it was linked, not only the last report: a repeated one hides no other", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-02", "97", 7, T0), Date.now());
    // The kernel's Xid 79, then nvidia-smi's GPU_LOST each minute.
    g.apply(ev("error.hw", "gpu-02", "XID_79", null, T0 + 1000), Date.now());
    g.apply(ev("error.hw", "gpu-02", "GPU_LOST Unknown Error", null, T0 + 2000), Date.now());
    g.apply(ev("error.hw", "gpu-02", "GPU_LOST Unknown Error", null, T0 + 62_000), Date.now());
    assert.equal(blockedType(g.processes.get(7)!, 0), "GPU_LOST Unknown Error", "the node keeps one value");
    assert.deepEqual(faults(g, 7), ["GPU_LOST Unknown Error", "XID_79"]);
    // A heat report each minute with its temperature is one code, its last value.
    g.apply(ev("error.hw", "gpu-02", "TEMP_HIGH temp=91", null, T0 + 63_000), Date.now());
    g.apply(ev("error.hw", "gpu-02", "TEMP_HIGH temp=94", null, T0 + 123_000), Date.now());
    assert.deepEqual(faults(g, 7), ["TEMP_HIGH temp=94", "GPU_LOST Unknown Error", "XID_79"]);
  });

  it("leaves out those before it used the device and those past the error window", () => {
    const g = new StateGraph({ errorWindowMs: 60_000 });
    g.apply(ev("compute.util", "gpu-02", "97", 7, T0), Date.now());
    g.apply(ev("error.hw", "gpu-02", "XID_48", null, T0 + 1000), Date.now());
    g.apply(ev("compute.util", "gpu-02", "97", 8, T0 + 2000), Date.now());
    g.apply(ev("error.hw", "gpu-02", "TEMP_HIGH temp=91", null, T0 + 30_000), Date.now());
    assert.deepEqual(faults(g, 7), ["TEMP_HIGH temp=91", "XID_48"]);
    assert.deepEqual(faults(g, 8), ["TEMP_HIGH temp=91"], "it came to the GPU after the Xid 48");
    g.apply(ev("error.hw", "gpu-02", "TEMP_HIGH temp=92", null, T0 + 75_000), Date.now());
    assert.deepEqual(faults(g, 7), ["TEMP_HIGH temp=92"], "the Xid 48 left the window");
  });
});
