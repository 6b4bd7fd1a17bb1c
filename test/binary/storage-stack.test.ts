// The compiled binary on a host with stacked storage (a sysfs tree in the kernel's layout via
// --path.sysfs, a procfs tree via --path.procfs): builtin:procfs sees jobs stuck in D on an LVM
// volume (dm-0), an md RAID1 (md0) and an md RAID0 (md1); builtin:kmsg?path=FILE reads the
// kernel naming the member disks that fail. `why` must name the member under the volume for the
// job on dm-0 and md1, and leave the job on the RAID1 (served by its other mirror) unblamed.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, type RunningExporter } from "../_helpers.ts";
import { writeProcTree } from "../sources/_host-kit.ts";
import { stackTree } from "../sources/_stack-kit.ts";
import { PATH_FLAGS, kernelLog, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const MOUNTS = [
  "21 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw,errors=remount-ro",
  "30 21 9:0 / /data rw,relatime shared:20 - xfs /dev/md0 rw,attr2,inode64,noquota",
  "31 21 9:1 / /scratch rw,relatime shared:21 - xfs /dev/md1 rw,attr2,inode64,noquota",
].join("\n");

interface Why {
  root_causes: { entity: string; error_type: string }[];
  waits_on: { resource: string }[];
  scenes: { scene: string }[];
}

describe("stacked storage in the binary", { skip: !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PATH_FLAGS ? "the binary has no --path.sysfs" : false }, () => {
  const tree = stackTree();
  const dir = mkdtempSync(join(tmpdir(), "xctl-stack-bin-"));
  const procfs = join(dir, "proc");
  const file = join(dir, "kmsg");
  const btime = Math.floor(Date.now() / 1000) - 3600;
  const kernel = kernelLog(file, btime);
  let ex: RunningExporter;
  after(async () => {
    await ex?.stop();
    tree.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("why names `sda2 under dm-0` for the job on the volume; the RAID1's job has no root cause", async () => {
    writeProcTree(procfs, { 1: "S", 7001: "D", 7002: "D", 7003: "D" });
    const files: Record<number, string> = { 7001: "/srv/train/shard-0001.bin", 7002: "/data/ckpt/step-100.pt", 7003: "/scratch/cache/batch-17.npy" };
    for (const [pid, f] of Object.entries(files)) {
      writeFileSync(join(procfs, pid, "mountinfo"), MOUNTS + "\n");
      writeFileSync(join(procfs, pid, "wchan"), "io_schedule");
      mkdirSync(join(procfs, pid, "fd"));
      symlinkSync(f, join(procfs, pid, "fd", "5"));
    }
    writeFileSync(file, "");
    ex = await startKmsgExporter(file, { procfs, btime, sysfs: tree.sysfs, extra: ["--probe", "builtin:procfs?interval=200ms&dwait=200ms"] });
    const body = [7001, 7002, 7003].map((pid) => JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: `job-${pid}`, value: "start" })).join("\n");
    assert.equal((await fetch(`${ex.url}/api/v1/events`, { method: "POST", body })).status, 200);
    kernel("blk_update_request: I/O error, dev sda, sector 2099200 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    kernel("blk_update_request: I/O error, dev sdb, sector 8192 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    kernel("blk_update_request: I/O error, dev sdc, sector 5000000 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0");

    const why = async (pid: number) => (await (await fetch(`${ex.url}/api/v1/why/${pid}`)).json()) as Why;
    const all = await eventually(async () => {
      const w = await Promise.all([7001, 7002, 7003].map(why));
      return w.every((x) => x.waits_on.length === 1) && w[0].root_causes.length > 0 && w[2].root_causes.length > 0 ? w : undefined;
    }, 10_000, "the three waits and two root causes");
    assert.deepEqual(all.map((w) => w.waits_on[0].resource), ["dm-0", "md0", "md1"]);
    assert.deepEqual(all[1].root_causes, [], "md0 is a RAID1");
    assert.ok(!all[1].scenes.some((s) => s.scene === "storage_io_error"), JSON.stringify(all[1].scenes.map((s) => s.scene)));
    assert.deepEqual(all[2].root_causes.map((c) => [c.entity, c.error_type.split(": ")[0]]), [["md1", "IO_ERROR from sdc2 under md1"]]);

    const text = execFileSync(BINARY!, ["why", "7001", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(text, /IO_ERROR from sda2 under dm-0 \(vg0-root\): blk_update_request: I\/O error, dev sda, sector 2099200 .* on dm-0 \(error-dm-0/, text);
    assert.match(text, /storage_io_error/, text);
    assert.match(text, /^\s+dm-0\b/m, text);

    // `ps`: the volume's and the RAID0's jobs blocked by their device's error, the RAID1's not.
    const ps = execFileSync(BINARY!, ["ps", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(ps, /^7001\s+job-7001\s+D\s+-\s+dm-0\s+IO_ERROR@dm-0\s/m, ps);
    assert.match(ps, /^7002\s+job-7002\s+D\s+-\s+md0\s+-\s/m, ps);
    assert.match(ps, /^7003\s+job-7003\s+D\s+-\s+md1\s+IO_ERROR@md1\s/m, ps);
    const run = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { matches: { scene: string; affected_pids: number[] }[] };
    const io = run.matches.find((m) => m.scene === "storage_io_error");
    assert.ok(io, JSON.stringify(run.matches.map((m) => m.scene)));
    assert.deepEqual([...io.affected_pids].sort(), [7001, 7003]);
  });
});
