// One scenario per edge rule and lifecycle rule of SPEC §3, with exact counts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StateGraph } from "../../src/graph/graph.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;
const MIN = 60_000;

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null = null, ts = T0, job_id: string | null = null): XEvent {
  return { ts, event_type, entity_id, job_id, pid, value };
}

function counts(g: StateGraph) {
  return {
    consumes: g.edges.consumes,
    waits_on: g.edges.waits_on,
    blocked_by: g.edges.blocked_by,
    processes: g.activeProcesses,
    resources: g.resources.size,
    errors: g.errors.size,
  };
}

describe("edges", () => {
  it("consumes: compute.util and compute.mem with a pid, unique per pair", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-00", "85", 1), T0);
    g.apply(ev("compute.mem", "gpu-00", "40", 1), T0); // same pair: still one edge
    g.apply(ev("compute.util", "gpu-01", "85", 1), T0);
    g.apply(ev("compute.util", "gpu-01", "85", 2), T0);
    g.apply(ev("compute.util", "gpu-02", "10"), T0); // no pid: resource only
    assert.deepEqual(counts(g), { consumes: 3, waits_on: 0, blocked_by: 0, processes: 2, resources: 3, errors: 0 });
    assert.equal(g.resources.get("gpu-00")!.meta.mem, "40");
    assert.equal(g.resources.get("gpu-00")!.meta.util, "85");
  });

  it("waits_on: transport.drop always; transport.bw on IO_WAIT or below 1.0", () => {
    const g = new StateGraph();
    g.apply(ev("transport.drop", "mlx5_0", "3", 10), T0);
    g.apply(ev("transport.bw", "mlx5_1", "200", 11), T0); // busy, not waiting
    g.apply(ev("transport.bw", "mlx5_1", "0.5", 12), T0);
    g.apply(ev("transport.bw", "mlx5_2", "IO_WAIT", 13), T0);
    g.apply(ev("transport.bw", "mlx5_2", "1.0", 14), T0); // not below 1.0
    assert.deepEqual(counts(g), { consumes: 0, waits_on: 3, blocked_by: 0, processes: 5, resources: 3, errors: 0 });
  });

  it("waits_on: storage.iops and storage.qdepth under the transport rule", () => {
    const g = new StateGraph();
    g.apply(ev("storage.iops", "nvme0n1", "0", 20), T0);
    g.apply(ev("storage.iops", "nvme0n1", "5000", 21), T0);
    g.apply(ev("storage.qdepth", "nvme0n1", "IO_WAIT", 22), T0);
    g.apply(ev("storage.qdepth", "nvme0n1", "32", 23), T0);
    assert.equal(g.edges.waits_on, 2);
    assert.equal(g.resources.get("nvme0n1")!.meta.qdepth, "32");
  });

  it("waits_on ends when the process's own readings there say it moves data again, not another's or the device's", () => {
    const g = new StateGraph();
    const waits = (pid: number) => [...g.processes.get(pid)!.waitsOn].map((r) => r.id);
    g.apply(ev("storage.qdepth", "nvme0n1", "IO_WAIT D for 30s", 1), T0);
    g.apply(ev("storage.qdepth", "nvme0n1", "IO_WAIT D for 30s", 2), T0);
    g.apply(ev("storage.iops", "nvme0n1", "0"), T0); // the disk, no pid: nobody's wait changes
    g.apply(ev("storage.qdepth", "nvme0n1", "D ended after 45s", 2), T0); // builtin:procfs: 2 is out of D
    assert.deepEqual([waits(1), waits(2)], [["nvme0n1"], []], "only 2's own reading ends 2's wait");
    assert.equal(g.edges.waits_on, 1);
    // A wait made by drops and a stalled bandwidth ends when its own bandwidth flows again.
    g.apply(ev("transport.drop", "mlx5_0", "40", 3), T0);
    g.apply(ev("transport.bw", "mlx5_0", "0.2", 3), T0);
    g.apply(ev("transport.bw", "mlx5_0", "12.5", 4), T0); // another process's traffic
    assert.deepEqual(waits(3), ["mlx5_0"]);
    g.apply(ev("transport.bw", "mlx5_0", "12.5", 3), T0);
    assert.deepEqual(waits(3), []);
    // While one of its own readings there still says it waits, it waits.
    g.apply(ev("storage.iops", "storage-01", "IO_WAIT", 5), T0);
    g.apply(ev("storage.qdepth", "storage-01", "64", 5), T0);
    assert.deepEqual(waits(5), ["storage-01"]);
    g.apply(ev("storage.iops", "storage-01", "850", 5), T0);
    assert.deepEqual(waits(5), []);
    assert.equal(g.edges.waits_on, 1);
    // A new wait is a new edge.
    g.apply(ev("storage.iops", "storage-01", "IO_WAIT", 5), T0);
    assert.deepEqual(waits(5), ["storage-01"]);
  });

  it("a wait that only drops hold ends an error window after the process's last drop there; one its own reading holds stays", () => {
    // builtin:infiniband and builtin:npu-smi send a drop when error counters rise and nothing
    // when they stop: a burst twenty minutes ago is not what the job waits on now.
    const g = new StateGraph({ errorWindowMs: 5 * MIN });
    const waits = (pid: number) => [...g.processes.get(pid)!.waitsOn].map((r) => r.id).sort();
    g.apply(ev("transport.drop", "mlx5_0", "3", 1, T0), T0);
    g.apply(ev("transport.drop", "hccs-0", "6", 2, T0), T0);
    g.apply(ev("transport.drop", "mlx5_1", "5", 2, T0), T0);
    g.apply(ev("transport.bw", "mlx5_1", "IO_WAIT LINK_DOWN port=1", 2, T0), T0); // its own reading holds this one
    g.apply(ev("transport.drop", "mlx5_0", "2", 1, T0 + 3 * MIN), T0 + 3 * MIN); // 1's drops go on
    g.apply(ev("compute.util", "gpu-00", "90", 9, T0 + 5 * MIN + 1000), T0 + 5 * MIN + 1000);
    assert.deepEqual([waits(1), waits(2)], [["mlx5_0"], ["mlx5_1"]], "2's drops on hccs-0 are over; 1's last came 2 minutes ago");
    g.apply(ev("compute.util", "gpu-00", "90", 9, T0 + 8 * MIN + 1000), T0 + 8 * MIN + 1000);
    assert.deepEqual([waits(1), waits(2)], [[], ["mlx5_1"]]);
    assert.equal(g.edges.waits_on, 1);
    // By the wall clock too: a stream that goes quiet.
    g.apply(ev("transport.drop", "mlx5_0", "2", 1, T0 + 9 * MIN), T0 + 9 * MIN);
    g.cleanup(T0 + 15 * MIN);
    assert.deepEqual(waits(1), []);
  });

  it("below 1.0 reads integers, decimals and odd spellings alike", () => {
    const waits = (value: string) => {
      const g = new StateGraph();
      g.apply(ev("storage.iops", "nvme0n1", value, 1), T0);
      return g.edges.waits_on === 1;
    };
    for (const v of ["0", "00", "0.0", "0.99", ".5", "0.", "-3", "1e-3", " 0", "0 IO_WAIT", "5 IO_WAIT", "0.5.1"]) assert.equal(waits(v), true, v);
    for (const v of ["1", "01", "10", "1.0", "22.7", "5000", "1e3", "", ".", "n/a", "Infinity", "1.5.0"]) assert.equal(waits(v), false, v);
  });

  it("blocked_by: a device fault on E blocks every process using E (consumers and waiters)", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-03", "90", 1), T0);
    g.apply(ev("compute.util", "gpu-03", "90", 2), T0);
    g.apply(ev("compute.util", "gpu-04", "90", 3), T0);
    g.apply(ev("transport.drop", "gpu-03", "1", 4), T0); // waits on, does not consume: blocked too
    g.apply(ev("error.hw", "gpu-03", "XID_79"), T0);
    assert.deepEqual(counts(g), { consumes: 3, waits_on: 1, blocked_by: 3, processes: 4, resources: 2, errors: 1 });
    g.apply(ev("error.hw", "gpu-03", "XID_48"), T0); // refresh: same node, same edges
    assert.equal(g.edges.blocked_by, 3);
    assert.equal(g.errors.get("gpu-03")!.errorType, "XID_48");
    g.apply(ev("error.net", "mlx5_0", "PFC storm"), T0); // nobody consumes mlx5_0
    g.apply(ev("topo.link_down", "gpu-04", "NVLINK_DOWN"), T0);
    assert.deepEqual(counts(g), { consumes: 3, waits_on: 1, blocked_by: 4, processes: 4, resources: 2, errors: 3 });
  });
});

describe("lifecycle", () => {
  it("start makes a running process with its job; exit leaves with its edges at the next cleanup", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "host", "start", 7, T0, "job-1"), T0);
    assert.equal(g.processes.get(7)!.state, "running");
    assert.equal(g.processes.get(7)!.jobId, "job-1");
    g.apply(ev("compute.util", "gpu-00", "80", 7), T0);
    g.apply(ev("transport.drop", "mlx5_0", "2", 7), T0);
    g.apply(ev("error.hw", "gpu-00", "OOM"), T0);
    assert.deepEqual(counts(g), { consumes: 1, waits_on: 1, blocked_by: 1, processes: 1, resources: 2, errors: 1 });
    g.apply(ev("process.state", "host", "exit", 7), T0);
    assert.equal(g.activeProcesses, 0, "exited is not active");
    assert.equal(g.processes.size, 1, "still in the graph until cleanup");
    assert.equal(g.edges.consumes, 1);
    g.cleanup(T0);
    assert.deepEqual(counts(g), { consumes: 0, waits_on: 0, blocked_by: 0, processes: 0, resources: 2, errors: 1 });
    assert.equal(g.processes.size, 0);
  });

  it("zombie leaves like exit; start revives before cleanup", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "h", "start", 1), T0);
    g.apply(ev("process.state", "h", "zombie", 1), T0);
    g.apply(ev("process.state", "h", "start", 1), T0);
    g.cleanup(T0);
    assert.equal(g.processes.get(1)!.state, "running");
    assert.equal(g.activeProcesses, 1);
  });

  it("a start on an ended pid, or naming another job, is a new process: the old one's edges leave with it", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "h", "start", 3, T0, "job-a"), T0);
    g.apply(ev("compute.util", "gpu-00", "80", 3, T0, "job-a"), T0);
    g.apply(ev("error.hw", "gpu-00", "XID_79", null, T0 + 1), T0);
    assert.equal(g.edges.blocked_by, 1);
    g.apply(ev("process.state", "h", "exit", 3, T0 + 2, "job-a"), T0);
    // Before any cleanup, the pid is taken again by another job's process on another GPU.
    g.apply(ev("process.state", "h", "start", 3, T0 + 3, "job-b"), T0);
    g.apply(ev("compute.util", "gpu-01", "80", 3, T0 + 4, "job-b"), T0);
    const p = g.processes.get(3)!;
    assert.equal(p.jobId, "job-b");
    assert.deepEqual([...p.consumes].map((r) => r.id), ["gpu-01"]);
    assert.deepEqual(p.blockedBy, [], "the old process's Xid is not the new one's");
    assert.equal(p.bornTs, T0 + 3);
    assert.deepEqual(counts(g), { consumes: 1, waits_on: 0, blocked_by: 0, processes: 1, resources: 2, errors: 1 });
    // An exit never reported: a start naming another job replaces the running process too.
    g.apply(ev("error.hw", "gpu-01", "XID_79", null, T0 + 5), T0);
    assert.equal(g.edges.blocked_by, 1);
    g.apply(ev("process.state", "h", "start", 3, T0 + 6, "job-c"), T0);
    assert.deepEqual(counts(g), { consumes: 0, waits_on: 0, blocked_by: 0, processes: 1, resources: 2, errors: 2 });
    // A repeated start of the same job keeps the process and its edges.
    g.apply(ev("compute.util", "gpu-01", "80", 3, T0 + 7, "job-c"), T0);
    g.apply(ev("process.state", "h", "start", 3, T0 + 8, "job-c"), T0);
    assert.equal(g.edges.consumes, 1);
    assert.equal(g.processes.get(3)!.bornTs, T0 + 6);
  });

  it("any event naming another job than the pid's is a new process's (pid reuse, no start seen): intent, reading or state", () => {
    const g = new StateGraph();
    const hit = (pid: number, job: string, gpu: string, ts: number) => {
      g.apply(ev("process.state", "h", "start", pid, ts, job), ts);
      g.apply(ev("compute.util", gpu, "80", pid, ts, job), ts);
      g.apply(ev("error.hw", gpu, "XID_79", null, ts + 1), ts + 1);
      assert.equal(g.processes.get(pid)!.blockedBy.length, 1);
    };
    // The scheduler's intent names a new job on the pid.
    hit(3, "job-a", "gpu-00", T0);
    g.apply(ev("intent.run", "gpu-01", "train", 3, T0 + 10, "job-b"), T0 + 10);
    let p = g.processes.get(3)!;
    assert.equal(p.jobId, "job-b");
    assert.deepEqual(p.blockedBy, [], "job-a's Xid is not job-b's");
    assert.equal(p.consumes.size, 0);
    assert.equal(p.bornTs, T0 + 10);
    assert.equal(p.state, "running");
    // A reading naming a new job.
    hit(4, "job-c", "gpu-02", T0 + 20);
    g.apply(ev("compute.util", "gpu-03", "80", 4, T0 + 30, "job-d"), T0 + 30);
    p = g.processes.get(4)!;
    assert.deepEqual([p.jobId, p.blockedBy.length, [...p.consumes].map((r) => r.id)], ["job-d", 0, ["gpu-03"]]);
    // A state naming a new job.
    hit(5, "job-e", "gpu-01", T0 + 40);
    g.apply(ev("process.state", "h", "checkpoint_saving", 5, T0 + 50, "job-f"), T0 + 50);
    p = g.processes.get(5)!;
    assert.deepEqual([p.jobId, p.state, p.blockedBy.length, p.consumes.size], ["job-f", "checkpoint_saving", 0, 0]);
    // A job id learnt late (none before) or repeated is the same process.
    g.apply(ev("compute.util", "gpu-03", "80", 6, T0 + 60), T0 + 60);
    g.apply(ev("error.hw", "gpu-03", "XID_48", null, T0 + 61), T0 + 61);
    g.apply(ev("intent.run", "gpu-03", "train", 6, T0 + 62, "job-g"), T0 + 62);
    g.apply(ev("compute.util", "gpu-03", "80", 6, T0 + 63, "job-g"), T0 + 63);
    assert.deepEqual([g.processes.get(6)!.jobId, g.processes.get(6)!.blockedBy.length], ["job-g", 1]);
  });

  it("events stamped before the process that has the pid now are its earlier owner's: an old kill ends it not, an old OOM blocks it not", () => {
    const g = new StateGraph();
    // Known from its start: anything stamped before it is another process's.
    g.apply(ev("process.state", "h", "start", 7, T0, "job-b"), T0);
    g.apply(ev("compute.util", "gpu-00", "90", 7, T0 + 10, "job-b"), T0 + 10);
    g.apply(ev("process.state", "memory", "oom_killed", 7, T0 - 2 * MIN), T0 + 20); // a kernel log's backlog, read late
    g.apply(ev("error.hw", "gpu-00", "CUDA out of memory", 7, T0 - MIN), T0 + 20);
    g.apply(ev("compute.util", "gpu-03", "90", 7, T0 - MIN, "job-b"), T0 + 20);
    g.apply(ev("intent.run", "gpu-03", "train", 7, T0 - MIN, "job-a"), T0 + 20);
    g.apply(ev("compute.util", "gpu-01", "90", null, T0 + 2000), T0 + 2000); // a cleanup runs
    let p = g.processes.get(7)!;
    assert.deepEqual([p.state, p.jobId, p.blockedBy.length, [...p.consumes].map((r) => r.id)], ["running", "job-b", 0, ["gpu-00"]]);
    // Known from readings only: an end stamped well before it was last heard of alive is not its own.
    g.apply(ev("compute.util", "gpu-02", "90", 8, T0 + 60_000), T0 + 60_000);
    g.apply(ev("process.state", "memory", "oom_killed", 8, T0 + 30_000), T0 + 60_000);
    g.apply(ev("compute.util", "gpu-01", "90", null, T0 + 62_000), T0 + 62_000);
    assert.equal(g.processes.get(8)?.state, "running");
    // A late exit of the job that had the pid before (stamped before this one was heard of) ends it not either.
    g.apply(ev("compute.util", "gpu-02", "90", 9, T0 + 60_000, "job-new"), T0 + 60_000);
    g.apply(ev("process.state", "h", "exit", 9, T0 + 20_000, "job-old"), T0 + 62_000);
    assert.deepEqual([g.processes.get(9)?.jobId, g.processes.get(9)?.state, g.processes.get(9)?.consumes.size], ["job-new", "running", 1]);
    // Its own end, stamped a little before its last reading (another clock), ends it.
    g.apply(ev("process.state", "memory", "oom_killed", 8, T0 + 59_000), T0 + 62_000);
    assert.equal(g.processes.get(8)?.state, "oom_killed");
    // And from its start on, its own events count.
    g.apply(ev("error.hw", "gpu-00", "CUDA out of memory", 7, T0 + 3000), T0 + 63_000);
    p = g.processes.get(7)!;
    assert.equal(p.blockedBy.length, 1);
  });

  it("a job id a collector inferred (procfs: 'job_id from ...') gives way to the name a probe reports for the same process: no new process, no edge lost", () => {
    const g = new StateGraph();
    // nvidia-smi lists the pid (no job), the GPU falls off the bus, procfs reads its Slurm id.
    g.apply(ev("compute.util", "gpu-00", "90", 7, T0), T0);
    g.apply(ev("error.hw", "gpu-00", "XID_79", null, T0 + 10), T0 + 10);
    g.apply(ev("intent.run", "host", "job_id from SLURM_JOB_ID", 7, T0 + 20, "7001"), T0 + 20);
    const p = g.processes.get(7)!;
    assert.deepEqual([p.jobId, p.blockedBy.length], ["7001", 1]);
    // The site's probe names the job its own way: the same process, still blocked by the Xid.
    g.apply(ev("compute.mem", "gpu-00", "40", 7, T0 + 30, "llama-pretrain"), T0 + 30);
    const q = g.processes.get(7)!;
    assert.equal(q, p, "the same process node");
    assert.deepEqual([q.jobId, q.blockedBy.map((e) => e.entityId), [...q.consumes].map((r) => r.id)], ["llama-pretrain", ["gpu-00"], ["gpu-00"]]);
    // An inference read before the probe's line and arriving after it replaces nothing.
    g.apply(ev("intent.run", "host", "job_id from SLURM_JOB_ID", 7, T0 + 35, "7001"), T0 + 35);
    assert.deepEqual([g.processes.get(7), q.jobId, q.blockedBy.length], [q, "llama-pretrain", 1]);
    // Once a source reported its job, another job on the pid is another process again (pid reuse).
    g.apply(ev("compute.util", "gpu-01", "90", 7, T0 + 40, "other-job"), T0 + 40);
    assert.notEqual(g.processes.get(7), q);
    assert.deepEqual(g.processes.get(7)!.blockedBy, []);
  });

  it("events stamped a little before a start (another source's clock) are the process's own: a job id read once is kept", () => {
    const g = new StateGraph();
    // A start pushed and stamped on receipt; a collector's round stamped 300 ms earlier by its own clock.
    g.apply(ev("process.state", "h", "start", 7, T0), T0);
    g.apply(ev("intent.run", "h", "job_id from SLURM_JOB_ID", 7, T0 - 300, "7001"), T0 + 10);
    g.apply(ev("compute.util", "gpu-00", "90", 7, T0 - 200, "7001"), T0 + 10);
    const p = g.processes.get(7)!;
    assert.deepEqual([p.jobId, p.state, [...p.consumes].map((r) => r.id)], ["7001", "running", ["gpu-00"]]);
  });

  it("a running process is never removed for being quiet", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "h", "start", 1), T0);
    g.apply(ev("compute.util", "gpu-00", "1", 99, T0 + 60 * MIN), T0 + 60 * MIN);
    g.cleanup(T0 + 60 * MIN);
    assert.equal(g.processes.has(1), true);
  });

  it("another state is kept, stays active, and leaves after 10 minutes without updates", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "h", "checkpoint_saving", 5), T0);
    assert.equal(g.processes.get(5)!.state, "checkpoint_saving");
    assert.equal(g.activeProcesses, 1);
    g.apply(ev("compute.util", "gpu-00", "1", null, T0 + 9 * MIN), T0 + 9 * MIN);
    g.cleanup(T0 + 9 * MIN);
    assert.equal(g.processes.has(5), true);
    g.apply(ev("compute.util", "gpu-00", "1", null, T0 + 11 * MIN), T0 + 11 * MIN);
    g.cleanup(T0 + 11 * MIN);
    assert.equal(g.processes.has(5), false);
    assert.equal(g.activeProcesses, 0);
  });

  it("an exit for an unknown pid creates nothing", () => {
    const g = new StateGraph();
    g.apply(ev("process.state", "h", "exit", 42), T0);
    assert.equal(g.processes.size, 0);
  });

  it("compute, transport and storage events with an unknown pid create the process", () => {
    const g = new StateGraph();
    g.apply(ev("compute.mem", "gpu-00", "10", 1, T0, "j"), T0);
    g.apply(ev("transport.bw", "mlx5_0", "100", 2), T0);
    g.apply(ev("storage.qdepth", "nvme0n1", "4", 3), T0);
    g.apply(ev("action.exec", "gpu-00", "kill", 4), T0);
    g.apply(ev("intent.run", "sched", "", 5, T0, "j5"), T0);
    assert.deepEqual([...g.processes.keys()].sort(), [1, 2, 3]);
    assert.equal(g.processes.get(1)!.jobId, "j");
  });
});

describe("error window and cleanup clocks", () => {
  it("an error expires by event time after the window, taking its blocked_by edges", () => {
    const g = new StateGraph({ errorWindowMs: 5 * MIN });
    g.apply(ev("compute.util", "gpu-00", "90", 1), T0);
    g.apply(ev("error.hw", "gpu-00", "XID_79"), T0);
    g.apply(ev("compute.util", "gpu-00", "90", 1, T0 + 4 * MIN), T0); // wall clock stands still (replay)
    assert.equal(g.errors.size, 1);
    g.apply(ev("compute.util", "gpu-00", "90", 1, T0 + 6 * MIN), T0);
    assert.equal(g.errors.size, 0, "cleanup ran from event time alone");
    assert.equal(g.edges.blocked_by, 0);
  });

  it("a stream that goes quiet still expires its errors by wall clock", () => {
    const g = new StateGraph({ errorWindowMs: 5 * MIN });
    g.apply(ev("compute.util", "gpu-00", "90", 1), T0);
    g.apply(ev("error.hw", "gpu-00", "XID_79"), T0);
    g.cleanup(T0 + 4 * MIN);
    assert.equal(g.errors.size, 1);
    g.cleanup(T0 + 6 * MIN);
    assert.equal(g.errors.size, 0);
    assert.equal(g.edges.blocked_by, 0);
  });

  it("a refreshed error lives a window from its last update", () => {
    const g = new StateGraph({ errorWindowMs: 5 * MIN });
    g.apply(ev("error.net", "mlx5_0", "CNP"), T0);
    g.apply(ev("error.net", "mlx5_0", "CNP", null, T0 + 4 * MIN), T0 + 4 * MIN);
    g.cleanup(T0 + 8 * MIN);
    assert.equal(g.errors.size, 1);
    g.cleanup(T0 + 10 * MIN);
    assert.equal(g.errors.size, 0);
  });

  it("resources stay unless a TTL is set", () => {
    const kept = new StateGraph();
    kept.apply(ev("compute.util", "gpu-00", "1"), T0);
    kept.cleanup(T0 + 1000 * MIN);
    assert.equal(kept.resources.size, 1);
    const ttl = new StateGraph({ resourceTtlMs: 10 * MIN });
    ttl.apply(ev("compute.util", "gpu-00", "1", 3), T0);
    ttl.apply(ev("compute.util", "gpu-01", "1", null, T0 + 11 * MIN), T0 + 11 * MIN);
    ttl.cleanup(T0 + 11 * MIN);
    assert.deepEqual([...ttl.resources.keys()], ["gpu-01"]);
    assert.equal(ttl.edges.consumes, 0);
  });
});

describe("root cause", () => {
  it("lists blocked_by errors and waits_on resources of a process", () => {
    const g = new StateGraph();
    g.apply(ev("compute.util", "gpu-00", "90", 1), T0);
    g.apply(ev("transport.drop", "mlx5_0", "20", 1), T0);
    g.apply(ev("error.hw", "gpu-00", "XID_79"), T0);
    const p = g.processes.get(1)!;
    assert.deepEqual([...p.blockedBy].map((e) => [e.id, e.errorType]), [["error-gpu-00", "XID_79"]]);
    assert.deepEqual([...p.waitsOn].map((r) => r.id), ["mlx5_0"]);
  });
});

describe("max nodes", () => {
  it("evicts ended processes first, then the least recently updated, and counts it", () => {
    const g = new StateGraph({ maxNodes: 100 });
    for (let pid = 1; pid <= 20; pid++) g.apply(ev("process.state", "h", "start", pid, T0 + pid), T0 + pid);
    for (let pid = 1; pid <= 5; pid++) g.apply(ev("process.state", "h", "exit", pid, T0 + 100), T0 + 100);
    for (let pid = 21; pid <= 101; pid++) g.apply(ev("process.state", "h", "start", pid, T0 + 200 + pid), T0 + 200 + pid);
    assert.ok(g.nodeCount <= 100);
    for (let pid = 1; pid <= 5; pid++) assert.equal(g.processes.has(pid), false, `ended ${pid} evicted`);
    assert.equal(g.processes.has(101), true, "newest kept");
    assert.ok(g.evictions.get("process")! >= 5);
    // Counts stay exact after eviction.
    let active = 0;
    for (const p of g.processes.values()) if (p.state !== "exit") active++;
    assert.equal(g.activeProcesses, active);
  });
});

describe("edge bookkeeping under churn (seeded)", () => {
  // A naive model of SPEC §3's edges, against which the graph's sets, bits and counts are
  // checked after every step: resources come and go (TTL), errors expire, processes exit and
  // come back, so target indexes are given back and reused. Run with a bitmap bound below the
  // number of targets too, so some targets have bits and the others only sets.
  for (const indexedTargets of [1024, 5]) {
    it(`matches a model, with ${indexedTargets} indexed targets`, () => {
      let s = 7;
      const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const g = new StateGraph({ resourceTtlMs: 3 * MIN, errorWindowMs: 2 * MIN, indexedTargets, cleanupEveryMs: 1000 });
      const types: EventType[] = ["compute.util", "transport.drop", "storage.iops", "error.hw", "process.state"];
      let ts = T0;
      let removed = 0;
      for (let step = 0; step < 4000; step++) {
        // now and then a quiet spell longer than the TTL and the window: targets leave
        ts += rand() < 0.01 ? 4 * MIN : Math.floor(rand() * 2000);
        const type = types[Math.floor(rand() * types.length)];
        const entity = `r${Math.floor(rand() * 12)}`;
        const pid = 1 + Math.floor(rand() * 8);
        const value = type === "process.state" ? (rand() < 0.5 ? "start" : "exit") : type === "storage.iops" ? "0.5" : "50";
        const before = g.resources.size + g.errors.size;
        g.apply(ev(type, entity, value, pid, ts), ts);
        removed += Math.max(0, before - (g.resources.size + g.errors.size));
        // The model: what the sets say, and the bits must say the same.
        const model = { consumes: 0, waits_on: 0, blocked_by: 0 };
        for (const p of g.processes.values()) {
          model.consumes += p.consumes.size;
          model.waits_on += p.waitsOn.size;
          model.blocked_by += p.blockedBy.length;
          assert.equal(new Set(p.blockedBy).size, p.blockedBy.length, `step ${step}: ${p.id} blocked twice by one error`);
          for (const r of g.resources.values()) {
            assert.equal(r.consumers.has(p), p.consumes.has(r), `step ${step}`);
            assert.equal(r.waiters.has(p), p.waitsOn.has(r), `step ${step}`);
            if (r.ix >= 0) {
              assert.equal(_bit(p.edgeBits[0], r.ix), p.consumes.has(r), `step ${step}: consumes bit of ${p.id} -> ${r.id}`);
              assert.equal(_bit(p.edgeBits[1], r.ix), p.waitsOn.has(r), `step ${step}: waits_on bit of ${p.id} -> ${r.id}`);
            }
          }
          for (const e of g.errors.values()) {
            assert.equal(e.blocked.has(p), p.blockedBy.includes(e), `step ${step}`);
            if (e.ix >= 0) assert.equal(_bit(p.edgeBits[2], e.ix), p.blockedBy.includes(e), `step ${step}: blocked_by bit of ${p.id} -> ${e.id}`);
          }
        }
        assert.deepEqual({ ...g.edges }, model, `step ${step}`);
        // No two live targets share an index.
        const ixs = [...g.resources.values(), ...g.errors.values()].map((n) => n.ix).filter((i) => i >= 0);
        assert.equal(new Set(ixs).size, ixs.length, `step ${step}: an index is shared`);
      }
      assert.ok(g.resources.size > 0 && g.edges.consumes > 0);
      assert.ok(removed > 20, `only ${removed} targets left: the test must reuse indexes`);
    });
  }
});

function _bit(bits: Int32Array, ix: number): boolean {
  const w = ix >>> 5;
  return w < bits.length && (bits[w] & (1 << (ix & 31))) !== 0;
}
