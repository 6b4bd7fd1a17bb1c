// builtin:kmsg end to end in-process: record files in the /dev/kmsg format from several driver
// generations, read by the real reader, mapped through procfs/sysfs fixture trees and the
// stand-in nvidia-smi; follow mode on a growing, truncated and rotated file.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { UsageError } from "../../src/errors.ts";
import { createProbe } from "../../src/sources/index.ts";
import { KmsgSource } from "../../src/sources/kmsg/kmsg-source.ts";
import { KmsgReader } from "../../src/sources/kmsg/reader.ts";
import { eventually, sleep } from "../_helpers.ts";
import { FAKE_SMI, HOST, KMSG, recorder, shapes } from "./_kmsg-kit.ts";

const BTIME_MS = 1796100000 * 1000; // btime in the fixture procfs/stat

async function readAll(file: string, opts: ConstructorParameters<typeof KmsgSource>[0] = {}, pids: number[] = []) {
  const src = new KmsgSource({ path: join(KMSG, file), host: HOST, nvidiaSmi: FAKE_SMI, maxAgeMs: Infinity, maxPidAgeMs: Infinity, ...opts });
  const rec = recorder(pids);
  src.start(rec.ctx);
  await rec.up;
  await src.stop();
  return { src, ...rec };
}

describe("builtin:kmsg on record files", () => {
  it("driver 535: Xid 79 with pid '<unknown>' and the fallen-off line on gpu-01, app Xids with their pid, SXids on nvswitch-N", async () => {
    const { events, src } = await readAll("r535.kmsg");
    assert.deepEqual(shapes(events), [
      "error.hw gpu-01 XID_79",
      "error.hw gpu-01 XID_79",
      "error.hw gpu-00 pid=4242 XID_43",
      "error.hw gpu-00 pid=1797828 XID_109",
      "error.hw nvswitch-1 SXID_20034",
      "error.hw nvswitch-1 SXID_20034",
      "error.hw nvswitch-0 SXID_20009",
    ]);
    assert.equal(events[0].value, "XID_79 NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.");
    assert.equal(events[0].ts, BTIME_MS + 9121); // boot time + 9120570 µs, rounded
    assert.equal(src.counts.xid, 3);
    assert.equal(src.counts.fallen_off_bus, 1);
    assert.equal(src.counts.sxid, 3);
    assert.equal(src.counts.other, 5);
  });

  it("driver 470 (no pid field) and 418 (no PCI: prefix) map to the same names", async () => {
    assert.deepEqual(shapes((await readAll("r470.kmsg")).events), [
      "error.hw gpu-01 XID_13",
      "error.hw gpu-01 XID_13",
      "error.hw gpu-00 XID_31",
      "error.hw gpu-01 XID_79",
      "error.hw gpu-01 XID_79",
    ]);
    assert.deepEqual(shapes((await readAll("r418.kmsg")).events), [
      "error.hw gpu-01 XID_48",
      "error.hw gpu-01 XID_63",
      "error.hw gpu-00 XID_79",
      "error.hw gpu-00 XID_79",
    ]);
  });

  it("driver 570 without nvidia-smi: nvidia-smi's order (PCI bus order) of the driver's GPUs in procfs, else the bus id; both fallen-off forms", async () => {
    const { events, logs } = await readAll("r570.kmsg", { nvidiaSmi: join(KMSG, "no-such-nvidia-smi") });
    // The driver's GPUs: 0000:18:00, 0000:3b:00, 0000:86:00, 0009:01:00 (Device Minors 0 1 4 6).
    assert.deepEqual(shapes(events), [
      "error.hw gpu-03 XID_149",
      "error.hw gpu-03 XID_154",
      "error.hw gpu-02 pid=2024380 XID_119",
      "error.hw gpu-0000:b3:00 XID_79",
      "error.hw gpu-02 XID_79",
    ]);
    assert.match(String(events[3].value), /^XID_79 NVRM: The NVIDIA GPU 0000:b3:00.0 NVRM: \(PCI ID: 10de:26b5\) installed in this system has NVRM: fallen off/);
    assert.equal(logs.filter((l) => l.includes("no-such-nvidia-smi")).length, 1, "nvidia-smi's absence said once");
  });

  it("driver 550 with MIG and a 6.x kernel with caller ids: both MIG Xid forms on the GPU (a UTF-8 name intact), an offline disk and a PI error on theirs, an NVMe completion found by polling on none", async () => {
    const { events, src } = await readAll("r550-mig.kmsg");
    assert.deepEqual(shapes(events), [
      "error.hw gpu-00 pid=4242 XID_43",
      "error.hw gpu-00 pid=4243 XID_94",
      "error.hw sdb IO_ERROR",
      "error.hw sda IO_ERROR",
    ]);
    // A command name in UTF-8 comes escaped byte by byte and reads as it was written.
    assert.equal(events[1].value, "XID_94 NVRM: Xid (PCI:0000:18:00 GPU-I:05): 94, pid=4243, name=训练.py, Contained: CE User Channel (0x9). RST: No, D-RST: No");
    assert.equal(src.counts.xid, 2);
    // The NVMe command whose completion the driver polled (its interrupt lost) failed nothing.
    assert.equal(src.counts.io_error, 2);
  });

  it("host faults: I/O errors on the disk (partition and controller mapped), mlx5 on its RDMA device, OOM, hung task, NFS", async () => {
    const { events, src } = await readAll("host.kmsg", {}, [6262]);
    assert.deepEqual(shapes(events), [
      "error.hw nvme1n1 IO_ERROR",
      "error.hw sda IO_ERROR",
      "error.hw sdb IO_ERROR",
      "error.hw nvme1n1 IO_ERROR",
      "error.hw nvme1n1 IO_ERROR",
      "error.hw sdc IO_ERROR",
      "topo.link_down mlx5_0 MODULE_ERROR",
      "topo.link_down mlx5_0 LINK_DOWN",
      "topo.link_down mlx5_5 LINK_DOWN",
      "process.state memory pid=4242 oom_killed",
      "process.state memory pid=5151 oom_killed",
      "process.state kernel pid=6262 D",
      "error.net nfs-nfs01.example.org NFS_NOT_RESPONDING",
    ]);
    // The Xid line written by user space (facility 1) is not evidence.
    assert.ok(!shapes(events).some((s) => s.includes("XID")));
    assert.equal(src.counts.io_error, 6);
    assert.equal(src.counts.nfs, 2);
  });

  it("a whole OOM-killer report (stack, Mem-Info, the task table with other pids, oom-kill:constraint=...pid=, the reaper) is one kill of the victim", async () => {
    const { events, src } = await readAll("oom-kill.kmsg");
    assert.deepEqual(shapes(events), ["process.state memory pid=4242 oom_killed"]);
    assert.equal(src.counts.oom_kill, 1);
    assert.equal(src.counts.other, 36);
  });

  it("a hung task the graph does not hold is counted, not turned into a process", async () => {
    const { events, src } = await readAll("host.kmsg");
    assert.ok(!shapes(events).some((s) => s.includes("pid=6262")));
    assert.equal(src.counts.hung_task, 1);
  });

  it("counts old records without emitting them: past an hour for device faults, five minutes for pids", async () => {
    // The fixture's records are hours old by now.
    const { events, src } = await readAll("host.kmsg", { maxAgeMs: undefined, maxPidAgeMs: undefined });
    assert.equal(events.length, 0);
    assert.equal(src.counts.oom_kill, 2);
  });

  it("shows xctl_kmsg_records_total per kind, summed over kmsg sources", async () => {
    const registry = new Registry();
    const a = (await readAll("host.kmsg")).src;
    const b = (await readAll("r535.kmsg")).src;
    a.registerMetrics(registry);
    b.registerMetrics(registry);
    const page = await registry.metrics();
    assert.match(page, /^xctl_kmsg_records_total\{kind="io_error"\} 6$/m);
    assert.match(page, /^xctl_kmsg_records_total\{kind="sxid"\} 3$/m);
    assert.match(page, /^xctl_kmsg_records_total\{kind="hung_task"\} 1$/m);
    assert.match(page, /^xctl_kmsg_records_total\{kind="other"\} 16$/m);
    // host.kmsg's Xid line written by user space: counted apart, not among the kernel's others.
    assert.match(page, /^xctl_kmsg_records_total\{kind="user_space"\} 1$/m);
  });
});

describe("builtin:kmsg as a --probe", () => {
  it("reads /dev/kmsg by default, ?path=FILE otherwise, under the host paths given", () => {
    const host = { procfs: "/host/proc", sysfs: "/host/sys" };
    const def = createProbe("builtin:kmsg", undefined, host);
    assert.ok(def instanceof KmsgSource);
    assert.deepEqual([def.name, def.path, def.host], ["kmsg", "/dev/kmsg", host]);
    const other = createProbe("builtin:kmsg?path=/var/log/kmsg.dump", (b) => `${b}-2`);
    assert.ok(other instanceof KmsgSource);
    assert.deepEqual([other.name, other.path], ["kmsg-2", "/var/log/kmsg.dump"]);
  });

  it("refuses unknown options and an empty path with a usage error", () => {
    assert.throws(() => createProbe("builtin:kmsg?rate=5"), (e: Error) => e instanceof UsageError && /unknown option "rate" \(known: path\)/.test(e.message));
    assert.throws(() => createProbe("builtin:kmsg?path="), (e: Error) => e instanceof UsageError && /path must be a file/.test(e.message));
  });
});

describe("builtin:kmsg follows a file", () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const usec = () => (Date.now() - BTIME_MS) * 1000;

  it("stamps records with the kernel clock's drift that records read live show (a host up for months: its clock 3 min behind)", async () => {
    const file = join(dir, "kmsg-drift");
    const behind = 180_000;
    const drifted = () => usec() - behind * 1000;
    // In the ring at start: a fault 30 s ago by the kernel's clock (no drift known yet).
    writeFileSync(file, `6,1,1000,-;Linux version 6.8.0\n4,2,${drifted() - 30_000_000},-;NVRM: Xid (PCI:0000:3b:00): 48, pid=776, name=python3, DBE\n`);
    const src = new KmsgSource({ path: file, host: HOST, nvidiaSmi: FAKE_SMI, pollMs: 20 });
    const rec = recorder();
    src.start(rec.ctx);
    try {
      await rec.up;
      await eventually(() => rec.events.length === 1, 5000, "the Xid in the ring");
      const early = Date.now() - Number(rec.events[0].ts);
      assert.ok(early >= behind + 29_000, `before any live record the ring's stamp stands (${early} ms old)`);
      // Live: a line of no interest, then a fault, each written now by a clock 3 min behind.
      appendFileSync(file, `6,3,${drifted()},-;usb 1-1: new device\n`);
      await eventually(() => Math.abs(src.clock.driftMs - behind) < 2000, 5000, "the drift learnt");
      appendFileSync(file, `4,4,${drifted()},-;NVRM: Xid (PCI:0000:3b:00): 79, pid=777, name=python3, GPU has fallen off the bus.\n`);
      await eventually(() => rec.events.length === 2, 5000, "the appended Xid");
      const lag = Date.now() - Number(rec.events[1].ts);
      assert.ok(lag >= 0 && lag < 2000, `a live fault is stamped now, not 3 min ago (${lag} ms)`);
      assert.ok(rec.logs.some((l) => /kernel's clock runs 18\d\.\d s behind the wall clock/.test(l)), rec.logs.join("\n"));
    } finally {
      await src.stop();
    }
  });

  it("sees appended records, reads a truncated file again, and goes on with a rotated one", async () => {
    const file = join(dir, "kmsg");
    writeFileSync(file, "6,1,1000,-;Linux version 6.8.0\n");
    const src = new KmsgSource({ path: file, host: HOST, nvidiaSmi: FAKE_SMI, pollMs: 20 });
    const rec = recorder();
    src.start(rec.ctx);
    try {
      await rec.up;
      assert.equal(rec.events.length, 0);
      appendFileSync(file, `4,2,${usec()},-;NVRM: Xid (PCI:0000:3b:00): 79, pid=777, name=python3, GPU has fallen off the bus.\n`);
      await eventually(() => rec.events.length === 1, 5000, "the appended Xid");
      assert.deepEqual(shapes(rec.events), ["error.hw gpu-01 pid=777 XID_79"]);
      assert.ok(Math.abs(Number(rec.events[0].ts) - Date.now()) < 60_000, "stamped with boot time + offset");

      // Truncated (a shorter file): read from its start again.
      writeFileSync(file, `3,1,${usec()},-;I/O error, dev nvme1n1p1, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0\n`);
      await eventually(() => rec.events.length === 2, 5000, "the record after truncation");
      assert.equal(shapes(rec.events)[1], "error.hw nvme1n1 IO_ERROR");

      // Rotated: renamed away, a new file at the path.
      renameSync(file, `${file}.1`);
      writeFileSync(file, `3,1,${usec()},-;Out of memory: Killed process 4343 (python3) total-vm:1kB\n`);
      await eventually(() => rec.events.length === 3, 5000, "the record in the new file");
      assert.equal(shapes(rec.events)[2], "process.state memory pid=4343 oom_killed");
      assert.equal(readFileSync(`${file}.1`, "utf8").split("\n").length, 2, "the old file was not read again");
    } finally {
      await src.stop();
    }
  });

  it("keeps the event loop turning through a large backlog", async () => {
    const file = join(dir, "backlog");
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(i % 1000 === 999 ? `3,${i},${usec()},-;I/O error, dev sda, sector ${i}` : `6,${i},${i},-;usb 1-${i}: new device`);
    writeFileSync(file, lines.join("\n") + "\n");
    const src = new KmsgSource({ path: file, host: HOST, nvidiaSmi: null });
    const rec = recorder();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    src.start(rec.ctx);
    try {
      await rec.up;
    } finally {
      clearInterval(timer);
      await src.stop();
    }
    assert.equal(rec.events.length, 20);
    assert.equal(src.counts.other + src.counts.io_error, 20_000);
    // Records go in batches of 256 with a yield between: the timer ran between batches.
    assert.ok(ticks >= 20, `timer ran ${ticks} times while 20000 records were read`);
  });

  it("sleeps between looks once caught up, when no poll interval is given (a busy loop burnt a tenth of a core)", async () => {
    const file = join(dir, "quiet");
    writeFileSync(file, "6,1,1,-;quiet\n");
    let looks = 0;
    const reader = new KmsgReader({ path: file, pollMs: undefined, onBlock: () => undefined, onCaughtUp: () => looks++ });
    const running = reader.run();
    // The first look comes when it can (a loaded machine may take a while); then 300 ms hold at
    // most one more at the default 500 ms interval, where a busy loop would look hundreds of times.
    await eventually(() => looks >= 1, 5000, "the first look");
    const first = looks;
    await sleep(300);
    await reader.stop();
    await running;
    assert.ok(looks - first <= 1, `${looks - first} looks in 300 ms at the default 500 ms interval`);
  });

  it("after a failure, reads the file again from its start without repeating what it had read", async () => {
    const file = join(dir, "flaky");
    const first = `3,7,${usec()},-;blk_update_request: I/O error, dev sda, sector 1\n`;
    writeFileSync(file, first);
    const src = new KmsgSource({ path: file, host: HOST, nvidiaSmi: null, pollMs: 20 });
    const rec = recorder();
    src.start(rec.ctx);
    try {
      await rec.up;
      assert.deepEqual(shapes(rec.events), ["error.hw sda IO_ERROR"]);
      // The path becomes a directory: the reader fails, says so, and retries.
      rmSync(file);
      mkdirSync(file);
      await eventually(() => !rec.isUp(), 5000, "down");
      rmSync(file, { recursive: true });
      writeFileSync(file, `${first}3,8,${usec()},-;blk_update_request: I/O error, dev sdb, sector 2\n`);
      await eventually(() => rec.events.length >= 2, 10_000, "the new record");
      await rec.up;
      assert.deepEqual(shapes(rec.events), ["error.hw sda IO_ERROR", "error.hw sdb IO_ERROR"]);
      assert.ok(rec.logs.some((l) => l.startsWith("warn") && l.includes("cannot read")), rec.logs.join("\n"));
    } finally {
      await src.stop();
    }
  });

  it("says why it cannot read, and retries", async () => {
    const src = new KmsgSource({ path: join(dir, "absent"), host: HOST, nvidiaSmi: null });
    const rec = recorder();
    src.start(rec.ctx);
    await eventually(() => rec.logs.some((l) => l.includes("cannot read") && l.includes("absent")), 5000, "the warning");
    assert.equal(rec.isUp(), false);
    writeFileSync(join(dir, "absent"), "6,1,1,-;hello\n");
    await eventually(() => rec.isUp(), 5000, "up once the file exists");
    await src.stop();
  });

  it("with no boot time (no stat or uptime under --path.procfs), takes nothing from the backlog as news, only what comes after", async () => {
    const file = join(dir, "kmsg-noboot");
    const procfs = join(dir, "proc-noboot");
    mkdirSync(procfs, { recursive: true });
    // Faults from boot: without btime their time is unknown; stamped with the time read they
    // would all be fresh errors.
    writeFileSync(
      file,
      "4,1,5000000,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n" +
        "3,2,6000000,-;I/O error, dev nvme1n1, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0\n",
    );
    const src = new KmsgSource({ path: file, host: { procfs, sysfs: HOST.sysfs }, nvidiaSmi: FAKE_SMI, pollMs: 20 });
    const rec = recorder();
    src.start(rec.ctx);
    try {
      await rec.up;
      assert.equal(rec.events.length, 0, JSON.stringify(rec.events));
      assert.equal(src.counts.xid + src.counts.io_error, 2, "read and counted");
      assert.ok(rec.logs.some((l) => /no boot time/.test(l)), rec.logs.join("\n"));
      appendFileSync(file, "4,3,7000000,-;NVRM: Xid (PCI:0000:18:00): 48, pid=777, name=python3, An uncorrectable double bit error\n");
      await eventually(() => rec.events.length === 1, 5000, "the record after start");
      assert.deepEqual(shapes(rec.events), ["error.hw gpu-00 pid=777 XID_48"]);
      assert.ok(Math.abs(Number(rec.events[0].ts) - Date.now()) < 60_000, "stamped with the time read");
    } finally {
      await src.stop();
    }
  });

  it("a hung thread of a process the graph holds (the kernel names the thread's id) puts that process in D", async () => {
    const file = join(dir, "kmsg-thread");
    const procfs = join(dir, "proc-thread");
    // /proc/<tid>/status of a thread of 4242 (threads are readable by id, though not listed).
    mkdirSync(join(procfs, "4250"), { recursive: true });
    writeFileSync(join(procfs, "stat"), `btime ${BTIME_MS / 1000}\n`);
    writeFileSync(join(procfs, "4250", "status"), "Name:\tpt_autograd_0\nUmask:\t0022\nState:\tD (disk sleep)\nTgid:\t4242\nNgid:\t0\nPid:\t4250\nPPid:\t4100\n");
    writeFileSync(file, "6,1,1000,-;Linux version 6.8.0\n");
    const src = new KmsgSource({ path: file, host: { procfs, sysfs: HOST.sysfs }, nvidiaSmi: null, pollMs: 20 });
    const rec = recorder([4242]);
    src.start(rec.ctx);
    try {
      await rec.up;
      appendFileSync(file, `3,2,${usec()},-;INFO: task pt_autograd_0:4250 blocked for more than 122 seconds.\n`);
      // A thread of no process the graph holds (its status gone, or another Tgid): nothing.
      appendFileSync(file, `3,3,${usec()},-;INFO: task kworker/u8:2:77 blocked for more than 122 seconds.\n`);
      await eventually(() => src.counts.hung_task === 2, 5000, "both records read");
      assert.deepEqual(shapes(rec.events), ["process.state kernel pid=4242 D"]);
    } finally {
      await src.stop();
    }
  });

  it("an OOM kill of a data-loader worker (a child or grandchild of a process the graph holds) is an error of that process on memory", async () => {
    const file = join(dir, "kmsg-oom-child");
    const procfs = join(dir, "proc-oom-child");
    const ticks = (ms: number) => Math.round((ms - BTIME_MS) / 10);
    const task = (pid: number, ppid: number, state: string, startMs: number, comm = "python3") => {
      mkdirSync(join(procfs, String(pid)), { recursive: true });
      writeFileSync(join(procfs, String(pid), "status"), `Name:\t${comm}\nState:\t${state}\nTgid:\t${pid}\nNgid:\t0\nPid:\t${pid}\nPPid:\t${ppid}\n`);
      writeFileSync(join(procfs, String(pid), "stat"), `${pid} (${comm}) ${state[0]} ${ppid} ${pid} ${pid} 0 -1 4227148 0 0 0 0 0 0 0 0 20 0 1 0 ${ticks(startMs)} 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n`);
    };
    mkdirSync(procfs, { recursive: true });
    writeFileSync(join(procfs, "stat"), `btime ${BTIME_MS / 1000}\n`);
    const before = Date.now() - 600_000;
    task(5555, 4242, "Z (zombie)", before); // the rank's worker, killed, not reaped yet
    task(6001, 6000, "Z (zombie)", before); // a worker of a worker of 4343
    task(6000, 4343, "S (sleeping)", before);
    task(7001, 4444, "Z (zombie)", Date.now() + 60_000); // the pid taken by a later process than the one killed
    task(8001, 1, "Z (zombie)", before); // a process of no job the graph holds
    writeFileSync(file, "6,1,1000,-;Linux version 6.8.0\n");
    const src = new KmsgSource({ path: file, host: { procfs, sysfs: HOST.sysfs }, nvidiaSmi: null, pollMs: 20 });
    const rec = recorder([4242, 4343, 4444]);
    src.start(rec.ctx);
    try {
      await rec.up;
      const line = (seq: number, pid: number) =>
        `3,${seq},${usec()},-;Out of memory: Killed process ${pid} (python3) total-vm:30241612kB, anon-rss:25165824kB, file-rss:0kB, shmem-rss:8192kB, UID:1000 pgtables:50212kB oom_score_adj:0\n`;
      appendFileSync(file, line(2, 5555) + line(3, 6001) + line(4, 7001) + line(5, 8001));
      // Each record's events come after its reads of /proc (counted first): wait for the last one's.
      await eventually(() => src.counts.oom_kill === 4 && rec.events.some((e) => e.pid === 8001), 5000, "the four records read");
      assert.deepEqual(shapes(rec.events), [
        "process.state memory pid=5555 oom_killed",
        "error.hw memory pid=4242 OOM_KILL_CHILD",
        "process.state memory pid=6001 oom_killed",
        "error.hw memory pid=4343 OOM_KILL_CHILD",
        "process.state memory pid=7001 oom_killed",
        "process.state memory pid=8001 oom_killed",
      ]);
      assert.match(String(rec.events[1].value), /^OOM_KILL_CHILD child 5555 \(python3\): Out of memory: Killed process 5555 /);
      assert.match(String(rec.events[3].value), /^OOM_KILL_CHILD grandchild 6001 \(python3\): /);
      // A worker the kernel signals for a page of host memory gone bad: its process fails of it.
      appendFileSync(file, `3,6,${usec()},-;Memory failure: 0x3f2c5d: Sending SIGBUS to python3:5555 due to hardware memory corruption\n`);
      await eventually(() => rec.events.length === 7, 5000, "the memory failure read");
      assert.deepEqual(shapes(rec.events.slice(6)), ["error.hw memory pid=4242 HW_MEMORY_CORRUPTION"]);
      assert.match(String(rec.events[6].value), /^HW_MEMORY_CORRUPTION child 5555 \(python3\): Memory failure: 0x3f2c5d: Sending SIGBUS/);
      // A worker that dies of its own segfault killed only itself: the rank above it runs on (it
      // may fail of it, and its own end then says so); it is not `killed`, as its thread would be.
      // (Records are handled in order: the OOM kill after it says when it has been.)
      appendFileSync(file, `6,7,${usec()},-;python3[5555]: segfault at 0 ip 00007f1c2a4b5d3a sp 00007ffd3c9e1e48 error 4 in libc.so.6[7f1c2a42d000+195000] likely on CPU 3 (core 3, socket 0)\n` + line(8, 8001));
      await eventually(() => rec.events.length > 7 && rec.events.at(-1)!.pid === 8001, 5000, "the segfault and the kill after it read");
      assert.equal(src.counts.fatal_signal, 1);
      assert.deepEqual(shapes(rec.events.slice(7)), ["process.state memory pid=8001 oom_killed"], "nothing for the rank above the worker");
    } finally {
      await src.stop();
    }
  });
});
