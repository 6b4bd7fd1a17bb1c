// One host, both collectors, the real graph and diagnosis: processes whose files are on an LVM
// volume (dm-0), an md RAID1 (md0) and an md RAID0 (md1) are stuck in D (builtin:procfs maps
// each mount to the device through <sysfs>/dev/block/MAJ:MIN), and the kernel log names the
// member disks that fail (builtin:kmsg). The fault must reach the job on the volume and on the
// RAID0 with the member named in `why`, and not the job on the RAID1, whose I/O the other
// mirror serves.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KmsgSource } from "../../src/sources/kmsg/kmsg-source.ts";
import { ProcfsSource } from "../../src/sources/procfs/index.ts";
import { whyView } from "../../src/query/why.ts";
import { harness, writeProcTree } from "./_host-kit.ts";
import { stackTree } from "./_stack-kit.ts";

const MOUNTS = [
  "21 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw,errors=remount-ro",
  "22 21 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
  "30 21 9:0 / /data rw,relatime shared:20 - xfs /dev/md0 rw,attr2,inode64,noquota",
  "31 21 9:1 / /scratch rw,relatime shared:21 - xfs /dev/md1 rw,attr2,inode64,noquota",
].join("\n");

describe("a member disk's fault reaches the processes on the devices stacked above it", () => {
  const tree = stackTree();
  after(() => tree.close());
  const procfs = join(tree.root, "proc");
  const btime = Math.floor(Date.now() / 1000) - 3600;
  writeProcTree(procfs, { 1: "S", 7001: "D", 7002: "D", 7003: "D" });
  writeFileSync(join(procfs, "stat"), `cpu  1 2 3 4 5 6 7 0 0 0\nbtime ${btime}\n`);
  const files: Record<number, string> = { 7001: "/srv/train/shard-0001.bin", 7002: "/data/ckpt/step-100.pt", 7003: "/scratch/cache/batch-17.npy" };
  for (const [pid, file] of Object.entries(files)) {
    writeFileSync(join(procfs, pid, "mountinfo"), MOUNTS + "\n");
    writeFileSync(join(procfs, pid, "wchan"), "io_schedule");
    mkdirSync(join(procfs, pid, "fd"));
    symlinkSync("pipe:[48211]", join(procfs, pid, "fd", "1"));
    symlinkSync(file, join(procfs, pid, "fd", "5"));
  }
  const record = (seq: number, message: string) => `3,${seq},${(Date.now() - btime * 1000) * 1000},-;${message}\n`;

  it("why names the volume's fault through the member; the RAID1's job is not blamed", async () => {
    const h = harness("host");
    const host = { procfs, sysfs: tree.sysfs };
    const kmsgFile = join(tree.root, "kmsg");
    writeFileSync(
      kmsgFile,
      [
        record(1, "blk_update_request: I/O error, dev sda, sector 2099200 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0"),
        record(2, "blk_update_request: I/O error, dev sdb, sector 8192 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0"),
        record(3, "md/raid1:md0: Disk failure on sdb1, disabling device.\\x0amd/raid1:md0: Operation continuing on 1 devices."),
        record(4, "blk_update_request: I/O error, dev sdc, sector 5000000 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0"),
      ].join(""),
    );
    for (const pid of [7001, 7002, 7003]) h.feed({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: `job-${pid}`, value: "start" });

    // The kernel's records first (the errors come before the processes have been in D long).
    const kmsg = new KmsgSource({ path: kmsgFile, host, nvidiaSmi: null, pollMs: 20 });
    let up!: () => void;
    const read = new Promise<void>((r) => (up = r));
    kmsg.start({ ...h.ctx, setUp: (u) => void (u && up()) });
    await read;
    await kmsg.stop();
    const procs = new ProcfsSource({ host, dWaitMs: 0 });
    procs.attach(h.ctx);
    await procs.runOnce();

    const g = h.exporter.graph;
    const why = (pid: number) => whyView(g, pid, (p) => h.exporter.engine.scenesFor(p))!;
    assert.deepEqual(why(7001).waits_on.map((r) => r.resource), ["dm-0"]);
    assert.deepEqual(why(7002).waits_on.map((r) => r.resource), ["md0"]);
    assert.deepEqual(why(7003).waits_on.map((r) => r.resource), ["md1"]);

    const causes = (pid: number) => why(pid).root_causes.map((c) => `${c.entity} ${c.error_type.split(": ")[0]}`);
    assert.deepEqual(causes(7001), ["dm-0 IO_ERROR from sda2 under dm-0 (vg0-root)"]);
    assert.deepEqual(causes(7002), [], "md0 is a RAID1: sdb1's errors were served from sdc1");
    assert.deepEqual(causes(7003), ["md1 IO_ERROR from sdc2 under md1"]);
    // The member disks carry their own errors, with no process on them.
    assert.ok(g.errors.has("sda") && g.errors.has("sdb") && g.errors.has("sdc"));
    assert.ok(!g.errors.has("md0"));

    const run = h.exporter.engine.runNow();
    const io = run.matches.find((m) => m.scene === "storage_io_error");
    assert.ok(io, JSON.stringify(run.matches.map((m) => m.scene)));
    assert.deepEqual([...io.affected_pids].sort(), [7001, 7003]);
  });
});
