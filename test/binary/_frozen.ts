// Kit of the tests that put a real process in D on a real file system of this kernel: an ext4
// image mounted through a loop device, frozen with fsfreeze while a writer sits in write(2) and
// fsync(2) on it (frozen-fs.test.ts, loop-real.test.ts). Needs root, mkfs.ext4, fsfreeze,
// findmnt and python3; `frozenSkip` says which is missing.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { basename } from "node:path";
import { eventually } from "../_helpers.ts";

const _has = (cmd: string, arg = "--version") => !spawnSync(cmd, [arg]).error;

/** Why these tests cannot run here (no binary, not root, a tool missing), or false. */
export function frozenSkip(): string | false {
  if (!process.env.XCTL_BINARY) return "XCTL_BINARY not set (scripts/test.sh sets it)";
  if (process.getuid?.() !== 0) return "needs root to bind loop devices, mount and freeze";
  if (!_has("mkfs.ext4", "-V") || !_has("fsfreeze") || !_has("findmnt") || !_has("python3")) return "needs mkfs.ext4, fsfreeze, findmnt and python3";
  return false;
}

/** A 32 MB ext4 image made at `img` and mounted at `at` through a loop device; its name (`loop3`). */
export function mountImage(img: string, at: string): string {
  assert.equal(spawnSync("truncate", ["-s", "32M", img]).status, 0);
  assert.equal(spawnSync("mkfs.ext4", ["-q", "-F", img]).status, 0);
  assert.equal(spawnSync("mount", ["-o", "loop", img, at]).status, 0, `mount -o loop ${img}`);
  const loop = basename(spawnSync("findmnt", ["-no", "SOURCE", at], { encoding: "utf8" }).stdout.trim());
  assert.match(loop, /^loop\d+$/);
  return loop;
}

// Opens FILE (and each OTHER, read-only: as a job holds its log), says "ready", then on a line
// from stdin writes to FILE and syncs it (blocking while its file system is frozen).
const _WRITER = `
import os, sys
f = open(sys.argv[1], "w")
others = [open(p, "rb") for p in sys.argv[2:]]
print("ready", flush=True)
sys.stdin.readline()
f.write("x" * 4096)
f.flush()
os.fsync(f.fileno())
`;

/** A writer with `file` open (and `others`), ready to write once its file system is frozen. */
export async function openWriter(file: string, ...others: string[]): Promise<ChildProcess> {
  const writer = spawn("python3", ["-c", _WRITER, file, ...others], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  writer.stdout!.on("data", (d) => (out += d));
  await eventually(() => out.includes("ready"), 10_000, "the writer ready");
  return writer;
}

/** Freezes the file system at `mnt` and has `writer` write to it: it is in D when this returns. */
export async function writeFrozen(writer: ChildProcess, mnt: string): Promise<void> {
  assert.equal(spawnSync("fsfreeze", ["-f", mnt]).status, 0);
  writer.stdin!.write("go\n");
  await eventually(() => spawnSync("grep", ["-q", "^State:.D", `/proc/${writer.pid}/status`]).status === 0, 10_000, "the writer in D");
}

/** Thaws `mnt` (when frozen) and ends `writer`, waiting until it is gone: its open file keeps the file system busy until then (umount: EBUSY). */
export async function thaw(writer: ChildProcess | undefined, mnt: string | null): Promise<void> {
  if (mnt !== null) spawnSync("fsfreeze", ["-u", mnt]);
  if (writer !== undefined && writer.exitCode === null && writer.signalCode === null) {
    const gone = new Promise((r) => writer.once("exit", r));
    writer.kill("SIGKILL");
    await gone;
  }
}

/** Unmounts `at`, retrying while it is busy. */
export function unmount(at: string): Promise<unknown> {
  return eventually(() => spawnSync("umount", [at]).status === 0, 10_000, `umount ${at}`);
}

/** Tells the exporter at `url` that `pid` is a process of `job` (it is then in the graph for builtin:procfs to read). */
export async function startJob(url: string, pid: number, job: string): Promise<void> {
  const res = await fetch(`${url}/api/v1/events`, {
    method: "POST",
    body: JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: job, value: "start" }),
  });
  assert.equal(((await res.json()) as { accepted: number }).accepted, 1);
}
