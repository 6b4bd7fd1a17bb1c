// builtin:procfs in the compiled binary, on a real storage wait of this kernel: a process writes
// to an ext4 file system (on a loop device whose image lies on a tmpfs: no disk under it, so the
// loop device is what it waits on) that fsfreeze has frozen, and sits in D in write(2) on that
// file. It also holds a file open on another disk (as a job holds its log), so the disk cannot
// be told by elimination, and the frozen one has no I/O in flight to be told by: only the call
// it is blocked in (<procfs>/<pid>/syscall: write on that fd) names the loop device. Needs root
// (mount, fsfreeze), mkfs.ext4 and python3; skipped without them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { eventually, startExporter } from "../_helpers.ts";
import { fileOnDisk } from "../sources/_stuck-tree-kit.ts";

const BINARY = process.env.XCTL_BINARY;
const _has = (cmd: string, arg = "--version") => !spawnSync(cmd, [arg]).error;
const DISK = fileOnDisk();
const SKIP = !BINARY
  ? "XCTL_BINARY not set (scripts/test.sh sets it)"
  : process.getuid?.() !== 0
    ? "needs root to mount and freeze a file system"
    : !_has("mkfs.ext4", "-V") || !_has("fsfreeze") || !_has("findmnt") || !_has("python3")
      ? "needs mkfs.ext4, fsfreeze, findmnt and python3"
      : DISK === null
        ? "no file on a block device here"
        : false;

// Opens FILE on the frozen-to-be file system and OTHER on another disk, says "ready", then on a
// line from stdin writes to FILE and syncs it (blocking while the file system is frozen).
const WRITER = `
import os, sys
f = open(sys.argv[1], "w")
other = open(sys.argv[2], "rb")
print("ready", flush=True)
sys.stdin.readline()
f.write("x" * 4096)
f.flush()
os.fsync(f.fileno())
`;

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
      assert.equal(spawnSync("truncate", ["-s", "32M", img]).status, 0);
      assert.equal(spawnSync("mkfs.ext4", ["-q", "-F", img]).status, 0);
      assert.equal(spawnSync("mount", ["-o", "loop", img, mnt]).status, 0, "mount -o loop");
      mounted = true;
      const loop = basename(spawnSync("findmnt", ["-no", "SOURCE", mnt], { encoding: "utf8" }).stdout.trim());
      assert.match(loop, /^loop\d+$/);
      // The writer opens its file once the file system is there.
      writer = spawn("python3", ["-c", WRITER, join(mnt, "data"), DISK!.file], { stdio: ["pipe", "pipe", "inherit"] });
      let out = "";
      writer.stdout!.on("data", (d) => (out += d));
      await eventually(() => out.includes("ready"), 10_000, "the writer ready");
      assert.equal(spawnSync("fsfreeze", ["-f", mnt]).status, 0);
      frozen = true;
      writer.stdin!.write("go\n");
      await eventually(() => spawnSync("grep", ["-q", "^State:.D", `/proc/${writer!.pid}/status`]).status === 0, 10_000, "the writer in D");
      const pid = writer.pid!;
      const res = await fetch(`${ex.url}/api/v1/events`, {
        method: "POST",
        body: JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: "job-frozen", value: "start" }),
      });
      assert.equal(((await res.json()) as { accepted: number }).accepted, 1);
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
      if (frozen) spawnSync("fsfreeze", ["-u", mnt]);
      // The writer's file keeps the file system busy until the writer is gone, not merely signalled:
      // unmounting at once failed now and then (EBUSY), and left the mount behind.
      if (writer !== undefined && writer.exitCode === null && writer.signalCode === null) {
        const gone = new Promise((r) => writer!.once("exit", r));
        writer.kill("SIGKILL");
        await gone;
      }
      await ex.stop();
      if (mounted) await eventually(() => spawnSync("umount", [mnt]).status === 0, 10_000, `umount ${mnt}`);
      // The loop device lets go of its image once unmounted (autoclear), and the tmpfs is free.
      if (shmMounted) await eventually(() => spawnSync("umount", [shm]).status === 0, 10_000, `umount ${shm}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
