// builtin:procfs on loop-mounted images (Apptainer/Singularity SIF, squashfs data sets): a
// process in D on a file of an image waits on the device that holds the image's backing file,
// not on `loopN`. The backing_file parser on strings, then the fixture tree
// test/fixtures/loop-host (a sysfs in the kernel's layout: loop0..loop7 with `loop/backing_file`,
// nvme0n1 with its partitions, dm-0 over sda2; the host's mount table in proc/1/mountinfo; a
// job's processes in D on files of the images, 5008 and 5009 also on a file of nvme0n1p2 itself),
// read by the collector's own reader and rounds.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { whyView } from "../../src/query/why.ts";
import { ProcfsSource } from "../../src/sources/procfs/index.ts";
import { LoopBacking } from "../../src/sources/procfs/loop.ts";
import { backingFile } from "../../src/sources/procfs/parse.ts";
import { ProcReader } from "../../src/sources/procfs/read.ts";
import { ProcTracker } from "../../src/sources/procfs/tracker.ts";
import { ROOT } from "../_helpers.ts";
import { harness, testClock } from "./_host-kit.ts";

const HOST = { procfs: join(ROOT, "test/fixtures/loop-host/proc"), sysfs: join(ROOT, "test/fixtures/loop-host/sys") };

describe("loop devices: the backing file", () => {
  it("parses loop/backing_file as the kernel prints it: the path, ` (deleted)` once unlinked", () => {
    assert.deepEqual(backingFile("/images/ubuntu-22.04.sif\n"), { path: "/images/ubuntu-22.04.sif", shown: "/images/ubuntu-22.04.sif" });
    assert.deepEqual(backingFile("/images/pytorch-23.10.sif (deleted)\n"), { path: "/images/pytorch-23.10.sif", shown: "/images/pytorch-23.10.sif (deleted)" });
    assert.deepEqual(backingFile("/data/a b.sqsh"), { path: "/data/a b.sqsh", shown: "/data/a b.sqsh" }, "no newline; a space in the name is the name's");
    assert.deepEqual(backingFile("/data/x.img\n\n"), { path: "/data/x.img\n", shown: "/data/x.img\n" }, "only the newline the kernel adds is the kernel's");
    assert.equal(backingFile(""), null, "a loop device with no file");
    assert.equal(backingFile("\n"), null);
    assert.equal(backingFile("images/x.sif\n"), null, "not a path from a root: no mount table resolves it");
  });

  it("follows each loop device of the fixture down to the device its backing file lies on", async () => {
    const loops = new LoopBacking(HOST);
    const got: Record<string, unknown> = {};
    for (let n = 0; n <= 8; n++) got[`loop${n}`] = await loops.below(`loop${n}`);
    assert.deepEqual(got, {
      // A partition of an NVMe disk: the disk, as a file on it waits on.
      loop0: { device: "nvme0n1", nfs: false, via: "loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2" },
      // On an LVM volume over sda2: the volume, to which builtin:kmsg lifts sda's errors.
      loop1: { device: "dm-0", nfs: false, via: "loop1 (/data/datasets/imagenet.sqsh) → dm-0" },
      // tmpfs has no disk: the loop device itself is what there is to wait on.
      loop2: { device: "loop2", nfs: false, via: "loop2 (/dev/shm/scratch.img on tmpfs)" },
      // Unlinked: its blocks stay where they were until the loop device lets go.
      loop3: { device: "nvme0n1", nfs: false, via: "loop3 (/images/pytorch-23.10.sif (deleted)) → nvme0n1p2" },
      // On NFS: the server, as a file on that mount waits on it.
      loop4: { device: "nfs-fileserver-01", nfs: true, via: "loop4 (/home/alice/containers/lab.sif) → nfs-fileserver-01" },
      // An image inside an image: down both.
      loop5: { device: "nvme0n1", nfs: false, via: "loop5 (/var/lib/apptainer/mnt/session/opt/data.img) → loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2" },
      // Not bound to a file (no loop/ directory): nothing below it.
      loop6: { device: "loop6", nfs: false, via: "" },
      // overlay has no block device of its own.
      loop7: { device: "loop7", nfs: false, via: "loop7 (/var/lib/containers/storage/overlay/merged/cache.img on overlay)" },
      // No such device.
      loop8: { device: "loop8", nfs: false, via: "" },
    });
  });

  it("names the disk under the image, with the way down, for each process in D on an image's file", async () => {
    const reader = new ProcReader(HOST, () => {});
    const got: Record<number, unknown> = {};
    for (const pid of [5000, 5001, 5002, 5003, 5004, 5005, 5007]) got[pid] = await reader.waitDevice(pid);
    assert.deepEqual(got, {
      5000: { device: "nvme0n1", via: "loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2" },
      5001: { device: "dm-0", via: "loop1 (/data/datasets/imagenet.sqsh) → dm-0" },
      5002: { device: "loop2", via: "loop2 (/dev/shm/scratch.img on tmpfs)" },
      5003: { device: "nvme0n1", via: "loop3 (/images/pytorch-23.10.sif (deleted)) → nvme0n1p2" },
      5004: { device: "nfs-fileserver-01", via: "loop4 (/home/alice/containers/lab.sif) → nfs-fileserver-01" },
      5005: { device: "nvme0n1", via: "loop5 (/var/lib/apptainer/mnt/session/opt/data.img) → loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2" },
      5007: { device: "loop7", via: "loop7 (/var/lib/containers/storage/overlay/merged/cache.img on overlay)" },
    });
  });

  it("says the way down only when it is the one: a disk reached both through an image and directly", async () => {
    // Both have a file of the image on loop0 (fd 5) and a checkpoint on nvme0n1p2 itself (fd 6).
    const reader = new ProcReader(HOST, () => {});
    assert.deepEqual(await reader.waitDevice(5009), { device: "nvme0n1", via: "" }, "either way: the disk, with no way down said");
    // Blocked in read(2) on fd 5 (x86-64's syscall numbers): through the image.
    const through = process.arch === "x64" ? "loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2" : "";
    assert.deepEqual(await reader.waitDevice(5008), { device: "nvme0n1", via: through });
  });

  it("puts the job's wait on the disk under its image in the graph, and says the way down in why", async () => {
    const h = harness("procfs");
    const clock = testClock();
    const src = new ProcfsSource({ host: HOST, clock: clock.now, dWaitMs: 0 });
    src.attach(h.ctx);
    h.feed({ event_type: "process.state", entity_id: "pid-5000", pid: 5000, job_id: "job-sif", value: "start" });
    h.feed({ event_type: "process.state", entity_id: "pid-5001", pid: 5001, job_id: "job-data", value: "start" });
    await src.runOnce();
    const waits = h.take().filter((e) => e.event_type === "storage.qdepth").map((e) => `${e.entity_id} pid=${e.pid} ${e.value}`);
    assert.deepEqual(waits, [
      "nvme0n1 pid=5000 IO_WAIT D for 0s via loop0 (/images/ubuntu-22.04.sif) → nvme0n1p2",
      "dm-0 pid=5001 IO_WAIT D for 0s via loop1 (/data/datasets/imagenet.sqsh) → dm-0",
    ]);
    const why = whyView(h.exporter.graph, 5000)!;
    assert.deepEqual(why.waits_on.map((w) => w.resource), ["nvme0n1"]);
    assert.match(JSON.stringify(why.waits_on[0]), /via loop0 \(\/images\/ubuntu-22\.04\.sif\) → nvme0n1p2/);
  });

  it("says the way down after a stuck child's wait too, and ends the wait on the same device", () => {
    const t = new ProcTracker(30_000);
    const graph = new Map([[4242, { pid: 4242, jobId: "7001", state: "running" }]]);
    const via = "loop1 (/data/datasets/imagenet.sqsh) → dm-0";
    const stuck = { what: "child 5555", since: 0, device: "dm-0", via };
    const values = (obs: Parameters<ProcTracker["round"]>[0], now: number) => t.round(obs, graph, now, true).map((e) => `${e.entity_id} ${e.value}`);
    assert.deepEqual(values([{ pid: 4242, stat: "S", stuckTask: stuck }], 30_000), [`dm-0 IO_WAIT D for 30s (child 5555) via ${via}`]);
    assert.deepEqual(values([{ pid: 4242, stat: "S", treeClear: true }], 45_000), ["dm-0 D ended after 45s (child 5555)"]);
  });
});
