// The block devices stacked above a member (under --path.sysfs): which device-mapper (LVM,
// dm-crypt, multipath) and md RAID devices an I/O error on a disk or partition reaches. A
// process waits on the device its file system is on (`dm-0`, `md0`: builtin:procfs maps the
// mount), while the kernel names the member that failed (`sda`); this is how the two meet.
//
// Read from the kernel's own links: `class/block/<dev>/holders/<holder>` (a disk's or a
// partition's), `<holder>/slaves/*`, `<holder>/dm/{name,uuid}`, `<holder>/md/level`, and a disk's
// partitions `<disk>/<part>/{start,size}` (in 512-byte sectors, as the block layer's
// `sector N` is). A member's fault goes up to a holder only where the holder fails with it:
//   - md `raid0` and `linear` (no redundancy) always; `raid1`, `raid4/5`, `raid6` only when the
//     other members in sync (`md/dev-<member>/state`) are too few to serve the I/O without this
//     one (none for a mirror, fewer than `raid_disks` - 1 or - 2 for parity): else md retries on
//     another member and the process never sees the error. `raid10`, `multipath` and unknown
//     levels never (the array's own failure names it: `Buffer I/O error on dev md0`,
//     `EXT4-fs error (device md0)`);
//   - dm: a multipath map (uuid `mpath-`) only when no other path is `running`
//     (`<path>/device/state`; a path without that file counts as running): else the path is
//     failed and the I/O goes down another. Never from an LVM RAID or mirror leg (`*_rimage_N`,
//     `*_rmeta_N`, `*_mimage_N`, `*_mlog`) to its LV. A map over one device (linear LV, dm-crypt,
//     a thin pool's data) yes; over several yes when it is LVM's (linear or striped across
//     PVs), else no (an unknown target over several devices may be redundant);
//   - any other holder (bcache, drbd): only over one device.
// Better to blame no holder than a process whose I/O the array served from another member.
import { join } from "node:path";
import { readOrNull } from "../poller.ts";
import { listSorted as _list, TtlCache } from "./sysfs-cache.ts";

/** Levels above a member looked at, holders reported per error (cycles are cut by name). */
export const MAX_DEPTH = 8;
export const MAX_ABOVE = 16;
/** Partitions of one disk looked at. */
const _MAX_PARTS = 128;
/** Partitions change seldom; a walk's answer depends on members' states, so it is kept briefly. */
const _TTL_MS = 60_000;
const _WALK_TTL_MS = 5_000;

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

/**
 * Whether an md array of `level` (the text of `md/level`) with `raidDisks` slots fails with a
 * member while `othersInSync` other members are in sync (null: not known, taken as enough).
 */
export function mdFailsWithMember(level: string, raidDisks: number | null = null, othersInSync: number | null = null): boolean {
  const l = level.trim().toLowerCase().replace(/^raid-/, "raid");
  if (l === "raid0" || l === "linear") return true;
  if (othersInSync === null) return false;
  if (l === "raid1") return othersInSync === 0;
  if (raidDisks === null || !Number.isSafeInteger(raidDisks)) return false;
  if (l === "raid4" || l === "raid5") return othersInSync < raidDisks - 1;
  if (l === "raid6") return othersInSync < raidDisks - 2;
  return false;
}

/**
 * Whether a device-mapper map fails with the member `member` (its dm name when a dm device, else
 * null); `othersRunning`: for a multipath map, its other paths that are up.
 */
export function dmFailsWithMember(uuid: string, slaves: number, member: string | null, othersRunning = 1): boolean {
  const u = uuid.trim();
  if (/^mpath-/i.test(u)) return othersRunning === 0;
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
  private readonly _cache = new TtlCache(_TTL_MS);

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
    return this._cached(`a:${from.join(",")}`, () => this._walk(from), _WALK_TTL_MS);
  }

  private async _walk(from: readonly string[]): Promise<Above[]> {
    const out: Above[] = [];
    // Every device this fault hits: a mirror is not served by a member that fails with it.
    const seen = new Set<string>(from);
    let level = from.map((name) => ({ name, path: name }));
    for (let depth = 0; depth < MAX_DEPTH && level.length > 0 && out.length < MAX_ABOVE; depth++) {
      const next: { name: string; path: string }[] = [];
      for (const m of level) {
        for (const h of await _list(join(this._sysfs, "class/block", m.name, "holders"))) {
          if (seen.has(h) || out.length >= MAX_ABOVE) continue;
          // Asked again from another member when it does not fail with this one.
          const label = await this._failsWith(h, m.name, seen);
          if (label === null) continue;
          seen.add(h);
          const path = `${m.path} under ${label}`;
          out.push({ entity: h, path });
          // Partitions of a holder (an md array or a multipath map partitioned) hold more above.
          next.push({ name: h, path });
          for (const p of await this._partitions(h)) {
            if (seen.has(p.name)) continue;
            seen.add(p.name);
            next.push({ name: p.name, path });
          }
        }
      }
      level = next;
    }
    return out;
  }

  /**
   * How to name holder `h` when a fault of member `m` makes it fail; null when it does not.
   * `hit`: the devices the fault hits (none of them serves the I/O in place of `m`).
   */
  private async _failsWith(h: string, m: string, hit: ReadonlySet<string>): Promise<string | null> {
    const dir = join(this._sysfs, "class/block", h);
    const level = await readOrNull(join(dir, "md/level"));
    if (level !== null) {
      const { raidDisks, othersInSync } = await this._mdMembers(dir, m, hit);
      return mdFailsWithMember(level, raidDisks, othersInSync) ? h : null;
    }
    const uuid = await readOrNull(join(dir, "dm/uuid"));
    const slaves = await _list(join(dir, "slaves"));
    if (uuid === null && (await readOrNull(join(dir, "dm/name"))) === null) return slaves.length === 1 ? h : null;
    const member = await readOrNull(join(this._sysfs, "class/block", m, "dm/name"));
    let othersRunning = 1;
    if (uuid !== null && /^mpath-/i.test(uuid.trim())) {
      othersRunning = 0;
      for (const s of slaves) {
        if (s === m || hit.has(s)) continue;
        const state = await readOrNull(join(dir, "slaves", s, "device/state"));
        if (state === null || state.trim() === "running") othersRunning++;
      }
    }
    if (!dmFailsWithMember(uuid ?? "", slaves.length, member?.trim() ?? null, othersRunning)) return null;
    const name = (await readOrNull(join(dir, "dm/name")))?.trim() ?? "";
    return name === "" ? h : `${h} (${name.slice(0, 128)})`;
  }

  /**
   * An md array's slots and its members other than `m` in sync (`md/dev-*\/state`); null when
   * `m` is not among them (the listing could not be read: not known).
   */
  private async _mdMembers(dir: string, m: string, hit: ReadonlySet<string>): Promise<{ raidDisks: number | null; othersInSync: number | null }> {
    const disks = Number((await readOrNull(join(dir, "md/raid_disks")))?.trim() ?? NaN);
    const raidDisks = Number.isSafeInteger(disks) ? disks : null;
    let own = false;
    let others = 0;
    for (const e of await _list(join(dir, "md"))) {
      if (!e.startsWith("dev-")) continue;
      if (e === `dev-${m}`) own = true;
      if (hit.has(e.slice(4))) continue;
      const state = await readOrNull(join(dir, "md", e, "state"));
      if (state !== null && state.trim().split(",").includes("in_sync") && !state.includes("faulty")) others++;
    }
    return { raidDisks, othersInSync: own ? others : null };
  }

  /** A disk's partitions with their place on it (none for a partition or an unknown name). */
  private _partitions(disk: string): Promise<Partition[]> {
    return this._cached(`p:${disk}`, async () => {
      const dir = join(this._sysfs, "class/block", disk);
      const out: Partition[] = [];
      for (const n of await _list(dir)) {
        if (!n.startsWith(disk) || n === disk || out.length >= _MAX_PARTS) continue;
        const start = Number((await readOrNull(join(dir, n, "start")))?.trim() ?? NaN);
        const size = Number((await readOrNull(join(dir, n, "size")))?.trim() ?? NaN);
        if ((await readOrNull(join(dir, n, "partition"))) === null || !Number.isSafeInteger(start) || !Number.isSafeInteger(size)) continue;
        out.push({ name: n, start, size });
      }
      return out;
    });
  }

  private _cached<T>(key: string, make: () => Promise<T>, ttl = _TTL_MS): Promise<T> {
    return this._cache.get(key, make, ttl);
  }
}
