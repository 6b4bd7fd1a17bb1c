// Real process trees on this machine's /proc with one task stuck in D (vfork's wait), from
// test/fixtures/proc-tree/stuck_tree.py: for the procfs collector's tests in process and through
// the binary.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { mountOf, parseMountinfo, statState } from "../../src/sources/procfs/parse.ts";
import { ROOT } from "../_helpers.ts";

/** A file on a block device this machine's processes can open, and that disk's name; null when there is none. */
export function fileOnDisk(): { file: string; disk: string } | null {
  const mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
  for (const file of [join(ROOT, "test/fixtures/proc-tree/stuck_tree.py"), "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]) {
    const m = existsSync(file) ? mountOf(file, mounts) : null;
    if (m === null || m.dev.startsWith("0:")) continue;
    const link = `/sys/dev/block/${m.dev}`;
    if (!existsSync(link)) continue;
    const target = readlinkSync(link);
    return { file, disk: basename(existsSync(join(link, "partition")) ? dirname(target) : target) };
  }
  return null;
}

export interface StuckTree {
  root: number;
  /** The process and thread in D, once it says so. */
  stuck: Promise<{ pid: number; tid: number }>;
  /** Resolves once every process of the tree has exited; kills what is left after `ms`. */
  done(ms: number): Promise<void>;
}

/** Starts test/fixtures/proc-tree/stuck_tree.py with `steps`. */
export function stuckTree(fifo: string, file: string, steps: string[]): StuckTree {
  const child = spawn("python3", [join(ROOT, "test/fixtures/proc-tree/stuck_tree.py"), fifo, file, ...steps], { stdio: ["ignore", "pipe", "inherit"] });
  const pids = new Set<number>([child.pid!]);
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stuck = new Promise<{ pid: number; tid: number }>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      for (const line of out.split("\n").slice(0, -1)) {
        const m = JSON.parse(line) as { pid: number; tid?: number; stuck?: boolean };
        pids.add(m.pid);
        if (m.stuck) resolve({ pid: m.pid, tid: m.tid! });
      }
    });
    void exited.then(() => reject(new Error(`stuck_tree.py ${steps.join(" ")} exited early: ${out}`)));
  });
  stuck.catch(() => {});
  return {
    root: child.pid!,
    stuck,
    async done(ms) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
      const killed = await Promise.race([exited.then(() => false), late]);
      clearTimeout(timer);
      // What did not exit in time is stopped, each by the pid it printed.
      if (killed) for (const pid of pids) spawnSync("kill", ["-9", String(pid)]);
      for (const pid of pids) for (let i = 0; i < 100 && _alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
      if (killed) throw new Error(`stuck_tree.py ${steps.join(" ")} did not exit within ${ms} ms once the FIFO opened`);
    },
  };
}

/** Waits (up to 10 s) until each task is in D. */
export async function waitForD(tasks: { pid: number; tid: number }[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const states = tasks.map((t) => {
      try {
        return statState(readFileSync(`/proc/${t.pid}/task/${t.tid}/stat`, "utf8"));
      } catch {
        return null;
      }
    });
    if (states.every((s) => s === "D")) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not all in D: ${JSON.stringify(tasks)}`);
}

/** Whether `pid` still runs (not gone, not a zombie). */
function _alive(pid: number): boolean {
  try {
    return statState(readFileSync(`/proc/${pid}/stat`, "utf8")) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Lets every tree go and cleans up: opening the FIFO read-write never blocks, so every open
 * waiting on it goes on and each tree exits bottom up; then `dir` is removed.
 */
export async function releaseTrees(fifo: string, trees: readonly StuckTree[], dir: string): Promise<void> {
  const fd = openSync(fifo, "r+");
  try {
    await Promise.all(trees.map((t) => t.done(10_000)));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
