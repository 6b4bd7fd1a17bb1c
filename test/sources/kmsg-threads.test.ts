// A fault in a thread other than the main one: the kernel's report names the thread's id, and by
// the time it is read the whole thread group is usually gone from /proc. builtin:kmsg tells whose
// the thread was from what it listed of the graph's processes' task/ directories before (threads.ts).
// The fixture tree test/fixtures/kmsg/threads/proc is /proc's layout (stat and status copied from a
// python3 of this machine, pids renamed): 15485 with its second thread 15532, 4242 with 4250; the
// record file holds the kernel's report of 15532's segfault as this machine printed it.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { KmsgSource } from "../../src/sources/kmsg/kmsg-source.ts";
import { ThreadMap } from "../../src/sources/kmsg/threads.ts";
import { eventually } from "../_helpers.ts";
import { HOST, KMSG, recorder, shapes } from "./_kmsg-kit.ts";

const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-threads-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the fixture tree, to change as the host would. */
function _proc(name: string): string {
  const procfs = join(dir, name);
  cpSync(join(KMSG, "threads/proc"), procfs, { recursive: true });
  return procfs;
}

const RECORDS = readFileSync(join(KMSG, "thread-signals.kmsg"), "utf8").trim().split("\n");

describe("builtin:kmsg: a fatal signal in a thread other than the main one", () => {
  it("ends the process the thread was listed under when the whole group is gone; not one that still runs (its thread's id taken again)", async () => {
    const procfs = _proc("gone");
    const file = join(dir, "kmsg-gone");
    writeFileSync(file, RECORDS[0] + "\n");
    const src = new KmsgSource({ path: file, host: { procfs, sysfs: HOST.sysfs }, nvidiaSmi: null, pollMs: 20, maxPidAgeMs: Infinity, threadsMs: 60_000 });
    const registry = new Registry();
    src.registerMetrics(registry);
    const rec = recorder([15485, 4242]);
    src.start(rec.ctx);
    try {
      await rec.up;
      await eventually(() => src.threads.owner(15532) === 15485 && src.threads.owner(4250) === 4242, 5000, "the threads listed");
      assert.match(await registry.metrics(), /^xctl_kmsg_thread_map\{what="threads"\} 2$/m);
      // 15532's segfault killed its whole group: 15485 and its threads are gone from /proc.
      rmSync(join(procfs, "15485"), { recursive: true });
      rmSync(join(procfs, "15532"), { recursive: true });
      // 4250 ended on its own; 4242 runs on. The id 4250 faults again, in another process, gone too.
      rmSync(join(procfs, "4250"), { recursive: true });
      rmSync(join(procfs, "4242/task/4250"), { recursive: true });
      appendFileSync(file, RECORDS.slice(1).join("\n") + "\n");
      // Records are handled in order: 4242's hung-task record comes after both faults' reads.
      appendFileSync(file, "3,4,12139200000,-;INFO: task python3:4242 blocked for more than 122 seconds.\n");
      await eventually(() => rec.events.some((e) => e.entity_id === "kernel"), 5000, "the records read");
      assert.equal(src.counts.fatal_signal, 2);
      assert.deepEqual(shapes(rec.events), ["process.state SIGSEGV in thread 15532 (python3) of 15485 pid=15485 killed", "process.state kernel pid=4242 D"]);
    } finally {
      await src.stop();
    }
  });

  it("read while the thread is still in /proc: its status says whose it is, and the event says which thread it was", async () => {
    const procfs = _proc("live");
    const file = join(dir, "kmsg-live");
    writeFileSync(file, RECORDS[0] + "\n");
    // Listed never (the map looks only once a minute, after its first look with no process held).
    const src = new KmsgSource({ path: file, host: { procfs, sysfs: HOST.sysfs }, nvidiaSmi: null, pollMs: 20, maxPidAgeMs: Infinity, threadsMs: 60_000 });
    const rec = recorder([15485]);
    const processes = rec.ctx.processes;
    rec.ctx.processes = () => (rec.isUp() ? processes() : []);
    src.start(rec.ctx);
    try {
      await rec.up;
      appendFileSync(file, RECORDS[1] + "\n");
      await eventually(() => rec.events.length === 1, 5000, "the record read");
      assert.equal(src.threads.owner(15532), null);
      assert.deepEqual(shapes(rec.events), ["process.state SIGSEGV in thread 15532 (python3) of 15485 pid=15485 killed"]);
    } finally {
      await src.stop();
    }
  });
});

describe("the thread map", () => {
  it("keeps what it listed of a process gone from /proc while the graph holds it, then forgets it", async () => {
    const procfs = _proc("keep");
    const m = new ThreadMap(procfs);
    await m.refresh([15485, 4242]);
    assert.deepEqual([m.owner(15532), m.owner(4250), m.owner(15485), m.size], [15485, 4242, null, 2]);
    rmSync(join(procfs, "15485"), { recursive: true });
    await m.refresh([15485, 4242]);
    assert.equal(m.owner(15532), 15485, "gone: what was listed stays");
    await m.refresh([4242], (pid) => pid === 15485);
    assert.equal(m.owner(15532), 15485, "ended, still in the graph");
    await m.refresh([4242]);
    assert.deepEqual([m.owner(15532), m.size], [null, 1]);
  });

  it("lists a process again when its thread count changes, or its list is older than relistMs", async () => {
    const procfs = _proc("relist");
    const m = new ThreadMap(procfs, { maxProcesses: 256, maxThreads: 65_536, relistMs: 60_000 });
    const t0 = Date.now();
    await m.refresh([4242], undefined, t0);
    const task = join(procfs, "4242/task");
    const links = statSync(task).nlink;
    // A thread started: a task/ directory more. A file system whose directories count their
    // subdirectories in their links (tmpfs, ext4, xfs) shows it in the count.
    mkdirSync(join(task, "4260"));
    writeFileSync(join(task, "4260/stat"), "");
    if (statSync(task).nlink !== links) {
      await m.refresh([4242], undefined, t0 + 1000);
      assert.equal(m.owner(4260), 4242, "listed again for its count");
    }
    // The same count with another thread (4260 ended as 4261 started): seen at the next relist.
    rmSync(join(task, "4260"), { recursive: true });
    mkdirSync(join(task, "4261"));
    await m.refresh([4242], undefined, t0 + 2000);
    assert.equal(m.owner(4261), null, "not listed again within relistMs when the count is the same");
    await m.refresh([4242], undefined, t0 + 61_000);
    assert.deepEqual([m.owner(4261), m.owner(4260), m.owner(4250)], [4242, null, 4242]);
  });

  it("at its bounds, looks at the first processes and keeps the first threads, and says how many it left out", async () => {
    const procfs = _proc("bounds");
    const few = new ThreadMap(procfs, { maxProcesses: 1, maxThreads: 65_536, relistMs: 60_000 });
    await few.refresh([15485, 4242]);
    assert.deepEqual([few.owner(15532), few.owner(4250)], [15485, null]);
    assert.deepEqual(few.stats, { processes: 1, threads: 1, processes_left_out: 1, threads_left_out: 0 });
    const small = new ThreadMap(procfs, { maxProcesses: 256, maxThreads: 1, relistMs: 60_000 });
    await small.refresh([15485, 4242]);
    assert.deepEqual([small.owner(15532), small.owner(4250)], [15485, null]);
    assert.deepEqual(small.stats, { processes: 2, threads: 1, processes_left_out: 0, threads_left_out: 1 });
    // 15485 leaves the graph: its room goes to 4242's thread.
    await small.refresh([4242], undefined, Date.now() + 60_000);
    assert.deepEqual([small.owner(4250), small.stats.threads_left_out], [4242, 0]);
  });
});
