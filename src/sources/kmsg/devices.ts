// Kernel device names → graph entities, through sysfs (under --path.sysfs):
// - a block device or partition → its disk (`nvme1n1p2` → `nvme1n1`, `sdb1` → `sdb`): the
//   parent of `class/block/<name>` when that is a partition, else by the kernel's name rules;
// - an NVMe controller (`nvme1`) → its namespaces' disks, from `class/nvme/<ctrl>/` (a
//   multipath path `nvme1c1n1` counts as the disk `nvme1n1`, in errors too) or `class/block/<ctrl>n*`, else
//   the controller's own name;
// - an mlx5 PCI function → its RDMA device (`bus/pci/devices/<addr>/infiniband/*`), else the
//   name the message gives, else its netdev (`.../net/*`), else `mlx5-<addr>`.
// Answers are cached for a minute (bounded), so a burst of errors costs a few reads. The LVM,
// dm-crypt and md devices stacked above a disk, which its errors reach too, are stack.ts's.
import { readFile, realpath, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { listSorted as _list, TtlCache } from "./sysfs-cache.ts";

/** The disk of a partition by name alone (used when sysfs does not know the device). */
export function diskByName(name: string): string {
  let m = /^((?:nvme\d+(?:c\d+)?n\d+)|(?:mmcblk\d+)|(?:md\d+)|(?:nbd\d+)|(?:loop\d+))p\d+$/.exec(name);
  if (m !== null) return m[1];
  m = /^((?:sd|vd|xvd|hd)[a-z]+)\d+$/.exec(name);
  if (m !== null) return m[1];
  return name;
}

/** A native-multipath NVMe path (`nvme0c1n1`, `nvme0c1n1p2`) by the name of its disk (`nvme0n1`, `nvme0n1p2`). */
export function blockName(name: string): string {
  return name.replace(/^nvme(\d+)c\d+n(\d+)/, "nvme$1n$2");
}

export class DeviceMap {
  private readonly _cache = new TtlCache(60_000);

  constructor(private readonly _sysfs: string) {}

  /** The disk(s) an I/O error on block device `dev` or NVMe controller `ctrl` concerns. */
  async disks(dev: string | null, ctrl: string | null): Promise<string[]> {
    if (dev !== null) return this._cached(`b:${dev}`, async () => [await this._disk(dev)]);
    if (ctrl !== null) return this._cached(`c:${ctrl}`, () => this._namespaces(ctrl));
    return [];
  }

  /** The entity of an mlx5 link event. */
  async nic(pci: string, named: string | null): Promise<string> {
    const [v] = await this._cached(`n:${pci}:${named ?? ""}`, async () => {
      const base = join(this._sysfs, "bus/pci/devices", pci.toLowerCase());
      const ib = await _list(join(base, "infiniband"));
      if (ib.length > 0) return [ib[0]];
      if (named !== null) return [named];
      const net = await _list(join(base, "net"));
      return [net.length > 0 ? net[0] : `mlx5-${pci.toLowerCase()}`];
    });
    return v;
  }

  /**
   * The 512-byte sector of logical block `lba` of disk `dev` (NVMe counts in the namespace's
   * block size, `queue/logical_block_size`); null when sysfs does not say that size.
   */
  async sectorOfLba(dev: string, lba: number): Promise<number | null> {
    const [size] = await this._cached(`l:${dev}`, async () => {
      try {
        return [(await readFile(join(this._sysfs, "class/block", blockName(dev), "queue/logical_block_size"), "utf8")).trim()];
      } catch {
        return [""];
      }
    });
    const bytes = Number(size);
    if (size === "" || !Number.isSafeInteger(bytes) || bytes < 512 || bytes % 512 !== 0) return null;
    const sector = lba * (bytes / 512);
    return Number.isSafeInteger(sector) ? sector : null;
  }

  private async _disk(name: string): Promise<string> {
    // A native-multipath path (`nvme0c1n1`, as I/O errors may name it) is the disk `nvme0n1`.
    const dev = blockName(name);
    const link = join(this._sysfs, "class/block", dev);
    try {
      await stat(join(link, "partition"));
    } catch {
      // Not a partition sysfs knows: a whole disk when sysfs has it, else by name.
      return (await _exists(link)) ? dev : diskByName(dev);
    }
    try {
      return basename(dirname(await realpath(link)));
    } catch {
      return diskByName(dev);
    }
  }

  private async _namespaces(ctrl: string): Promise<string[]> {
    const found = new Set<string>();
    for (const n of await _list(join(this._sysfs, "class/nvme", ctrl))) {
      const m = /^nvme(\d+)(?:c\d+)?n(\d+)$/.exec(n);
      if (m !== null) found.add(`nvme${m[1]}n${m[2]}`);
    }
    if (found.size === 0) {
      const re = new RegExp(`^${ctrl}n\\d+$`);
      for (const n of await _list(join(this._sysfs, "class/block"))) if (re.test(n)) found.add(n);
    }
    return found.size > 0 ? [...found].sort() : [ctrl];
  }

  private _cached(key: string, make: () => Promise<string[]>): Promise<string[]> {
    return this._cache.get(key, make);
  }
}

async function _exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
