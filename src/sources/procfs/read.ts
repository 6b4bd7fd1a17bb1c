// What builtin:procfs reads under --path.procfs and --path.sysfs, one pid at a time. Every
// read is async and bounded (fds per pid), and a refusal for lack of privilege is reported to
// `denied` instead of being taken for a vanished process.
import { close, open, read } from "node:fs";
import { readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseDiskstats } from "../diskstats/parse.ts";
import { isDenied, isGone, readText } from "../poller.ts";
import type { HostPaths } from "../source.ts";
import { readBlockDev, type BlockDev } from "./block.ts";
import { isLoop, LoopBacking } from "./loop.ts";
import { jobFromCgroup, mountOf, NFS_TYPES, nfsServer, parseMountinfo, slurmJobFromEnviron, statStart, statState, syscallFd, wchanNotStorage, type Mount } from "./parse.ts";

/** What reading a pid's `stat` found: its state letter, or that it is gone, or unreadable. */
export type StatRead = string | "gone" | "denied" | "malformed";

export interface Job {
  jobId: string;
  /** Where it came from: `SLURM_JOB_ID`, `slurm-cgroup`, `pod-cgroup`. */
  from: string;
}

/** What a process waits on, and the way down to it through loop devices ("" when direct). */
export interface WaitOn {
  device: string;
  via: string;
}

/** Fds looked at per process when finding what it waits on. */
export const MAX_FDS = 512;

export class ProcReader {
  /** `maj:min` to device and disk, read once per round (devices come and go with hot-plug). */
  private _blocks = new Map<string, Promise<BlockDev | null>>();
  private _inFlight: Map<string, number> | null = null;
  private readonly _loops: LoopBacking;

  constructor(
    readonly host: HostPaths,
    private readonly _denied: (kind: string, path: string) => void,
  ) {
    this._loops = new LoopBacking(host, (dev) => this._block(dev));
  }

  /** Forgets what was cached for the last round. */
  newRound(): void {
    this._blocks = new Map();
    this._inFlight = null;
    this._loops.newRound();
  }

  /**
   * Whether a missing `<procfs>/<pid>` means the process exited: the tree is a procfs (`stat` is
   * there) and pid 1 is visible (with `hidepid=` other users' pids vanish from view while they run).
   */
  async canSeeExits(): Promise<string | null> {
    try {
      await stat(join(this.host.procfs, "stat"));
    } catch {
      return `${join(this.host.procfs, "stat")} is missing: not a procfs`;
    }
    try {
      await stat(join(this.host.procfs, "1"));
    } catch {
      return `pid 1 is not visible under ${this.host.procfs} (mounted with hidepid=?)`;
    }
    // In the host's pid namespace pid 2 is kthreadd (parent 0). A container's own namespace has
    // a pid 1 too, but none of the host's pids: every probe-reported pid would read as exited.
    let kthreadd = false;
    try {
      const text = await readText(join(this.host.procfs, "2", "stat"), 4096);
      kthreadd = /^2 \(kthreadd\) \S 0 /.test(text);
    } catch (e) {
      if (isDenied(e)) return null; // cannot tell: hidepid=invisible handled above
    }
    if (!kthreadd) {
      return `${this.host.procfs} is not the host's pid namespace (pid 2 is not kthreadd): run with the host's pids (hostPID) and its /proc as --path.procfs`;
    }
    return null;
  }

  async state(pid: number): Promise<StatRead> {
    return (await this.stat(pid)).read;
  }

  /** The state letter (or why there is none) and the start time, from one read of `stat`. */
  async stat(pid: number): Promise<{ read: StatRead; start: number | null }> {
    const path = join(this.host.procfs, String(pid), "stat");
    try {
      const text = await readSmall(path);
      return { read: statState(text) ?? "malformed", start: statStart(text) };
    } catch (e) {
      if (isGone(e)) return { read: "gone", start: null };
      if (isDenied(e)) {
        this._denied("stat", path);
        return { read: "denied", start: null };
      }
      return { read: "malformed", start: null };
    }
  }

  /** The job a process belongs to: `SLURM_JOB_ID` in its environment, else its cgroup. */
  async job(pid: number): Promise<Job | null> {
    const dir = join(this.host.procfs, String(pid));
    try {
      const id = slurmJobFromEnviron(await readText(join(dir, "environ"), 1 << 20, "latin1"));
      if (id !== null) return { jobId: id, from: "SLURM_JOB_ID" };
    } catch (e) {
      if (isDenied(e)) this._denied("environ", join(dir, "environ"));
    }
    try {
      const id = jobFromCgroup(await readText(join(dir, "cgroup"), 64 * 1024));
      if (id !== null) return { jobId: id, from: id.startsWith("pod-") ? "pod-cgroup" : "slurm-cgroup" };
    } catch (e) {
      if (isDenied(e)) this._denied("cgroup", join(dir, "cgroup"));
    }
    return null;
  }

  /**
   * The device a process in uninterruptible sleep waits on, when that can be known: the disks
   * (partition → disk; a loop device → the device that holds its backing file, loop.ts) and NFS
   * servers (`nfs-<server>`) behind its open files, narrowed by its
   * `wchan` (an NFS/RPC wait) and, among several disks, by which have I/O in flight. Null when
   * none or still more than one remain: better no answer than the wrong device. `taskDir`: the
   * thread whose `wchan` to read (a thread of the process in `D`); default the process's own.
   * The files themselves are never stat()ed (their st_dev would say the same): on a hung NFS
   * mount that call hangs a thread of the fs pool for good, while readlink of the fd and
   * mountinfo never touch the file system in question.
   */
  async waitDevice(pid: number, taskDir?: string): Promise<WaitOn | null> {
    const dir = join(this.host.procfs, String(pid));
    let mounts: Mount[];
    let fds: string[];
    try {
      mounts = parseMountinfo(await readText(join(dir, "mountinfo"), 4 << 20));
      fds = await readdir(join(dir, "fd"));
    } catch (e) {
      if (isDenied(e)) this._denied("fd", join(dir, "fd"));
      return null;
    }
    const devices = new Set<Mount>();
    const byFd = new Map<string, Mount>();
    for (const fd of fds.slice(0, MAX_FDS)) {
      let target: string;
      try {
        target = await readlink(join(dir, "fd", fd));
      } catch (e) {
        if (isDenied(e)) {
          this._denied("fd", join(dir, "fd"));
          return null;
        }
        continue;
      }
      // Sockets, pipes, anonymous inodes and device nodes are no storage to wait on.
      if (!target.startsWith("/") || /^\/(dev|proc|sys)(\/|$)/.test(target)) continue;
      const m = mountOf(target.replace(/ \(deleted\)$/, ""), mounts);
      if (m !== null) {
        devices.add(m);
        byFd.set(fd, m);
      }
    }
    const nfs = new Set<string>();
    const disks = new Set<string>();
    const named = new Map<Mount, WaitOn>();
    // The way down to each device through loop devices; "" once it is also reached another way.
    const via = new Map<string, string>();
    const reach = (device: string, how: string) => via.set(device, via.has(device) && via.get(device) !== how ? "" : how);
    for (const m of devices) {
      if (NFS_TYPES.has(m.fsType)) {
        const server = nfsServer(m.source);
        if (server === null) continue;
        nfs.add("nfs-" + server);
        named.set(m, { device: "nfs-" + server, via: "" });
        reach("nfs-" + server, "");
      } else if (!m.dev.startsWith("0:")) {
        const b = await this._block(m.dev);
        if (b === null) continue;
        const below = isLoop(b.disk) ? await this._loops.below(b.disk) : { device: b.disk, nfs: false, via: "" };
        (below.nfs ? nfs : disks).add(below.device);
        named.set(m, { device: below.device, via: below.via });
        reach(below.device, below.via);
      }
    }
    const on = (device: string): WaitOn => ({ device, via: via.get(device) ?? "" });
    if (nfs.size + disks.size === 0) return null;
    const wchan = await this._wchan(taskDir ?? dir);
    // Asleep somewhere that is no storage (a vfork() parent; the GPU, NPU or RDMA driver: a GPU
    // fallen off the bus holds its processes there): not on the disk its log file lies on.
    if (wchanNotStorage(wchan)) return null;
    // Blocked in a read, write or sync of one of its files: that file's device, ahead of any
    // guess (a write to a frozen file system has no I/O in flight, while the disk of its log is busy).
    const fd = syscallFd(await this._small(join(taskDir ?? dir, "syscall")), process.arch);
    const mount = fd === null ? undefined : byFd.get(String(fd));
    const own = mount === undefined ? undefined : named.get(mount);
    if (own !== undefined) return own;
    if (/nfs|rpc/.test(wchan)) return nfs.size === 1 ? on([...nfs][0]) : null;
    if (nfs.size + disks.size === 1) return on([...nfs, ...disks][0]);
    if (nfs.size > 0) return null;
    if (this._inFlight === null) await this._readInFlight();
    const busy = [...disks].filter((d) => (this._inFlight?.get(d) ?? 0) > 0);
    return busy.length === 1 ? on(busy[0]) : null;
  }

  private async _wchan(dir: string): Promise<string> {
    return this._small(join(dir, "wchan"));
  }

  /** A short file's text, or "" when it cannot be read (`syscall` needs the privilege to trace the task). */
  private async _small(path: string): Promise<string> {
    try {
      return await readText(path, 256);
    } catch {
      return "";
    }
  }

  /** `<sysfs>/dev/block/<maj:min>` → the device and its disk (block.ts), once a round. */
  private _block(dev: string): Promise<BlockDev | null> {
    let known = this._blocks.get(dev);
    if (known === undefined) this._blocks.set(dev, (known = readBlockDev(this.host.sysfs, dev)));
    return known;
  }

  private async _readInFlight(): Promise<void> {
    this._inFlight = new Map();
    try {
      for (const d of parseDiskstats(await readText(join(this.host.procfs, "diskstats")))) this._inFlight.set(d.name, d.inFlight);
    } catch {
      // No diskstats: several candidate disks stay undecided.
    }
  }
}

const _FIRST = 4096;

/**
 * The text of a small procfs file (`stat`, `status`, `children`): open, one read, close. procfs
 * fills the buffer as far as the text goes (seq_file keeps each record whole), so a short read
 * is the end and the read that would return 0 is skipped (one call in four); a read that
 * (nearly) fills the buffer reads on, up to 64 KiB. Fails with the fs error, as readText does.
 */
export function readSmall(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err) return reject(err);
      const buf = Buffer.allocUnsafe(_FIRST);
      read(fd, buf, 0, _FIRST, 0, (e, n) => {
        close(fd, () => {});
        if (e) return reject(e);
        if (n < _FIRST - 256) return resolve(buf.toString("utf8", 0, n));
        resolve(readText(path, 64 * 1024));
      });
    });
  });
}
