// builtin:procfs: the /proc parsers on strings, rounds on the fixture tree rewritten between
// them through a real graph (exits, zombies, D waits and what they wait on, job ids), and two
// rounds on this machine's /proc.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { whyView } from "../../src/query/why.ts";
import { childPids, jobFromCgroup, mountOf, nfsServer, parseMountinfo, slurmJobFromEnviron, statFlags, statStart, statState, statusSwitches, syscallFd, wchanNotStorage } from "../../src/sources/procfs/parse.ts";
import { ProcfsSource } from "../../src/sources/procfs/index.ts";
import { ProcReader } from "../../src/sources/procfs/read.ts";
import { harness, hostTree, testClock, type Harness, type HostTree } from "./_host-kit.ts";

const STAT_TAIL = " 4100 4444 4444 0 -1 4194560 512034 0 14 0 81244 10311 0 0 20 0 41 0 2318844 82124513280 1250122 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 12 0 0 0 0 0\n";
const stat = (pid: number, comm: string, state: string) => `${pid} (${comm}) ${state}${STAT_TAIL}`;

describe("procfs parsers", () => {
  it("reads the fd of the file system call a task is blocked in from its syscall file, on x86-64 and arm64", () => {
    // `NR arg1 ... arg6 SP PC`, the arguments in hex; `running`, or `-1 SP PC` outside a system call.
    assert.equal(syscallFd("1 0x9 0x7f2a1c000000 0x100000 0x0 0x0 0x0 0x7ffd8e0 0x7f2a1d1", "x64"), 9, "write");
    assert.equal(syscallFd("75 0x5 0x0 0x0 0x0 0x0 0x0 0x7ffd8e0 0x7f2a1d1", "x64"), 5, "fdatasync");
    assert.equal(syscallFd("17 0x1c 0x7f 0x1000 0x2000 0x0 0x0 0x7ffd 0x7f2a", "x64"), 28, "pread64");
    assert.equal(syscallFd("64 0x9 0xffff8000 0x1000 0x0 0x0 0x0 0xffffd0 0xffff80", "arm64"), 9, "write on arm64");
    assert.equal(syscallFd("82 0x3 0x0 0x0 0x0 0x0 0x0 0xffffd0 0xffff80", "arm64"), 3, "fsync on arm64");
    assert.equal(syscallFd("64 0x9 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f2a", "x64"), null, "64 is semop on x86-64");
    assert.equal(syscallFd("16 0x3 0xc0104601 0x7ffd 0x0 0x0 0x0 0x7ffd 0x7f2a", "x64"), null, "ioctl names a device, not a wait on a file");
    assert.equal(syscallFd("202 0x7f2a 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f2a", "x64"), null, "futex");
    assert.equal(syscallFd("running", "x64"), null);
    assert.equal(syscallFd("-1 0x7ffd8e0 0x7f2a1d1", "x64"), null);
    assert.equal(syscallFd("1 0x9 0x0 0x0 0x0 0x0 0x0 0x0 0x0", "ia32"), null, "an architecture without a table");
    assert.equal(syscallFd("", "x64"), null);
  });

  it("tells a wchan that is no storage wait from one that may be", () => {
    for (const w of ["kernel_clone", "wait_for_vfork_done", "uvm_spin_loop", "nvidia_close", "nv_wait_open_complete", "_nv012345rm", "os_acquire_mutex", "ib_uverbs_close", "rdma_destroy_id", "mlx5_cmd_exec", "devdrv_manager_ioctl", "hdcdrv_recv", "tsdrv_ioctl", "rm_isr", "drm_ioctl"]) {
      assert.ok(wchanNotStorage(w), w);
    }
    for (const w of ["io_schedule", "folio_wait_bit_common", "nvme_submit_user_cmd", "rpc_wait_bit_killable", "jbd2_log_wait_commit", "blk_mq_get_tag", "0", "", "schedule_timeout", "down", "rwsem_down_read_slowpath"]) {
      assert.ok(!wchanNotStorage(w), w);
    }
  });

  it("sums a task's context switches from status, and lists the pids of a children file", () => {
    const status = "Name:\tpython3\nState:\tD (disk sleep)\nThreads:\t41\nvoluntary_ctxt_switches:\t1523\nnonvoluntary_ctxt_switches:\t88\n";
    assert.equal(statusSwitches(status), 1611);
    assert.equal(statusSwitches("Name:\tpython3\nvoluntary_ctxt_switches:\t3\n"), null, "both counts or none");
    assert.deepEqual(childPids("5555 5561 5570 "), [5555, 5561, 5570]);
    assert.deepEqual(childPids(""), []);
    assert.deepEqual(childPids("12 x 99999999999 "), [12]);
  });
  it("takes the state after the last parenthesis, whatever the command name holds", () => {
    assert.equal(statState(stat(7, "python3", "D")), "D");
    assert.equal(statState(stat(7, "a) Z (b", "S")), "S");
    assert.equal(statState(stat(7, "", "Z")), "Z");
    assert.equal(statState("7 (x"), null);
    assert.equal(statState(""), null);
    assert.equal(statStart(stat(7, "a) Z (b", "S")), 2318844);
    assert.equal(statStart("7 (x) S 1 2 3"), null);
    assert.equal(statFlags(stat(7, "a) Z (b", "S")), 4194560);
    assert.equal(statFlags("7 (x) S 1 2 3"), null);
  });

  it("finds SLURM_JOB_ID in a NUL-separated environment, not in a longer name or a bad value", () => {
    assert.equal(slurmJobFromEnviron("PATH=/bin\0SLURM_JOB_ID=7001\0SLURM_PROCID=3\0"), "7001");
    assert.equal(slurmJobFromEnviron("XSLURM_JOB_ID=1\0SLURM_JOB_IDX=2\0"), null);
    assert.equal(slurmJobFromEnviron("SLURM_JOB_ID=\0"), null);
    assert.equal(slurmJobFromEnviron("SLURM_JOB_ID=1;rm -rf\0"), null);
  });

  it("reads a Slurm job or a pod from cgroup v1 and v2 paths", () => {
    assert.equal(jobFromCgroup("0::/system.slice/slurmstepd.scope/job_7001/step_0/user/task_0\n"), "7001");
    assert.equal(jobFromCgroup("12:pids:/slurm/uid_1000/job_7002/step_0/task_1\n1:name=systemd:/system.slice/slurmd.service\n"), "7002");
    assert.equal(
      jobFromCgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4e8c7a_2f3d_4e5b_9a6c_0d1e2f3a4b5c.slice/cri-containerd-8f2b.scope\n"),
      "pod-1b4e8c7a-2f3d-4e5b-9a6c-0d1e2f3a4b5c",
    );
    assert.equal(jobFromCgroup("11:memory:/kubepods/besteffort/pod0a1b2c3d-0000-4111-8222-333344445555/4f1e2d\n"), "pod-0a1b2c3d-0000-4111-8222-333344445555");
    assert.equal(jobFromCgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), null);
    assert.equal(jobFromCgroup("0::/system.slice/job_runner.service/job_12\n"), null, "job_N outside a slurm path is not a Slurm job");
  });

  it("parses mountinfo (escapes, optional fields) and finds the mount of a path", () => {
    const m = parseMountinfo(readFileSync(new URL("../fixtures/host/proc/4242/mountinfo", import.meta.url), "utf8"));
    assert.equal(m.length, 8);
    assert.deepEqual(m[5], { dev: "0:45", mountPoint: "/mnt/datasets", fsType: "nfs4", source: "fileserver-01:/export/datasets" });
    assert.equal(m[7].mountPoint, "/mnt/check points");
    assert.equal(mountOf("/scratch/data/x.bin", m)?.dev, "259:3");
    assert.equal(mountOf("/scratchpad/x", m)?.dev, "259:1", "a prefix that is not a path component does not count");
    assert.equal(mountOf("/mnt/check points/a", m)?.mountPoint, "/mnt/check points");
    assert.equal(mountOf("/etc/hosts", m)?.mountPoint, "/");
    assert.equal(nfsServer("fileserver-01:/export/datasets"), "fileserver-01");
    assert.equal(nfsServer("[fd00::10]:/export"), "fd00::10");
    assert.equal(nfsServer("/dev/nvme0n1"), null);
  });
});

interface Rig {
  tree: HostTree;
  h: Harness;
  src: ProcfsSource;
  round(): Promise<string[]>;
}

async function rig(fn: (r: Rig) => Promise<void>): Promise<void> {
  const tree = hostTree();
  const h = harness("procfs");
  const clock = testClock();
  const src = new ProcfsSource({ host: { procfs: tree.procfs, sysfs: tree.sysfs }, clock: clock.now });
  src.attach(h.ctx);
  let first = true;
  const round = async () => {
    if (!first) clock.advance(15_000);
    first = false;
    await src.runOnce();
    h.exporter.graph.cleanup(Date.now());
    return h.take().map((e) => `${e.event_type} ${e.entity_id} pid=${e.pid} ${e.job_id ? `job=${e.job_id} ` : ""}${e.value}`);
  };
  try {
    await fn({ tree, h, src, round });
  } finally {
    tree.close();
  }
}

const start = (pid: number, job?: string) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "start", ...(job ? { job_id: job } : {}) });

describe("builtin:procfs rounds", () => {
  it("ends vanished pids and zombies, and gives job ids from SLURM_JOB_ID, Slurm's cgroup and the pod's", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4242), start(4343), start(4444), start(4545), start(4646), start(99999), start(1, "init"));
      h.feed({ event_type: "compute.util", entity_id: "gpu-0", pid: 4242, value: "97" });
      assert.deepEqual((await round()).sort(), [
        "intent.run pid-4242 pid=4242 job=7001 job_id from SLURM_JOB_ID",
        "intent.run pid-4343 pid=4343 job=pod-1b4e8c7a-2f3d-4e5b-9a6c-0d1e2f3a4b5c job_id from pod-cgroup",
        "intent.run pid-4444 pid=4444 job=7002 job_id from slurm-cgroup",
        "intent.run pid-4545 pid=4545 job=7003 job_id from SLURM_JOB_ID",
        "process.state pid-4646 pid=4646 zombie",
        "process.state pid-99999 pid=99999 exit",
      ]);
      const g = h.exporter.graph;
      assert.deepEqual([...g.processes.keys()].sort(), [1, 4242, 4343, 4444, 4545], "the zombie and the vanished pid left at cleanup");
      assert.equal(g.processes.get(4242)?.jobId, "7001");
      assert.equal(g.processes.get(4242)?.state, "running", "a job id changes no state");
      assert.equal(g.processes.get(1)?.jobId, "init", "a job id the graph has is kept");
      assert.equal(g.edges.consumes, 1);

      // Nothing changed: nothing to say (job ids are looked up once per process).
      assert.deepEqual(await round(), []);
      // 4545 exits.
      tree.remove("proc/4545");
      assert.deepEqual(await round(), ["process.state pid-4545 pid=4545 exit"]);
      assert.ok(!g.processes.has(4545));
      assert.equal(g.activeProcesses, 4);
    });
  });

  it("says the start of a process the graph knows only from readings, stamped at its start time, once; not of one whose start it knows", async () => {
    await rig(async ({ tree, h, round }) => {
      // btime 1732500000 in the fixture's stat, 4242 started 2318844 ticks (100 a second) after boot.
      const started = (1732500000 + 23188.44) * 1000;
      assert.equal(readFileSync(`${tree.procfs}/stat`, "utf8").match(/^btime (\d+)$/m)?.[1], "1732500000");
      // The kernel log's backlog, read as the exporter starts: an Xid on gpu-1 no collector has read yet.
      h.feed({ ts: Date.now() - 100_000, event_type: "error.hw", entity_id: "gpu-1", value: "XID_74 NVRM: Xid (PCI:0000:1a:00): 74, NVLink: fatal error detected on link 2" });
      // nvidia-smi lists 4242 on gpu-1 (no start, no job); a probe reported 4343's start.
      h.feed({ event_type: "compute.util", entity_id: "gpu-1", pid: 4242, value: "100" }, start(4343, "job-b"));
      assert.deepEqual(h.exporter.graph.processes.get(4242)?.blockedBy.length, 0, "first seen after the fault: not known to have been there");
      await round();
      assert.deepEqual(h.events.filter((e) => e.value === "start").map((e) => [e.pid, e.ts, e.entity_id]), [[4242, started, "pid-4242"]]);
      assert.deepEqual(h.exporter.graph.processes.get(4242)?.blockedBy.map((e) => e.id), ["error-gpu-1"], "started long before the fault: it was on its GPU");
      assert.equal(h.exporter.graph.processes.get(4242)?.state, "running");
      assert.ok(!(await round()).some((e) => e.endsWith(" start")), "said once");
    });
  });

  it("ends a process whose pid a new process took between two rounds (another start time in stat)", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4242, "job-a"));
      assert.deepEqual(await round(), []);
      const old = readFileSync(`${tree.procfs}/4242/stat`, "utf8");
      // The same pid, a later start time (field 22, clock ticks after boot): not the process the job ran.
      const fields = old.slice(old.lastIndexOf(")") + 2).split(" ");
      assert.equal(fields[19], "2318844", "field 22 is the start time");
      fields[19] = "2999999";
      tree.write("proc/4242/stat", `4242 (bash) ${fields.join(" ")}`);
      assert.deepEqual(await round(), ["process.state pid-4242 pid=4242 exit"]);
      assert.ok(!h.exporter.graph.processes.has(4242), "the job's process left the graph");
      // Nothing more about the pid's new owner, which no probe reported.
      assert.deepEqual(await round(), []);
      // A probe now reports the new owner: it is alive, and no exit of the old one is charged to it.
      h.feed(start(4242, "job-b"));
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), []);
      assert.equal(h.exporter.graph.processes.get(4242)?.state, "running");
    });
  });

  it("does not end the new owner of a reused pid that a probe reports before the old one has left the graph", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4242));
      assert.deepEqual(await round(), ["intent.run pid-4242 pid=4242 job=7001 job_id from SLURM_JOB_ID"]);
      const old = readFileSync(`${tree.procfs}/4242/stat`, "utf8");
      const fields = old.slice(old.lastIndexOf(")") + 2).split(" ");
      fields[19] = "2999999";
      tree.write("proc/4242/stat", `4242 (bash) ${fields.join(" ")}`);
      // The old process's exit and the new one's start arrive in one go, before any cleanup.
      const events = await round();
      assert.deepEqual(events, ["process.state pid-4242 pid=4242 exit"]);
      // The new owner comes without a job id: it is looked up for it (the old one's was already).
      h.feed({ event_type: "process.state", entity_id: "pid-4242", pid: 4242, value: "start" });
      assert.deepEqual(await round(), ["intent.run pid-4242 pid=4242 job=7001 job_id from SLURM_JOB_ID"], "the new owner's start time is its own, not a reuse");
      assert.equal(h.exporter.graph.processes.get(4242)?.jobId, "7001");
      assert.equal(h.exporter.graph.processes.get(4242)?.state, "running");
    });
  });

  it("does not revive a process that ended meanwhile, nor touch one already ended", async () => {
    await rig(async ({ h, round }) => {
      h.feed(start(4242), start(4545), { event_type: "process.state", entity_id: "x", pid: 4343, value: "exit" });
      h.feed({ event_type: "process.state", entity_id: "pid-4242", pid: 4242, value: "exit" });
      const out = await round();
      assert.deepEqual(out, ["intent.run pid-4545 pid=4545 job=7003 job_id from SLURM_JOB_ID"]);
      assert.ok(!h.exporter.graph.processes.has(4242));
    });
  });

  it("says a process stuck in D waits on the disk behind its open files, and lets it go when it wakes", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4444, "7002"));
      await round();
      tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "D"));
      assert.deepEqual(await round(), [], "first seen in D: not yet stuck");
      assert.deepEqual(await round(), [], "15 s in D: still under the 30 s threshold");
      assert.deepEqual(await round(), [
        "process.state pid-4444 pid=4444 D",
        "storage.qdepth nvme1n1 pid=4444 IO_WAIT D for 30s",
      ]);
      const g = h.exporter.graph;
      assert.equal(g.edges.waits_on, 1);
      const why = whyView(g, 4444)!;
      assert.equal(why.state, "D");
      assert.deepEqual(why.waits_on.map((w) => w.resource), ["nvme1n1"]);
      assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 D", "storage.qdepth nvme1n1 pid=4444 IO_WAIT D for 45s"], "repeated while stuck");
      tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "S"));
      // Awake: its wait is said to be over, so it waits on the disk no more (a slow disk later is not its trouble).
      assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 running", "storage.qdepth nvme1n1 pid=4444 D ended after 60s"]);
      assert.equal(g.processes.get(4444)?.state, "running");
      assert.deepEqual(whyView(g, 4444)!.waits_on, []);
      assert.equal(g.edges.waits_on, 0);
      assert.deepEqual(await round(), []);
    });
  });

  it("sets a process back to running once none of its tasks is in D, after the kernel's hung-task message put it in D", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4444, "7002"));
      await round();
      // builtin:kmsg: "INFO: task pt_data_worker:4444 blocked for more than 120 seconds." (sent once; nothing says when it ends).
      h.feed({ event_type: "process.state", entity_id: "kernel", pid: 4444, value: "D" });
      tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "D"));
      assert.deepEqual(await round(), [], "still in D: the kernel's word stands");
      assert.equal(h.exporter.graph.processes.get(4444)?.state, "D");
      tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "S"));
      assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 running"], "awake, and no thread or child of it in D");
      assert.equal(h.exporter.graph.processes.get(4444)?.state, "running");
      assert.deepEqual(await round(), []);
      // A probe's own state says more than D and is left alone.
      h.feed({ event_type: "process.state", entity_id: "pid-4444", pid: 4444, value: "checkpoint_saving" });
      assert.deepEqual(await round(), []);
    });
  });

  it("names no disk for a process in D whose wchan is no storage wait (a vfork parent, the GPU driver), though it has files open on one", async () => {
    // Seen on a real host: a parent blocked in vfork() sits in D with wchan kernel_clone while
    // its child runs; its open log file is on a disk, which it was named waiting on.
    for (const wchan of ["kernel_clone", "uvm_spin_loop"]) {
      await rig(async ({ tree, h, round }) => {
        h.feed(start(4444, "7002"));
        await round();
        tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "D"));
        tree.write("proc/4444/wchan", wchan);
        await round();
        await round();
        assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 D"], wchan);
        assert.deepEqual(whyView(h.exporter.graph, 4444)!.waits_on, [], wchan);
      });
    }
  });

  it("says a process waits on the disk its data-loader child is stuck on (in D, not switching), and not while the child still switches", async () => {
    await rig(async ({ tree, h, round }) => {
      const status = (switches: number) => `Name:\tpt_data_worker\nState:\tD (disk sleep)\nvoluntary_ctxt_switches:\t${switches}\nnonvoluntary_ctxt_switches:\t7\n`;
      // The worker's stat names 4242 as its parent (a pid listed there that names another is not its child).
      const worker = (state: string) => stat(5555, "pt_data_worker", state).replace(`) ${state} 4100 `, `) ${state} 4242 `);
      // 4242, asleep on its queue; its worker 5555 reads /scratch (nvme1n1).
      tree.write("proc/4242/stat", stat(4242, "python3", "S"));
      tree.write("proc/4242/task/4242/stat", stat(4242, "python3", "S"));
      tree.write("proc/4242/task/4242/children", "5555 ");
      tree.write("proc/5555/stat", worker("D"));
      tree.write("proc/5555/status", status(100));
      tree.write("proc/5555/mountinfo", readFileSync(`${tree.procfs}/4444/mountinfo`, "utf8"));
      tree.link("proc/5555/fd/3", "/scratch/data/shard-00017.bin");
      h.feed(start(4242, "job-a"));
      await round();
      // Busy, not stuck: the worker switches between its reads, in D each time it is looked at.
      tree.write("proc/5555/status", status(140));
      assert.deepEqual(await round(), []);
      tree.write("proc/5555/status", status(180));
      assert.deepEqual(await round(), []);
      // Now it does not run at all: stuck from the first look without a switch.
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), ["storage.qdepth nvme1n1 pid=4242 IO_WAIT D for 30s (child 5555)"]);
      const why = whyView(h.exporter.graph, 4242)!;
      assert.equal(why.state, "running", "the process itself is not in D");
      assert.deepEqual(why.waits_on.map((w) => w.resource), ["nvme1n1"]);
      // It wakes: the wait is said to be over, once.
      tree.write("proc/5555/stat", worker("S"));
      assert.deepEqual(await round(), ["storage.qdepth nvme1n1 pid=4242 D ended after 45s (child 5555)"]);
      assert.deepEqual(whyView(h.exporter.graph, 4242)!.waits_on, []);
      assert.deepEqual(await round(), []);
    });
  });

  it("says a process waits on the NFS server one of its threads is stuck on in RPC", async () => {
    await rig(async ({ tree, h, round }) => {
      // 4343 (files on /mnt/datasets over NFS), its main thread asleep, thread 4350 stuck in RPC.
      tree.write("proc/4343/stat", stat(4343, "pt_main_thread", "S"));
      tree.write("proc/4343/task/4343/stat", stat(4343, "pt_main_thread", "S"));
      tree.write("proc/4343/task/4350/stat", stat(4350, "pt_ckpt_writer", "D"));
      tree.write("proc/4343/task/4350/status", "Name:\tpt_ckpt_writer\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t0\n");
      tree.write("proc/4343/task/4350/wchan", "rpc_wait_bit_killable");
      h.feed(start(4343, "job-b"));
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), ["storage.qdepth nfs-fileserver-01 pid=4343 IO_WAIT D for 30s (thread 4350)"]);
      assert.equal(h.exporter.graph.processes.get(4343)?.state, "running");
      // A thread whose status cannot be read is never taken for stuck.
      tree.remove("proc/4343/task/4350/status");
      assert.deepEqual(await round(), []);
    });
  });

  it("leaves a process in D without its job until it wakes (its environ would wait on the same lock)", async () => {
    await rig(async ({ tree, h, round }) => {
      tree.write("proc/4242/stat", stat(4242, "python3", "D"));
      h.feed(start(4242));
      assert.deepEqual(await round(), []);
      tree.write("proc/4242/stat", stat(4242, "python3", "R"));
      assert.deepEqual(await round(), ["intent.run pid-4242 pid=4242 job=7001 job_id from SLURM_JOB_ID"]);
    });
  });

  it("names no disk for a process asleep in the GPU driver (its GPU fell off the bus), whatever files it has open", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4444, "7003"));
      await round();
      tree.write("proc/4444/stat", stat(4444, "pt_main_thread", "D"));
      tree.write("proc/4444/wchan", "os_acquire_mutex");
      await round();
      await round();
      assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 D"], "stuck, but on no disk: its log file on nvme1n1 is not what it waits on");
      tree.write("proc/4444/wchan", "io_schedule");
      assert.deepEqual(await round(), ["process.state pid-4444 pid=4444 D", "storage.qdepth nvme1n1 pid=4444 IO_WAIT D for 45s"]);
    });
  });

  it("names the NFS server for a process waiting in RPC, the partition's disk, and no device when it cannot tell", async () => {
    await rig(async ({ tree, h, round }) => {
      h.feed(start(4343, "a"), start(4242, "b"), start(4444, "c"));
      // A probe's own state says more than D: it is kept, and the wait is still said.
      h.feed({ event_type: "process.state", entity_id: "pid-4444", pid: 4444, value: "checkpoint" });
      await round();
      tree.write("proc/4343/stat", stat(4343, "pt_main_thread", "D"));
      tree.write("proc/4343/wchan", "rpc_wait_bit_killable");
      // 4242: files on the root file system (a partition of nvme0n1) and on /scratch (nvme1n1).
      tree.write("proc/4242/stat", stat(4242, "python3", "D"));
      tree.link("proc/4242/fd/9", "/home/alice/run/log.txt");
      tree.write("proc/4444/stat", stat(4444, "pt_data_worker", "D"));
      await round();
      await round();
      const out = await round();
      // Only nvme1n1 has I/O in flight in diskstats: 4242 waits on it.
      assert.deepEqual(out.sort(), [
        "process.state pid-4242 pid=4242 D",
        "process.state pid-4343 pid=4343 D",
        "storage.qdepth nfs-fileserver-01 pid=4343 IO_WAIT D for 30s",
        "storage.qdepth nvme1n1 pid=4242 IO_WAIT D for 30s",
        "storage.qdepth nvme1n1 pid=4444 IO_WAIT D for 30s",
      ]);
      assert.equal(h.exporter.graph.processes.get(4444)?.state, "checkpoint");
      // Both disks busy: 4242's wait cannot be pinned on one, so no device is named for it.
      tree.write("proc/diskstats", readFileSync(`${tree.procfs}/diskstats`, "utf8").replace(/(nvme0n1 (\d+ ){8})0 /, "$14 "));
      const next = await round();
      assert.ok(next.includes("process.state pid-4242 pid=4242 D"));
      assert.ok(!next.some((l) => l.startsWith("storage.qdepth") && l.includes("pid=4242")), next.join("\n"));
      // Blocked writing fd 9 (its log on the root file system, nvme0n1): that is the disk it
      // waits on, whatever other disk is busy (a write to a frozen file system has no I/O in flight).
      tree.write("proc/diskstats", readFileSync(`${tree.procfs}/diskstats`, "utf8").replace(/(nvme0n1 (\d+ ){8})4 /, "$10 "));
      tree.write("proc/4242/syscall", `${process.arch === "arm64" ? 64 : 1} 0x9 0x7f2a1c000000 0x1000 0x0 0x0 0x0 0x7ffd8e0 0x7f2a1d1`);
      const blocked = await round();
      assert.ok(blocked.includes("storage.qdepth nvme0n1 pid=4242 IO_WAIT D for 60s"), blocked.join("\n"));
      tree.remove("proc/4242/syscall");
      // The partition maps to its disk: only a root-fs file open now.
      tree.remove("proc/4242/fd/5");
      const last = await round();
      assert.ok(last.includes("storage.qdepth nvme0n1 pid=4242 IO_WAIT D for 75s"), last.join("\n"));
    });
  });

  it("reports no exit when pids cannot be seen (pid 1 hidden: hidepid), and says so once", async () => {
    await rig(async ({ tree, h, round }) => {
      tree.remove("proc/1");
      h.feed(start(99999, "x"), start(4646, "y"));
      assert.deepEqual(await round(), ["process.state pid-4646 pid=4646 zombie"]);
      assert.deepEqual(await round(), []);
      assert.equal(h.logs.filter((l) => l.msg.includes("pid 1 is not visible")).length, 1);
      assert.equal(h.exporter.graph.processes.get(99999)?.state, "running");
    });
  });

  it("reports no exit from a container's own pid namespace (its /proc has no kthreadd as pid 2), and says so once", async () => {
    await rig(async ({ tree, h, round }) => {
      // What `unshare --pid --mount-proc` or a pod without hostPID shows: its own pid 1 and 2.
      tree.write("proc/2/stat", "2 (python3) S 1 2 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 26 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
      h.feed(start(99999, "x"), start(4646, "y"));
      assert.deepEqual(await round(), ["process.state pid-4646 pid=4646 zombie"]);
      assert.deepEqual(await round(), []);
      assert.equal(h.logs.filter((l) => l.msg.includes("not the host's pid namespace")).length, 1, JSON.stringify(h.logs));
      assert.equal(h.exporter.graph.processes.get(99999)?.state, "running", "a host pid not in this view is not an exit");
    });
  });
});

describe("builtin:procfs past its bound", () => {
  it("reads maxPids processes a round, the others in the next rounds, and says so once", async () => {
    const tree = hostTree();
    try {
      const h = harness("procfs");
      const src = new ProcfsSource({ host: { procfs: tree.procfs, sysfs: tree.sysfs }, maxPids: 2 });
      src.attach(h.ctx);
      h.feed(start(99997, "a"), start(99998, "b"), start(99999, "c"));
      const exits: number[][] = [];
      for (let i = 0; i < 2; i++) {
        await src.runOnce();
        exits.push(h.take().map((e) => e.pid as number).sort());
      }
      assert.deepEqual(exits, [[99997, 99998], [99999]]);
      assert.equal(h.logs.filter((l) => l.msg.includes("3 processes in the graph: reading 2 a round")).length, 1);
    } finally {
      tree.close();
    }
  });
});

describe("builtin:procfs past its read budget for stuck threads", () => {
  it("looks through as many processes as the budget allows, and goes on from there the next round", async () => {
    const tree = hostTree();
    try {
      const h = harness("procfs");
      // Five reads a process (its task directory, its other thread's stat, both threads' children,
      // the stuck thread's status): a budget of six takes one process a round.
      const src = new ProcfsSource({ host: { procfs: tree.procfs, sysfs: tree.sysfs }, dWaitMs: 0, maxTaskReads: 6 });
      src.attach(h.ctx);
      for (const [pid, comm] of [[4242, "python3"], [4343, "pt_main_thread"], [4444, "pt_data_worker"]] as const) {
        tree.write(`proc/${pid}/stat`, stat(pid, comm, "S"));
        tree.write(`proc/${pid}/task/${pid}/stat`, stat(pid, comm, "S"));
        tree.write(`proc/${pid}/task/${pid + 1}/stat`, stat(pid + 1, "pt_io", "D"));
        tree.write(`proc/${pid}/task/${pid + 1}/status`, "voluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t0\n");
        tree.write(`proc/${pid}/task/${pid + 1}/wchan`, pid === 4343 ? "rpc_wait_bit_killable" : "io_schedule");
      }
      h.feed(start(4242, "a"), start(4343, "b"), start(4444, "c"));
      const waits: string[][] = [];
      for (let i = 0; i < 4; i++) {
        await src.runOnce();
        waits.push(h.take().filter((e) => e.event_type === "storage.qdepth").map((e) => `${e.pid} ${e.value}`));
      }
      assert.deepEqual(waits, [["4242 IO_WAIT D for 0s (thread 4243)"], ["4343 IO_WAIT D for 0s (thread 4344)"], ["4444 IO_WAIT D for 0s (thread 4445)"], ["4242 IO_WAIT D for 0s (thread 4243)"]], "each in turn");
    } finally {
      tree.close();
    }
  });
});

describe("builtin:procfs on this machine's /proc", () => {
  it("ends a dead pid and says nothing false about a live one in two rounds", async () => {
    const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
    const dead = Number(child.stdout.trim());
    assert.ok(dead > 1);
    const h = harness("procfs");
    h.feed(start(process.pid), start(dead));
    const src = new ProcfsSource({ host: { procfs: "/proc", sysfs: "/sys" }, intervalMs: 1000 });
    src.attach(h.ctx);
    await src.runOnce();
    await src.runOnce();
    const own = readFileSync(`/proc/${process.pid}/cgroup`, "utf8");
    const envJob = process.env.SLURM_JOB_ID;
    const expectJob = envJob ?? jobFromCgroup(own);
    const got = h.take().map((e) => `${e.event_type} ${e.pid} ${e.value}`);
    const want = [`process.state ${dead} exit`];
    if (expectJob) want.push(`intent.run ${process.pid} job_id from ${envJob ? "SLURM_JOB_ID" : expectJob.startsWith("pod-") ? "pod-cgroup" : "slurm-cgroup"}`);
    assert.deepEqual(got.sort(), want.sort());
    assert.equal(h.exporter.graph.processes.get(process.pid)?.state, "running");
  });

  it("says of every process on this machine only what /proc confirms after the round", async () => {
    const pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
    const h = harness("procfs");
    h.feed(...pids.map((pid) => start(pid)));
    const src = new ProcfsSource({ host: { procfs: "/proc", sysfs: "/sys" }, intervalMs: 1000 });
    src.attach(h.ctx);
    await src.runOnce();
    await src.runOnce();
    for (const e of h.take()) {
      const pid = e.pid as number;
      const now = (() => {
        try {
          return statState(readFileSync(`/proc/${pid}/stat`, "utf8"));
        } catch {
          return "gone";
        }
      })();
      if (e.value === "exit") assert.equal(now, "gone", `pid ${pid} reported exited but is there`);
      else if (e.value === "zombie") assert.ok(now === "Z" || now === "gone", `pid ${pid} reported a zombie, now ${now}`);
      else assert.equal(e.event_type, "intent.run", JSON.stringify(e));
    }
  });

  it("finds what this process's open files lie on without error: a real disk or nothing", async () => {
    const reader = new ProcReader({ procfs: "/proc", sysfs: "/sys" }, () => {});
    const dev = (await reader.waitDevice(process.pid))?.device ?? null;
    if (dev !== null) assert.ok(dev.startsWith("nfs-") || existsSync(`/sys/block/${dev}`), `${dev} is no disk of this machine`);
    assert.equal(await reader.waitDevice(2 ** 22 + 1), null, "a pid that does not exist");
  });
});
