// Which processes use which RDMA device: a process that uses verbs holds
// /dev/infiniband/uverbsN open, and <sysfs>/class/infiniband_verbs/uverbsN/ibdev names the device.
// Reading every fd of every process each round would cost most of the collector's time, so
// each process is scanned when first seen and again after `rescanMs`, at most `maxScans` per
// round, new processes first.
import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { isDenied, mapLimit } from "../poller.ts";
import { uverbsOf } from "./parse.ts";

/** Fds looked at per process. */
export const MAX_FDS = 4096;

interface _Scan {
  uverbs: string[];
  at: number;
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
      this._scans.set(pid, { uverbs: await this._scan(pid), at: now });
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

  private async _scan(pid: number): Promise<string[]> {
    const dir = join(this.procfs, String(pid), "fd");
    let fds: string[];
    try {
      fds = await readdir(dir);
    } catch (e) {
      if (isDenied(e)) this._denied("fd", dir);
      return [];
    }
    const found: string[] = [];
    for (const fd of fds.slice(0, MAX_FDS)) {
      try {
        const u = uverbsOf(await readlink(join(dir, fd)));
        if (u !== null && !found.includes(u)) found.push(u);
      } catch {
        // The fd closed between the listing and the readlink.
      }
    }
    return found;
  }
}
