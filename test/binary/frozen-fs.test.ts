// builtin:procfs in the compiled binary, on a real storage wait of this kernel: a process writes
// to an ext4 file system (on a loop device whose image lies on a tmpfs: no disk under it, so the
// loop device is what it waits on) that fsfreeze has frozen, and sits in D in write(2) on that
// file. It also holds a file open on another disk (as a job holds its log), so the disk cannot
// be told by elimination, and the frozen one has no I/O in flight to be told by: only the call
// it is blocked in (<procfs>/<pid>/syscall: write on that fd) names the loop device. Needs root
// (mount, fsfreeze), mkfs.ext4 and python3; skipped without them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startExporter } from "../_helpers.ts";
import { fileOnDisk } from "../sources/_stuck-tree-kit.ts";
import { frozenSkip, mountImage, openWriter, startJob, thaw, unmount, writeFrozen } from "./_frozen.ts";

const DISK = fileOnDisk();
const SKIP = frozenSkip() || (DISK === null && "no file on a block device here");

describe("a process blocked writing to a frozen file system, through the binary", { skip: SKIP }, () => {
  it("waits on the loop device of the file it writes, not on the disk of its other file", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-frozen-"));
    const shm = join(dir, "shm");
    const img = join(shm, "fs.img");
    const mnt = join(dir, "mnt");
    mkdirSync(mnt);
    mkdirSync(shm);
    let shmMounted = false;
    let mounted = false;
    let frozen = false;
    const ex = await startExporter(["--probe", "builtin:procfs?interval=300ms&dwait=600ms", "--collectors", "none", "--path.procfs", "/proc", "--path.sysfs", "/sys"]);
    let writer: ChildProcess | undefined;
    try {
      assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=40M", "tmpfs", shm]).status, 0, "mount -t tmpfs");
      shmMounted = true;
      const loop = mountImage(img, mnt);
      mounted = true;
      // The writer opens its file once the file system is there.
      writer = await openWriter(join(mnt, "data"), DISK!.file);
      frozen = true;
      await writeFrozen(writer, mnt);
      const pid = writer.pid!;
      await startJob(ex.url, pid, "job-frozen");
      const row = await eventually(async () => {
        const rows = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; state: string; waits_on: string[] }[];
        const r = rows.find((p) => p.pid === pid);
        return r?.state === "D" && r.waits_on.length > 0 ? r : undefined;
      }, 10_000, "the writer in D, waiting on a device");
      assert.deepEqual(row.waits_on, [loop], `not ${DISK!.disk}, the disk of its other file`);
      // Its image is on tmpfs: nothing below the loop device, and the reading says so.
      const why = (await (await fetch(`${ex.url}/api/v1/why/${pid}`)).json()) as { waits_on: { meta: Record<string, string> }[] };
      assert.equal(why.waits_on[0].meta.qdepth?.replace(/^IO_WAIT D for \d+s /, ""), `via ${loop} (${img} on tmpfs)`);
    } finally {
      await thaw(writer, frozen ? mnt : null);
      await ex.stop();
      if (mounted) await unmount(mnt);
      // The loop device lets go of its image once unmounted (autoclear), and the tmpfs is free.
      if (shmMounted) await unmount(shm);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
