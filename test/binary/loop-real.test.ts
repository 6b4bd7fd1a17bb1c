// builtin:procfs in the compiled binary on real loop devices of this kernel, stacked: an ext4
// image (outer.img) on this machine's disk is mounted through one loop device, and a second
// ext4 image inside it (inner.img) through another, as an image inside a container's image. A
// process writes to a file of the inner image that fsfreeze has frozen and sits in D in
// write(2): it must wait on the disk under both images, with the way down in its reading, and
// an I/O error the kernel reports on that disk (builtin:kmsg?path=FILE) must reach it. Needs
// root (losetup, mount, fsfreeze), mkfs.ext4, python3, a block device under the images' folder
// and pid 1 in this mount namespace (the backing files are looked up in pid 1's mount table).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { eventually, startExporter } from "../_helpers.ts";
import { mountOf, parseMountinfo } from "../../src/sources/procfs/parse.ts";
import { frozenSkip, mountImage, openWriter, startJob, thaw, unmount, writeFrozen } from "./_frozen.ts";

// The line of the root mount (its id is unique across namespaces): pid 1 sees the mounts this
// test makes when it has the same one (its ns/mnt link may not be readable).
const _root = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").find((l) => l.split(" ")[4] === "/") ?? null;
  } catch {
    return null;
  }
};

/** The disk (and the device, a partition or the disk) under `dir`, or null when its file system has no block device. */
function diskUnder(dir: string): { disk: string; dev: string } | null {
  const m = mountOf(dir, parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8")));
  const link = `/sys/dev/block/${m?.dev}`;
  if (m === null || m.dev.startsWith("0:") || !existsSync(link)) return null;
  const target = readlinkSync(link);
  return { dev: basename(target), disk: basename(existsSync(join(link, "partition")) ? dirname(target) : target) };
}

const UNDER = diskUnder(tmpdir());
const SKIP =
  frozenSkip() ||
  (UNDER === null || /^loop\d+$/.test(UNDER.disk)
    ? `${tmpdir()} is on no disk here`
    : _root("1") === null || _root("1") !== _root("self")
      ? "pid 1 is in another mount namespace"
      : false);

describe("a process blocked on an image inside an image, through the binary", { skip: SKIP }, () => {
  it("waits on the disk under both loop devices, and that disk's I/O error reaches it", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-loop-"));
    const outer = join(dir, "outer");
    const inner = join(dir, "inner");
    const kmsg = join(dir, "kmsg");
    mkdirSync(outer);
    mkdirSync(inner);
    writeFileSync(kmsg, "");
    const mounted: string[] = [];
    let frozen = false;
    let writer: ChildProcess | undefined;
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]);
    const ex = await startExporter(["--probe", "builtin:procfs?interval=300ms&dwait=600ms", "--probe", `builtin:kmsg?path=${kmsg}`, "--collectors", "none", "--path.procfs", "/proc", "--path.sysfs", "/sys"]);
    const mount = (img: string, at: string) => {
      const loop = mountImage(img, at);
      mounted.unshift(at);
      return loop;
    };
    try {
      const loopOuter = mount(join(dir, "outer.img"), outer);
      const loopInner = mount(join(outer, "inner.img"), inner);
      writer = await openWriter(join(inner, "data"));
      frozen = true;
      await writeFrozen(writer, inner);
      const pid = writer.pid!;
      await startJob(ex.url, pid, "job-nested");
      type Why = { waits_on: { resource: string; meta: Record<string, string> }[]; root_causes: { entity: string }[]; scenes: { scene: string }[] };
      const why = async () => (await (await fetch(`${ex.url}/api/v1/why/${pid}`)).json()) as Why;
      const w = await eventually(async () => {
        const x = await why();
        return x.waits_on.length > 0 ? x : undefined;
      }, 10_000, "the writer waiting on a device");
      assert.deepEqual(w.waits_on.map((r) => r.resource), [UNDER!.disk], `not ${loopInner}`);
      assert.equal(w.waits_on[0].meta.qdepth?.replace(/^IO_WAIT D for \d+s /, ""), `via ${loopInner} (${join(outer, "inner.img")}) → ${loopOuter} (${join(dir, "outer.img")}) → ${UNDER!.dev}`);

      // The kernel reports an I/O error on that disk: the job blocked on it has its root cause.
      appendFileSync(kmsg, `3,1,${(Date.now() - btime * 1000) * 1000},-;blk_update_request: I/O error, dev ${UNDER!.disk}, sector 8 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n`);
      const hit = await eventually(async () => {
        const x = await why();
        return x.root_causes.length > 0 && x.scenes.some((s) => s.scene === "storage_io_error") ? x : undefined;
      }, 10_000, "the disk's error reaching the writer");
      assert.deepEqual(hit.root_causes.map((c) => c.entity), [UNDER!.disk]);
    } finally {
      await thaw(writer, frozen ? inner : null);
      await ex.stop();
      for (const at of mounted) await unmount(at);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
