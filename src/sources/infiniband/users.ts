// Which processes use which RDMA device: a process that uses verbs holds
// /dev/infiniband/uverbsN open, and <sysfs>/class/infiniband_verbs/uverbsN/ibdev names the device.
// Reading every fd of every process each round would cost most of the collector's time, so
// each process is scanned when first seen and again after `rescanMs`, at most `maxScans` per
// round, new processes first; and a rescan that finds the same fd numbers as the last one
// keeps its answer without reading the links again, unless `FULL_RESCAN_MS` have passed
// (opening a verbs device adds an fd; a closed one reused for it within a minute is rare).
import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { isDenied, mapLimit } from "../poller.ts";
import { uverbsOf } from "./parse.ts";

/** Fds looked at per process. */
export const MAX_FDS = 4096;
/** Links are read again at least this often even when the fd numbers stay the same. */
export const FULL_RESCAN_MS = 5 * 60_000;

interface _Scan {
  uverbs: string[];
  at: number;
  /** The fd numbers of the last full scan, and when it was. */
  fds: string;
  fullAt: number;
}

export class VerbsUsers {
  private readonly _scans = new Map<number, _Scan>();

  constructor(
    readonly procfs: string,
    readonly maxScans: number,
    readonly rescanMs: number,
    private readonly _denied: (kind: string, path: string) => void,
  ) {}

  /**
   * Scans what is due among `pids` (the live processes of the graph) and answers device → pids,
   * through `verbs` (uverbsN → device). Pids not in `pids` are forgotten.
   */
  async round(pids: readonly number[], verbs: ReadonlyMap<string, string>, now: number): Promise<Map<string, number[]>> {
    const live = new Set(pids);
    for (const pid of this._scans.keys()) if (!live.has(pid)) this._scans.delete(pid);
    const fresh = pids.filter((pid) => !this._scans.has(pid));
    const stale = pids.filter((pid) => {
      const s = this._scans.get(pid);
      return s !== undefined && now - s.at >= this.rescanMs;
    });
    stale.sort((a, b) => this._scans.get(a)!.at - this._scans.get(b)!.at);
    const due = [...fresh, ...stale].slice(0, this.maxScans);
    await mapLimit(due, 8, async (pid) => {
      this._scans.set(pid, await this._scan(pid, this._scans.get(pid), now));
    });
    const out = new Map<string, number[]>();
    for (const pid of pids) {
      const s = this._scans.get(pid);
      if (s === undefined) continue;
      for (const u of s.uverbs) {
        const dev = verbs.get(u);
        if (dev === undefined) continue;
        const list = out.get(dev) ?? [];
        if (!list.includes(pid)) list.push(pid);
        out.set(dev, list);
      }
    }
    return out;
  }

  private async _scan(pid: number, last: _Scan | undefined, now: number): Promise<_Scan> {
    const dir = join(this.procfs, String(pid), "fd");
    let fds: string[];
    try {
      fds = await readdir(dir);
    } catch (e) {
      if (isDenied(e)) this._denied("fd", dir);
      return { uverbs: [], at: now, fds: "", fullAt: now };
    }
    const key = fds.join(",");
    if (last !== undefined && last.fds === key && now - last.fullAt < FULL_RESCAN_MS) return { ...last, at: now };
    const found: string[] = [];
    for (const fd of fds.slice(0, MAX_FDS)) {
      try {
        const u = uverbsOf(await readlink(join(dir, fd)));
        if (u !== null && !found.includes(u)) found.push(u);
      } catch {
        // The fd closed between the listing and the readlink.
      }
    }
    return { uverbs: found, at: now, fds: key, fullAt: now };
  }
}
