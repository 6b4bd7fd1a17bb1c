// diskstats lines of one round against the last: IOPS and queue depth per block device.
import { DEFAULT_IGNORE, type DiskLine } from "./parse.ts";
import type { SourceEvent } from "../source.ts";

// A type alias, not an interface, so it passes as Record<string, unknown> to ctx.emit.
export type DiskEvent = SourceEvent<"storage.iops" | "storage.qdepth">;

interface _Seen {
  ios: number;
  weightedMs: number;
  at: number;
}

/** Field 14 is an unsigned 32-bit count of milliseconds. */
const _WRAP = 2 ** 32;

export class DiskTracker {
  private readonly _last = new Map<string, _Seen>();

  constructor(private readonly _ignore: RegExp = DEFAULT_IGNORE) {}

  /**
   * Events for one round read at `now` (ms). A device seen for the first time only sets its
   * baseline; one whose counts went down (a reset, or a new device under the old name) starts a
   * new baseline instead of a negative rate. Devices gone from the file are forgotten. Readings
   * are host-level (no pid): a process waiting on a disk is builtin:procfs's to say.
   */
  round(lines: readonly DiskLine[], now: number): DiskEvent[] {
    const out: DiskEvent[] = [];
    const seen = new Set<string>();
    for (const d of lines) {
      if (this._ignore.test(d.name) || seen.has(d.name)) continue;
      seen.add(d.name);
      const ios = d.reads + d.writes;
      const prev = this._last.get(d.name);
      this._last.set(d.name, { ios, weightedMs: d.weightedMs, at: now });
      if (prev === undefined || ios < prev.ios || now <= prev.at) continue;
      const ms = now - prev.at;
      const iops = ((ios - prev.ios) * 1000) / ms;
      out.push({ ts: now, event_type: "storage.iops", entity_id: d.name, value: _rate(iops) });
      out.push({ ts: now, event_type: "storage.qdepth", entity_id: d.name, value: _rate(queueDepth(d, prev, ios - prev.ios, ms)) });
    }
    for (const name of this._last.keys()) if (!seen.has(name)) this._last.delete(name);
    return out;
  }
}

/**
 * The device's queue over the round: the I/Os in flight on average (iostat's aqu-sz, the
 * weighted time's growth over the round's length). A count read at one instant every 15 s is
 * noise: an idle disk shows one I/O in flight now and then, and a busy one none between bursts.
 * The kernel adds an I/O's time as it completes, so I/Os that complete no more (a hung device)
 * add nothing: when none completed in the round, the count in flight now is its queue.
 */
export function queueDepth(d: DiskLine, prev: { weightedMs: number }, completed: number, ms: number): number {
  const weighted = (d.weightedMs - prev.weightedMs + _WRAP) % _WRAP;
  const average = weighted / ms;
  return completed === 0 ? Math.max(average, d.inFlight) : average;
}

/** A rate as readings are written: an integer, or one decimal below 10. */
function _rate(x: number): string {
  return x >= 10 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}
