// A block device by its number (`maj:min`, as mountinfo gives a file system's), from the
// kernel's own links under --path.sysfs.
import { readlink, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface BlockDev {
  /** The device's kernel name: `nvme0n1p2`, `dm-0`, `loop0`. */
  name: string;
  /** The disk it is on: a partition's parent (`nvme0n1`), else the device itself. */
  disk: string;
}

/** `<sysfs>/dev/block/<maj:min>` → the device and its disk; null when there is no such device. */
export async function readBlockDev(sysfs: string, dev: string): Promise<BlockDev | null> {
  const link = join(sysfs, "dev", "block", dev);
  let target: string;
  try {
    target = await readlink(link);
  } catch {
    return null;
  }
  let isPartition = true;
  try {
    await stat(join(link, "partition"));
  } catch {
    isPartition = false;
  }
  return { name: basename(target), disk: basename(isPartition ? dirname(target) : target) };
}
