// The block devices stacked above a member (under --path.sysfs): which device-mapper (LVM,
// dm-crypt, multipath) and md RAID devices an I/O error on a disk or partition reaches. A
// process waits on the device its file system is on (`dm-0`, `md0`: builtin:procfs maps the
// mount), while the kernel names the member that failed (`sda`); this is how the two meet.
//
// Read from the kernel's own links: `class/block/<dev>/holders/<holder>` (a disk's or a
// partition's), `<holder>/slaves/*`, `<holder>/dm/{name,uuid}`, `<holder>/md/level`, and a disk's
// partitions `<disk>/<part>/{start,size}` (in 512-byte sectors, as the block layer's
// `sector N` is). A member's fault goes up to a holder only where the holder fails with it:
//   - md: `raid0` and `linear` (no redundancy); not `raid1/4/5/6/10` or `multipath`, whose I/O
//     the array retries on another member (the array's own failure names it: `Buffer I/O error
//     on dev md0`, `EXT4-fs error (device md0)`); an unknown or empty level neither;
//   - dm: not a multipath map (uuid `mpath-`: the path is failed, the I/O goes down another);
//     not from an LVM RAID or mirror leg (`*_rimage_N`, `*_rmeta_N`, `*_mimage_N`, `*_mlog`) to
//     its LV; a map over one device (linear LV, dm-crypt, a thin pool's data) yes; over several
//     yes when it is LVM's (linear or striped across PVs), else no (an unknown target over
//     several devices may be redundant);
//   - any other holder (bcache, drbd): only over one device.
// Better to blame no holder than a process whose I/O the array served from another member.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Levels above a member looked at, holders reported per error (cycles are cut by name). */
export const MAX_DEPTH = 8;
export const MAX_ABOVE = 16;
/** Partitions of one disk looked at. */
const _MAX_PARTS = 128;
const _TTL_MS = 60_000;
const _MAX_CACHED = 256;

/** A stacked device an error reaches, and how: `sda2 under dm-0 (vg0-root)`. */
export interface Above {
  entity: string;
  path: string;
}

export interface Partition {
  name: string;
  start: number;
  size: number;
}

/** Whether an md array of `level` (the text of `md/level`) fails with any one member. */
export function mdFailsWithMember(level: string): boolean {
  const l = level.trim().toLowerCase().replace(/^raid-/, "raid");
  return l === "raid0" || l === "linear";
}

/** Whether a device-mapper map fails with the member `member` (its dm name when a dm device, else null). */
export function dmFailsWithMember(uuid: string, slaves: number, member: string | null): boolean {
  const u = uuid.trim();
  if (/^mpath-/i.test(u)) return false;
  if (member !== null && /_(?:rimage|rmeta|mimage)_\d+$|_mlog$/.test(member)) return false;
  if (slaves <= 1) return true;
  return u.startsWith("LVM-");
}

/** The partition holding `sector` (of its disk), or null. */
export function partitionOf(parts: readonly Partition[], sector: number): string | null {
  for (const p of parts) if (sector >= p.start && sector < p.start + p.size) return p.name;
  return null;
}

export class BlockStack {
  private readonly _cache = new Map<string, { at: number; value: unknown }>();

  constructor(private readonly _sysfs: string) {}

  /**
   * The devices above an I/O error: `dev` the device the kernel named (a partition, or a disk
   * with the `sector` it gave), `disks` the disks it maps to (all of an NVMe controller's).
   * Each disk's partitions count when the message does not say which one: the one holding
   * `sector`, else all.
   */
  async above(dev: string | null, disks: readonly string[], sector: number | null): Promise<Above[]> {
    const from: string[] = [];
    for (const d of disks) {
      if (dev !== null && dev !== d) {
        from.push(dev); // a partition the kernel named
        continue;
      }
      from.push(d);
      const parts = await this._partitions(d);
      if (sector !== null && dev !== null) {
        const p = partitionOf(parts, sector);
        if (p !== null) from.push(p);
      } else {
        for (const p of parts) from.push(p.name);
      }
    }
    return this._cached(`a:${from.join(",")}`, () => this._walk(from));
  }

  private async _walk(from: readonly string[]): Promise<Above[]> {
    const out: Above[] = [];
    const seen = new Set<string>(from);
    let level = from.map((name) => ({ name, path: name }));
    for (let depth = 0; depth < MAX_DEPTH && level.length > 0 && out.length < MAX_ABOVE; depth++) {
      const next: { name: string; path: string }[] = [];
      for (const m of level) {
        for (const h of await _list(join(this._sysfs, "class/block", m.name, "holders"))) {
          if (seen.has(h) || out.length >= MAX_ABOVE) continue;
          seen.add(h);
          const label = await this._failsWith(h, m.name);
          if (label === null) continue;
          const path = `${m.path} under ${label}`;
          out.push({ entity: h, path });
          // Partitions of a holder (an md array or a multipath map partitioned) hold more above.
          next.push({ name: h, path });
          for (const p of await this._partitions(h)) if (!seen.has(p.name)) next.push({ name: p.name, path });
        }
      }
      level = next;
    }
    return out;
  }

  /** How to name holder `h` when a fault of member `m` makes it fail; null when it does not. */
  private async _failsWith(h: string, m: string): Promise<string | null> {
    const dir = join(this._sysfs, "class/block", h);
    const level = await _read(join(dir, "md/level"));
    if (level !== null) return mdFailsWithMember(level) ? h : null;
    const uuid = await _read(join(dir, "dm/uuid"));
    const slaves = (await _list(join(dir, "slaves"))).length;
    if (uuid === null && (await _read(join(dir, "dm/name"))) === null) return slaves === 1 ? h : null;
    const member = await _read(join(this._sysfs, "class/block", m, "dm/name"));
    if (!dmFailsWithMember(uuid ?? "", slaves, member?.trim() ?? null)) return null;
    const name = (await _read(join(dir, "dm/name")))?.trim() ?? "";
    return name === "" ? h : `${h} (${name.slice(0, 128)})`;
  }

  /** A disk's partitions with their place on it (none for a partition or an unknown name). */
  private _partitions(disk: string): Promise<Partition[]> {
    return this._cached(`p:${disk}`, async () => {
      const dir = join(this._sysfs, "class/block", disk);
      const out: Partition[] = [];
      for (const n of await _list(dir)) {
        if (!n.startsWith(disk) || n === disk || out.length >= _MAX_PARTS) continue;
        const start = Number((await _read(join(dir, n, "start")))?.trim() ?? NaN);
        const size = Number((await _read(join(dir, n, "size")))?.trim() ?? NaN);
        if ((await _read(join(dir, n, "partition"))) === null || !Number.isSafeInteger(start) || !Number.isSafeInteger(size)) continue;
        out.push({ name: n, start, size });
      }
      return out;
    });
  }

  private async _cached<T>(key: string, make: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this._cache.get(key);
    if (hit !== undefined && now - hit.at < _TTL_MS) return hit.value as T;
    const value = await make();
    if (this._cache.size >= _MAX_CACHED) this._cache.clear();
    this._cache.set(key, { at: now, value });
    return value;
  }
}

async function _list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function _read(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}
