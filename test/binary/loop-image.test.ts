// The compiled binary on a host whose jobs run from loop-mounted images (the fixture tree
// test/fixtures/loop-host: Apptainer's SIF on loop0 over nvme0n1p2, a squashfs data set on loop1
// over the LVM volume dm-0 on sda2, a scratch image on loop2 over tmpfs, an unlinked SIF on
// loop3): builtin:procfs sees the jobs in D on files of the images, builtin:kmsg?path=FILE reads
// the kernel naming the disks that fail, and readings say the NVMe disk is slow. Each job must
// wait on the device under its image and be reached by its errors and slowness; the job on
// tmpfs waits on its loop device and is blamed for nothing.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, kernelLog, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const FIXTURE = join(ROOT, "test/fixtures/loop-host");
const JOBS: Record<number, string> = { 5000: "job-sif", 5001: "job-data", 5002: "job-shm", 5003: "job-ckpt" };

interface Why {
  root_causes: { entity: string; error_type: string }[];
  waits_on: { resource: string; meta: Record<string, string> }[];
  scenes: { scene: string }[];
}

describe("jobs on loop-mounted images in the binary", { skip: !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PATH_FLAGS ? "the binary has no --path.sysfs" : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-loop-bin-"));
  const procfs = join(dir, "proc");
  const file = join(dir, "kmsg");
  const btime = Math.floor(Date.now() / 1000) - 3600;
  const kernel = kernelLog(file, btime);
  let ex: RunningExporter;
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("why names the disk under each image and the way down; errors and slowness of that disk reach the job", async () => {
    cpSync(join(FIXTURE, "proc"), procfs, { recursive: true, verbatimSymlinks: true });
    writeFileSync(file, "");
    ex = await startKmsgExporter(file, { procfs, btime, sysfs: join(FIXTURE, "sys"), extra: ["--probe", "builtin:procfs?interval=200ms&dwait=200ms"] });
    const post = async (lines: object[]) => assert.equal((await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: lines.map((l) => JSON.stringify(l)).join("\n") })).status, 200);
    await post(Object.entries(JOBS).map(([pid, job]) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid: Number(pid), job_id: job, value: "start" })));
    // A probe says the job on the unlinked SIF is saving a checkpoint (a state procfs keeps).
    await post([{ event_type: "process.state", entity_id: "pid-5003", pid: 5003, value: "checkpoint" }]);
    const why = async (pid: number) => (await (await fetch(`${ex.url}/api/v1/why/${pid}`)).json()) as Why;
    const pids = Object.keys(JOBS).map(Number);
    const waits = await eventually(async () => {
      const w = await Promise.all(pids.map(why));
      return w.every((x) => x.waits_on.length === 1) ? w : undefined;
    }, 10_000, "the four waits");
    assert.deepEqual(waits.map((w) => w.waits_on[0].resource), ["nvme0n1", "dm-0", "loop2", "nvme0n1"]);

    // The NVMe disk is slow with I/O queued on it (host readings, as builtin:diskstats gives them).
    await post([
      { event_type: "storage.iops", entity_id: "nvme0n1", value: "12" },
      { event_type: "storage.qdepth", entity_id: "nvme0n1", value: "6.5" },
    ]);
    // Sector 2,100,000 of nvme0n1 is in nvme0n1p2, the images' file system; sector 1,100,000 of
    // sda in sda2, under the volume the data set's image lies on.
    kernel("blk_update_request: I/O error, dev nvme0n1, sector 2100000 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    kernel("blk_update_request: I/O error, dev sda, sector 1100000 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    const all = await eventually(async () => {
      const w = await Promise.all(pids.map(why));
      return w[0].root_causes.length > 0 && w[1].root_causes.length > 0 ? w : undefined;
    }, 10_000, "root causes for the jobs on nvme0n1 and dm-0");
    assert.deepEqual(all[0].root_causes.map((c) => [c.entity, c.error_type.split(": ")[0]]), [["nvme0n1", "IO_ERROR blk_update_request"]]);
    assert.deepEqual(all[1].root_causes.map((c) => [c.entity, c.error_type.split(": ")[0]]), [["dm-0", "IO_ERROR from sda2 under dm-0 (vg0-data)"]]);
    assert.deepEqual(all[2].root_causes, [], "the image on tmpfs has no disk to fail");

    const text = execFileSync(BINARY!, ["why", "5000", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(text, /^\s+nvme0n1\b.*IO_WAIT D for \d+s via loop0 \(\/images\/ubuntu-22\.04\.sif\) → nvme0n1p2/m, text);
    assert.match(all[3].waits_on[0].meta.qdepth ?? "", /via loop3 \(\/images\/pytorch-23\.10\.sif \(deleted\)\) → nvme0n1p2$/);

    const run = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { matches: { scene: string; affected_pids: number[] }[] };
    const affected = (scene: string) => [...(run.matches.find((m) => m.scene === scene)?.affected_pids ?? [])].sort();
    assert.deepEqual(affected("storage_io_error"), [5000, 5001, 5003], JSON.stringify(run.matches));
    assert.deepEqual(affected("storage_slow"), [5000, 5003], JSON.stringify(run.matches));
    assert.deepEqual(affected("checkpoint_timeout"), [5003], JSON.stringify(run.matches));
  });
});
