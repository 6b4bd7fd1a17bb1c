// A loop device (`loopN`: an Apptainer/Singularity image, a squashfs data set mounted with `-o
// loop`) is no disk: its reads and writes go to a file on another file system, and a process in
// D on a file of the image waits on the device that holds that file. Each loop device is
// followed down: `<sysfs>/class/block/loopN/loop/backing_file` (the file's path as the kernel
// prints it), that path's mount in the host's mount table (`<procfs>/1/mountinfo`: loop devices
// are bound by the host's tools, and the kernel prints a file of another mount namespace by its
// path there), and that mount's device:
//   - a block device: the disk it is on (a partition's disk), or the dm or md device itself,
//     which builtin:kmsg gives its members' errors, as for any file on it;
//   - another loop device (an image inside an image): followed down in turn;
//   - an NFS mount: `nfs-<server>`, as for any file on it;
//   - any other file system without a block device (tmpfs, overlay, FUSE, Lustre, a file that
//     is itself a device node on devtmpfs): nothing is below it; the loop device itself is what
//     the process waits on, as before (no storage rule reads `loop*`: no disk to blame);
//   - a loop device bound to no file (no `loop/` directory), or a path no mount holds: the same.
// An unlinked backing file (` (deleted)`) is followed as it was: its blocks stay on that file
// system until the loop device lets go, and the kernel still prints the directory it was in.
// The file is never stat()ed: on a hung NFS mount that call hangs a thread of the fs pool.
import { join } from "node:path";
import { readOrNull } from "../poller.ts";
import type { HostPaths } from "../source.ts";
import { readBlockDev, type BlockDev } from "./block.ts";
import { backingFile, mountOf, NFS_TYPES, nfsServer, parseMountinfo, type Mount } from "./parse.ts";

/** Loop devices followed below one another (the kernel refuses a cycle; a fixture may not). */
export const MAX_LOOP_DEPTH = 8;
/** A backing file's path in `via` is cut to its last characters past this length. */
const _MAX_SHOWN = 160;
const _LOOP = /^loop\d+$/;

/** Where a loop device's I/O lands. */
export interface Landing {
  /** The device a process waits on through it: `nvme0n1`, `dm-0`, `nfs-<server>`, or the loop device when nothing is found below. */
  device: string;
  nfs: boolean;
  /** The way down: `loop0 (/images/a.sif) → nvme0n1p2`; "" when nothing is known of it. */
  via: string;
}

export class LoopBacking {
  private _mounts: Promise<Mount[] | null> | null = null;
  private _known = new Map<string, Promise<Landing>>();

  constructor(
    private readonly _host: HostPaths,
    private readonly _block: (dev: string) => Promise<BlockDev | null> = (dev) => readBlockDev(_host.sysfs, dev),
  ) {}

  /** Forgets the last round's mount table and answers (loop devices come and go with jobs). */
  newRound(): void {
    this._mounts = null;
    this._known = new Map();
  }

  /** Where the I/O of loop device `loop` (a kernel name, `loop0`) lands; read once a round. */
  below(loop: string): Promise<Landing> {
    let known = this._known.get(loop);
    if (known === undefined) this._known.set(loop, (known = this._walk(loop)));
    return known;
  }

  private async _walk(loop: string): Promise<Landing> {
    const hops: string[] = [];
    const seen = new Set<string>();
    let name = loop;
    const stop = (last = "") => ({ device: name, nfs: false, via: [...hops, ...(last === "" ? [] : [last])].join(" → ") });
    for (let depth = 0; depth < MAX_LOOP_DEPTH && !seen.has(name); depth++) {
      seen.add(name);
      const file = backingFile((await readOrNull(join(this._host.sysfs, "class/block", name, "loop/backing_file"), 8192)) ?? "");
      if (file === null) return stop();
      const hop = `${name} (${_short(file.shown)})`;
      const mounts = await this._hostMounts();
      const m = mounts === null ? null : mountOf(file.path, mounts);
      if (m === null) return stop();
      if (NFS_TYPES.has(m.fsType)) {
        const server = nfsServer(m.source);
        if (server !== null) return { device: "nfs-" + server, nfs: true, via: [...hops, hop, "nfs-" + server].join(" → ") };
      }
      const dev = m.dev.startsWith("0:") ? null : await this._block(m.dev);
      if (dev === null) return stop(`${name} (${_short(file.shown)} on ${m.fsType})`);
      hops.push(hop);
      if (!_LOOP.test(dev.disk)) return { device: dev.disk, nfs: false, via: [...hops, dev.name].join(" → ") };
      name = dev.disk;
    }
    return stop();
  }

  private _hostMounts(): Promise<Mount[] | null> {
    return (this._mounts ??= readOrNull(join(this._host.procfs, "1", "mountinfo"), 4 << 20).then((t) => (t === null ? null : parseMountinfo(t))));
  }
}

/** Whether a device name is a loop device's (`loop0`; its partitions `loop0p1` are on their disk). */
export function isLoop(name: string): boolean {
  return _LOOP.test(name);
}

function _short(path: string): string {
  return path.length <= _MAX_SHOWN ? path : "…" + path.slice(path.length - _MAX_SHOWN + 1);
}
