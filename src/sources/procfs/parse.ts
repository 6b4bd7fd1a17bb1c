// The /proc/<pid> files builtin:procfs reads, parsed from their text (proc(5)).

/**
 * `/proc/<pid>/stat`: `pid (comm) S ppid ...`. The command name may hold spaces and
 * parentheses, so the state is the first field after the last ")". Null when malformed.
 */
export function statState(text: string): string | null {
  const close = text.lastIndexOf(")");
  if (close === -1) return null;
  const m = /^ ([A-Za-z]) /.exec(text.slice(close + 1, close + 4));
  return m === null ? null : m[1];
}

/** The parent's pid in `/proc/<pid>/stat` (field 4; the process, not the thread, that made it). Null when malformed. */
export function statPpid(text: string): number | null {
  const close = text.lastIndexOf(")");
  if (close === -1) return null;
  const m = /^ [A-Za-z] (\d{1,10}) /.exec(text.slice(close + 1, close + 16));
  return m === null ? null : Number(m[1]);
}

/**
 * The start time in `/proc/<pid>/stat` (field 22: clock ticks after boot): with the pid, it tells
 * one process from a later one that took the same pid. Null when malformed.
 */
export function statStart(text: string): number | null {
  const close = text.lastIndexOf(")");
  if (close === -1) return null;
  const f = text.slice(close + 2).split(" ", 21);
  const v = f.length === 21 ? f[19] : "";
  return /^\d{1,19}$/.test(v) ? Number(v) : null;
}

/** The kernel's flags for the task in `/proc/<pid>/stat` (field 9: PF_*). Null when malformed. */
export function statFlags(text: string): number | null {
  const close = text.lastIndexOf(")");
  if (close === -1) return null;
  const v = text.slice(close + 2).split(" ", 7)[6] ?? "";
  return /^\d{1,10}$/.test(v) ? Number(v) : null;
}

/**
 * Context switches so far (voluntary and not) from `/proc/<pid>/status`: a task that has not
 * switched between two looks has not run at all, and in `D` it is stuck, not busy. Null when absent.
 */
export function statusSwitches(text: string): number | null {
  const v = /^voluntary_ctxt_switches:\s*(\d+)$/m.exec(text);
  const n = /^nonvoluntary_ctxt_switches:\s*(\d+)$/m.exec(text);
  return v === null || n === null ? null : Number(v[1]) + Number(n[1]);
}

/** The pids in `/proc/<pid>/task/<tid>/children` (space-separated). */
export function childPids(text: string): number[] {
  const out: number[] = [];
  for (const w of text.split(/\s+/)) if (/^\d{1,10}$/.test(w)) out.push(Number(w));
  return out;
}

/** `SLURM_JOB_ID` from `/proc/<pid>/environ` (NUL-separated `NAME=value`), or null. */
export function slurmJobFromEnviron(text: string): string | null {
  for (const entry of text.split("\0")) {
    if (entry.startsWith("SLURM_JOB_ID=")) {
      const v = entry.slice("SLURM_JOB_ID=".length).trim();
      if (/^[0-9A-Za-z_.-]{1,64}$/.test(v)) return v;
    }
  }
  return null;
}

const _SLURM_CGROUP = /\/job_(\d+)(?:\/|$)/;
// A pod's cgroup: cgroup v1 `/kubepods/burstable/pod<uid>/<ctr>`, v2 with the systemd driver
// `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/...`.
const _POD_CGROUP = /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/|$)/;

/**
 * A job id from `/proc/<pid>/cgroup` (`hierarchy:controllers:path` lines): Slurm's cgroup
 * (`.../job_<id>/step_...`) gives the job id itself; a Kubernetes pod gives `pod-<uid>` (the
 * pod UID with dashes, as `kubectl get pod -o jsonpath='{.metadata.uid}'` prints it). Null when
 * neither is there.
 */
export function jobFromCgroup(text: string): string | null {
  let pod: string | null = null;
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = a === -1 ? -1 : line.indexOf(":", a + 1);
    if (b === -1) continue;
    const path = line.slice(b + 1);
    const slurm = _SLURM_CGROUP.exec(path);
    if (slurm !== null && /slurm/.test(path)) return slurm[1];
    const p = _POD_CGROUP.exec(path);
    if (p !== null) pod ??= "pod-" + p[1].replaceAll("_", "-");
  }
  return pod;
}

export interface Mount {
  /** `major:minor` of the file system's device (`0:NN` for those with none). */
  dev: string;
  /** Where it is mounted, as the process sees it. */
  mountPoint: string;
  fsType: string;
  /** The mount source: `/dev/nvme0n1p1`, `fileserver:/export`. */
  source: string;
}

/**
 * `/proc/<pid>/mountinfo` lines: `id parent maj:min root mountpoint options [optional...] -
 * fstype source superoptions`, paths with space, tab, newline and backslash octal-escaped.
 */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (f.length < 10 || sep === -1 || sep + 2 >= f.length || !/^\d+:\d+$/.test(f[2])) continue;
    out.push({ dev: f[2], mountPoint: _unescape(f[4]), fsType: f[sep + 1], source: _unescape(f[sep + 2]) });
  }
  return out;
}

function _unescape(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))) : s;
}

/** The mount a path lies on: the longest mount point that is a prefix of it, the last mounted on a tie. */
export function mountOf(path: string, mounts: readonly Mount[]): Mount | null {
  let best: Mount | null = null;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const under = path === mp || mp === "/" || (path.startsWith(mp) && path.charCodeAt(mp.length) === 47);
    if (under && (best === null || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** The server of an NFS mount source (`host:/export`, `[fe80::1]:/export`), or null. */
export function nfsServer(source: string): string | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:/\s]+):/.exec(source);
  return m === null ? null : m[1].replace(/^\[|\]$/g, "");
}

export const NFS_TYPES = new Set(["nfs", "nfs4"]);

/**
 * Whether a task's `wchan` (the kernel function it sleeps in) names a wait on something that is
 * no storage, though the task is in `D`: a parent blocked in vfork() until its child execs
 * (`kernel_clone`), or the GPU, NPU or RDMA driver (nvidia.ko, nvidia-uvm and their OS layer:
 * `nvidia*`, `nv_*`, `_nvNNNNNNrm`, `uvm_*`, `os_*`, `rm_*`; Ascend's `devdrv_*`, `hdcdrv_*`,
 * `tsdrv_*`; `ib_*`, `rdma_*`, `mlx5_*`, DRM). A GPU fallen off the bus holds its processes in
 * its driver.
 * A process there is not waiting on the disk behind its open files. A wchan that says nothing
 * (`0` without the privilege to read it, `schedule_timeout`, a lock) is no proof either way.
 */
export function wchanNotStorage(wchan: string): boolean {
  return _NOT_STORAGE.test(wchan.trim());
}

const _NOT_STORAGE =
  /^(kernel_clone|wait_for_vfork_done|_do_fork|do_fork|nvidia\w*|nv_\w*|_nv\d\w*|uvm_\w*|os_\w*|rm_\w*|nvkms_\w*|devdrv_\w*|hdcdrv_\w*|tsdrv_\w*|ib_\w*|rdma_\w*|mlx[45]_\w*|irdma_\w*|bnxt_re_\w*|efa_\w*|drm_\w*|amdgpu_\w*)$/;

/**
 * The file descriptor a task is blocked on, from its `syscall` file (`NR arg1 ... arg6 SP PC`,
 * arguments in hex; `running`, or `-1 SP PC` outside a system call): the first argument of a
 * system call that reads, writes or syncs a file (`read`, `write`, `pread64`, `fsync`, ...). Null
 * for any other call (an `ioctl` names a device, `futex` no file), and on an architecture
 * without a table. `arch` is `process.arch`: the numbers differ between x86-64 and arm64.
 */
export function syscallFd(text: string, arch: string): number | null {
  const f = text.trim().split(" ");
  const calls = _FD_CALLS[arch];
  if (calls === undefined || f.length < 2 || !/^\d{1,4}$/.test(f[0]) || !calls.has(Number(f[0]))) return null;
  if (!/^0x[0-9a-f]{1,16}$/.test(f[1])) return null;
  const fd = Number.parseInt(f[1], 16);
  return fd <= 0x7fffffff ? fd : null;
}

// read, write, pread64, pwrite64, readv, writev, fsync, fdatasync, ftruncate, getdents64,
// sync_file_range, fallocate, preadv, pwritev, syncfs, copy_file_range, preadv2, pwritev2.
const _FD_CALLS: Record<string, ReadonlySet<number>> = {
  x64: new Set([0, 1, 17, 18, 19, 20, 74, 75, 77, 217, 277, 285, 295, 296, 306, 326, 327, 328]),
  arm64: new Set([63, 64, 67, 68, 65, 66, 82, 83, 46, 61, 84, 47, 69, 70, 267, 285, 286, 287]),
};

/**
 * `<sysfs>/block/loopN/loop/backing_file`: the file a loop device reads and writes, as the kernel
 * prints it (d_path and a newline): `path` to look up in a mount table, without the ` (deleted)`
 * the kernel adds once the file is unlinked (its blocks stay on that file system until the loop
 * device lets go, and the path is still that of the directory it was in); `shown` as printed.
 * Null when empty or not a path from a root.
 */
export function backingFile(text: string): { path: string; shown: string } | null {
  const shown = text.endsWith("\n") ? text.slice(0, -1) : text;
  if (!shown.startsWith("/")) return null;
  return { path: shown.replace(/ \(deleted\)$/, ""), shown };
}
