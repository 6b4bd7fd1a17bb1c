// builtin:procfs looking below a process for a task stuck in D: its children's threads, its
// grandchildren (a launcher's ranks' data-loader workers), the children of its other threads;
// no deeper than grandchildren, within the read budget, a descendant the graph holds reported on
// its own, a reused pid or tid not taken for the task it replaced. Fixture trees first, then
// real trees on this machine's /proc (test/fixtures/proc-tree/stuck_tree.py).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { whyView } from "../../src/query/why.ts";
import { statPpid, wchanNotStorage } from "../../src/sources/procfs/parse.ts";
import { ProcfsSource } from "../../src/sources/procfs/index.ts";
import { TaskTree } from "../../src/sources/procfs/task-tree.ts";
import { FIXTURE, harness, testClock, writeProcTree, type Harness, type HostTree } from "./_host-kit.ts";
import { fileOnDisk, releaseTrees, stuckTree, waitForD } from "./_stuck-tree-kit.ts";

/** A `stat` line as the kernel writes it: ppid is field 4, the start time field 22. */
const stat = (pid: number, comm: string, state: string, ppid: number, start = 2318844) =>
  `${pid} (${comm}) ${state} ${ppid} 4444 4444 0 -1 4194560 512034 0 14 0 81244 10311 0 0 20 0 41 0 ${start} 82124513280 1250122 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 12 0 0 0 0 0\n`;
const status = (switches: number) => `Name:\tpt_data_worker\nState:\tD (disk sleep)\nvoluntary_ctxt_switches:\t${switches}\nnonvoluntary_ctxt_switches:\t3\n`;

describe("procfs parsers: the parent in stat", () => {
  it("reads the parent's pid after the state, whatever the command name holds", () => {
    assert.equal(statPpid(stat(5555, "pt_data_worker", "S", 4242)), 4242);
    assert.equal(statPpid(stat(5555, "a) D 17 (b", "S", 4242)), 4242);
    assert.equal(statPpid("1 (systemd) S 0 1 1 0 -1"), 0);
    assert.equal(statPpid("5555 (x) S"), null);
    assert.equal(statPpid("5555 (x"), null);
  });
});

/**
 * A process of the fixture tree: its `stat` (naming its parent), its threads (`tid` → state; the
 * main one is the process's own state), each thread's children, and a file open on /scratch (nvme1n1).
 */
function proc(tree: HostTree, pid: number, ppid: number, state: string, threads: Record<number, string> = {}, children: Record<number, number[]> = {}): void {
  tree.write(`proc/${pid}/stat`, stat(pid, "python3", state, ppid));
  tree.write(`proc/${pid}/status`, status(100));
  tree.write(`proc/${pid}/mountinfo`, MOUNTINFO);
  // existsSync follows the link (to nowhere here): ask lstat.
  if (!_isLink(`${tree.procfs}/${pid}/fd/3`)) tree.link(`proc/${pid}/fd/3`, "/scratch/data/shard-00017.bin");
  for (const tid of [pid, ...Object.keys(threads).map(Number)]) {
    const s = tid === pid ? state : threads[tid];
    tree.write(`proc/${pid}/task/${tid}/stat`, stat(tid, "python3", s, ppid));
    tree.write(`proc/${pid}/task/${tid}/status`, status(100));
    tree.write(`proc/${pid}/task/${tid}/children`, (children[tid] ?? []).map((c) => `${c} `).join(""));
  }
}

function _isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

interface Rig {
  tree: HostTree;
  h: Harness;
  /** One round, 15 s after the last; the events it emitted, as text. */
  round(): Promise<string[]>;
}

const MOUNTINFO = readFileSync(join(FIXTURE, "proc/4444/mountinfo"), "utf8");

/** A host tree with only what these tests read: the host's pid namespace, /scratch's disk nvme1n1. */
function smallTree(): HostTree {
  const dir = mkdtempSync(join(tmpdir(), "xctl-tree-"));
  const at = (rel: string) => join(dir, rel);
  const tree: HostTree = {
    dir,
    procfs: at("proc"),
    sysfs: at("sys"),
    write(rel, text) {
      mkdirSync(dirname(at(rel)), { recursive: true });
      writeFileSync(at(rel), text);
    },
    remove: (rel) => rmSync(at(rel), { recursive: true, force: true }),
    link(rel, target) {
      mkdirSync(dirname(at(rel)), { recursive: true });
      symlinkSync(target, at(rel));
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
  writeProcTree(tree.procfs, { 1: "S" });
  tree.write("proc/stat", "cpu  1 2 3 4 5 6 7 0 0 0\nbtime 1732500000\n");
  tree.link("sys/dev/block/259:3", "../../devices/pci0000:00/0000:00:01.2/0000:02:00.0/nvme/nvme1/nvme1n1");
  return tree;
}

async function rig(fn: (r: Rig) => Promise<void>, opts: { maxTaskReads?: number; dWaitMs?: number } = {}): Promise<void> {
  const tree = smallTree();
  const h = harness("procfs");
  const clock = testClock();
  const src = new ProcfsSource({ host: { procfs: tree.procfs, sysfs: tree.sysfs }, clock: clock.now, ...opts });
  src.attach(h.ctx);
  let first = true;
  const round = async () => {
    if (!first) clock.advance(15_000);
    first = false;
    await src.runOnce();
    return h.take().filter((e) => e.event_type === "storage.qdepth").map((e) => `${e.entity_id} pid=${e.pid} ${e.value}`);
  };
  try {
    await fn({ tree, h, round });
  } finally {
    tree.close();
  }
}

const start = (pid: number) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "start" });

describe("builtin:procfs below a process", () => {
  it("says a process waits on the disk a thread of its child is stuck on (a worker's prefetch thread, the worker's main thread asleep)", async () => {
    await rig(async ({ tree, h, round }) => {
      proc(tree, 4242, 1, "S", {}, { 4242: [5555] });
      proc(tree, 5555, 4242, "S", { 5560: "D" });
      h.feed(start(4242));
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), []);
      assert.deepEqual(await round(), ["nvme1n1 pid=4242 IO_WAIT D for 30s (thread 5560 of child 5555)"]);
      const why = whyView(h.exporter.graph, 4242)!;
      assert.equal(why.state, "running");
      assert.deepEqual(why.waits_on.map((w) => w.resource), ["nvme1n1"]);
    });
  });

  it("looks through grandchildren and their threads (a launcher, its ranks, their workers), and no deeper", async () => {
    await rig(async ({ tree, h, round }) => {
      // 4242 (torchrun) → 5555 (rank) → 6001 (worker, in D).
      proc(tree, 4242, 1, "S", {}, { 4242: [5555] });
      proc(tree, 5555, 4242, "S", { 5556: "S" }, { 5555: [6001] });
      proc(tree, 6001, 5555, "D");
      // 4343 → 5656 → 6101, whose thread 6105 is in D.
      proc(tree, 4343, 1, "S", {}, { 4343: [5656] });
      proc(tree, 5656, 4343, "S", {}, { 5656: [6101] });
      proc(tree, 6101, 5656, "S", { 6105: "D" });
      // 4545 → 5757 → 6201 → 7001 (in D): a great-grandchild, past the depth looked through.
      proc(tree, 4545, 1, "S", {}, { 4545: [5757] });
      proc(tree, 5757, 4545, "S", {}, { 5757: [6201] });
      proc(tree, 6201, 5757, "S", {}, { 6201: [7001] });
      proc(tree, 7001, 6201, "D");
      h.feed(start(4242), start(4343), start(4545));
      await round();
      await round();
      assert.deepEqual((await round()).sort(), [
        "nvme1n1 pid=4242 IO_WAIT D for 30s (grandchild 6001)",
        "nvme1n1 pid=4343 IO_WAIT D for 30s (thread 6105 of grandchild 6101)",
      ]);
    });
  });

  it("finds the children of every thread, not only the main one's", async () => {
    await rig(async ({ tree, h, round }) => {
      // 4242's checkpoint thread 4250 started an uploader, 5555, now in D.
      proc(tree, 4242, 1, "S", { 4250: "S" }, { 4250: [5555] });
      proc(tree, 5555, 4242, "D");
      h.feed(start(4242));
      await round();
      await round();
      assert.deepEqual(await round(), ["nvme1n1 pid=4242 IO_WAIT D for 30s (child 5555)"]);
    });
  });

  it("reports a descendant the graph holds on its own pid, once, and not again under its parent", async () => {
    await rig(async ({ tree, h, round }) => {
      // 4242 → 5555 (a rank a probe reported) → 6001 (its worker, in D).
      proc(tree, 4242, 1, "S", {}, { 4242: [5555] });
      proc(tree, 5555, 4242, "S", {}, { 5555: [6001] });
      proc(tree, 6001, 5555, "D");
      h.feed(start(4242), start(5555));
      await round();
      await round();
      assert.deepEqual(await round(), ["nvme1n1 pid=5555 IO_WAIT D for 30s (child 6001)"]);
      assert.deepEqual(whyView(h.exporter.graph, 4242)!.waits_on, []);
    });
  });

  it("does not take a listed child whose stat names another parent (its pid taken meanwhile)", async () => {
    await rig(async ({ tree, h, round }) => {
      proc(tree, 4242, 1, "S", {}, { 4242: [5555] });
      proc(tree, 5555, 3000, "D");
      h.feed(start(4242));
      await round();
      await round();
      assert.deepEqual(await round(), []);
    });
  });

  it("gives a task that took a stuck one's tid its own clock (another start time)", async () => {
    await rig(async ({ tree, h, round }) => {
      proc(tree, 4242, 1, "S", {}, { 4242: [5555] });
      proc(tree, 5555, 4242, "S", { 5560: "D" });
      h.feed(start(4242));
      await round();
      // Thread 5560 ended; a new thread took its tid (same switch count by chance), in D from now.
      tree.write("proc/5555/task/5560/stat", stat(5560, "python3", "D", 4242, 2999999));
      await round();
      assert.deepEqual(await round(), [], "15 s for the new thread: not stuck yet");
      assert.deepEqual(await round(), ["nvme1n1 pid=4242 IO_WAIT D for 30s (thread 5560 of child 5555)"]);
    });
  });
});

describe("builtin:procfs and a process's own thread in D", () => {
  it("does not read its environ for a job while one of its own threads is in D, stuck yet or not", async () => {
    await rig(async ({ tree, h, round }) => {
      proc(tree, 4242, 1, "S", { 4250: "D" });
      tree.write("proc/4242/environ", "PATH=/usr/bin\0SLURM_JOB_ID=7001\0");
      h.feed(start(4242));
      await round();
      const jobs = () => h.events.filter((e) => e.event_type === "intent.run").map((e) => `${e.pid} ${e.job_id}`);
      assert.deepEqual(jobs(), [], "thread 4250 in D since this round: environ waits on the lock it may hold");
      tree.write("proc/4242/task/4250/stat", stat(4250, "python3", "S", 1));
      await round();
      assert.deepEqual(jobs(), ["4242 7001"]);
    });
  });
});

describe("builtin:procfs below a process, within the read budget", () => {
  // 4242 → 5555 (threads 5555, 5556 in D): 4242's task/ and its thread's children (2), 5555's
  // stat, task/, 5556's stat, both threads' children and 5556's status (6): 8 reads. 4343 the same.
  function two(tree: HostTree): void {
    for (const [root, child] of [[4242, 5555], [4343, 5656]]) {
      proc(tree, root, 1, "S", {}, { [root]: [child] });
      proc(tree, child, root, "S", { [child + 1]: "D" });
    }
  }
  const rounds = async (round: () => Promise<string[]>, n: number) => {
    const out: string[][] = [];
    for (let i = 0; i < n; i++) out.push(await round());
    return out;
  };

  it("looks at whole trees in turn: one that the rest of the budget cannot take goes first next round", async () => {
    await rig(
      async ({ tree, h, round }) => {
        two(tree);
        h.feed(start(4343), start(4242));
        assert.deepEqual(await rounds(round, 3), [
          ["nvme1n1 pid=4242 IO_WAIT D for 0s (thread 5556 of child 5555)"],
          ["nvme1n1 pid=4343 IO_WAIT D for 0s (thread 5657 of child 5656)"],
          ["nvme1n1 pid=4242 IO_WAIT D for 30s (thread 5556 of child 5555)"],
        ]);
      },
      { maxTaskReads: 10, dWaitMs: 0 },
    );
  });

  it("looks at a tree larger than the whole budget as far as the budget goes", async () => {
    for (const [reads, found] of [[7, false], [8, true]] as const) {
      await rig(
        async ({ tree, h, round }) => {
          two(tree);
          h.feed(start(4242));
          const all = (await rounds(round, 2)).flat();
          const want = found ? ["nvme1n1 pid=4242 IO_WAIT D for 0s (thread 5556 of child 5555)", "nvme1n1 pid=4242 IO_WAIT D for 15s (thread 5556 of child 5555)"] : [];
          assert.deepEqual(all, want, `budget ${reads}`);
          const said = h.logs.filter((l) => l.type === "warn" && l.msg.includes(`pid 4242: its threads and descendants take more than the ${reads} reads of a round`));
          assert.equal(said.length, found ? 0 : 1, JSON.stringify(h.logs));
        },
        { maxTaskReads: reads, dWaitMs: 0 },
      );
    }
  });
});

const PYTHON = spawnSync("python3", ["--version"]).status === 0;
const DISK = fileOnDisk();

describe("builtin:procfs below a process on this machine's /proc", { skip: !PYTHON ? "no python3" : DISK === null ? "no file on a block device here" : false }, () => {
  it("finds a child's thread, a grandchild, a child of another thread and a grandchild's thread in D (vfork), not a great-grandchild, and names no disk for a vfork wait", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-stuck-"));
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const shapes = { "c t D": "thread T of child P", "c c D": "grandchild P", "t c D": "child P", "c c t D": "thread T of grandchild P", "c c c D": null } as const;
    const trees = Object.entries(shapes).map(([steps, want]) => ({ ...stuckTree(fifo, DISK!.file, steps.split(" ")), want }));
    try {
      const stuck = await Promise.all(trees.map((t) => t.stuck));
      await waitForD(stuck);
      // The walk below each process, on this kernel's /proc: each task in D is found and named.
      const seen = new Set<number>();
      for (const [i, t] of trees.entries()) {
        const look = await new TaskTree("/proc").look(t.root, () => false, seen, { left: 1024 });
        const want = t.want === null ? [] : [t.want.replace("T", String(stuck[i].tid)).replace("P", String(stuck[i].pid))];
        assert.deepEqual(look.tasks.map((x) => x.what), want);
      }
      // Each waits in vfork() (wchan kernel_clone) for a child blocked opening the FIFO: no storage
      // wait, though the tree holds a file open on DISK. The collector sees them stuck and names no disk.
      const h = harness("procfs");
      const clock = testClock();
      h.feed(...trees.map((t) => start(t.root)));
      const src = new ProcfsSource({ host: { procfs: "/proc", sysfs: "/sys" }, clock: clock.now });
      src.attach(h.ctx);
      await src.runOnce();
      clock.advance(30_000);
      await src.runOnce();
      const wchan = readFileSync(`/proc/${stuck[0].pid}/task/${stuck[0].tid}/wchan`, "utf8");
      assert.ok(wchanNotStorage(wchan), `a vfork wait reads wchan ${wchan} here`);
      assert.deepEqual(h.take().filter((e) => e.event_type === "storage.qdepth"), []);
      assert.deepEqual(whyView(h.exporter.graph, trees[0].root)!.waits_on, []);
    } finally {
      await releaseTrees(fifo, trees, dir);
    }
  });
});
