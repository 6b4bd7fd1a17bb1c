// Clocks are not trusted (SPEC §2). No single event moves the graph's clock past the wall clock
// plus the allowed skew: such an event is `future_ts`. A ts before 2001 is `bad_ts`. The log
// line of either says which unit the value looks like (seconds, microseconds, nanoseconds).
//
// Replay keeps the wall-clock bound (a recording is never ahead of the wall clock it is replayed
// under, so a probe's microseconds are caught at once) and adds SPEC's own bound for it: no
// single event moves the graph past the stream's clock plus the skew. That rule lives in
// stream-clock.ts, a stage only replay's feed has: an event that far ahead is held until the
// next one confirms the jump (a quiet gap in the recording, applied whole) or does not (rejected
// as `future_ts`, with `explainStream`'s words; the first event, with `explainLead`'s).
import type { RejectReason } from "../events/schema.ts";

/** 2001-01-01T00:00:00Z in ms: no probe of this exporter ever ran before it. */
export const MIN_TS = 978_307_200_000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface ClockOptions {
  /** How far ahead of the reference clock an event may be (default 5 minutes). */
  maxSkewMs?: number;
}

export class ClockGuard {
  readonly maxSkewMs: number;

  constructor(opts: ClockOptions = {}) {
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  }

  /** Why `ts` received at `wall` cannot be trusted, or undefined when it can (and then it counts). */
  check(ts: number, wall: number): RejectReason | undefined {
    if (ts < MIN_TS) return "bad_ts";
    if (ts > wall + this.maxSkewMs) return "future_ts";
    return undefined;
  }

  /** The log line's text for a rejection `check` gave. */
  explain(reason: RejectReason, ts: number, wall: number): string {
    if (reason === "bad_ts") {
      const unit = _plausible(ts * 1000, wall + this.maxSkewMs) ? "; it looks like seconds, not milliseconds" : "";
      return `ts ${ts} is before 2001${unit}`;
    }
    return `ts ${ts} is more than ${_duration(this.maxSkewMs)} ahead of the clock${_unit(ts, wall + this.maxSkewMs)}`;
  }

  /**
   * The log line's text for an event replay held back and then rejected: `ts` was more than the
   * skew ahead of the stream's clock `clock`, and `next` (the next event's ts), or the end of
   * the stream when null, did not confirm the jump.
   */
  explainStream(ts: number, clock: number, wall: number, next: number | null): string {
    const why = next === null ? "the stream ended before any event confirmed the jump" : `the next event (${_at(next)}) did not confirm the jump`;
    return `${_at(ts)} is more than ${_duration(this.maxSkewMs)} ahead of the stream's clock (${_at(clock)}), and ${why}${_unit(ts, wall + this.maxSkewMs)}`;
  }

  /** The same for the stream's first event, rejected because the next one (`next`) was more than the skew behind it. */
  explainLead(ts: number, next: number, wall: number): string {
    return `${_at(ts)} is the stream's first event and more than ${_duration(this.maxSkewMs)} ahead of the next one (${_at(next)}), which did not confirm the jump${_unit(ts, wall + this.maxSkewMs)}`;
  }
}

/** The unit a ts beyond `limit` looks like, as a clause of the log line, or "". */
function _unit(ts: number, limit: number): string {
  if (_plausible(ts / 1000, limit)) return "; it looks like microseconds, not milliseconds";
  if (_plausible(ts / 1_000_000, limit)) return "; it looks like nanoseconds, not milliseconds";
  return "";
}

/** `ts 1764032400000 = 2025-11-25T01:00:00.000Z`: the value and, where a date holds it, the date. */
function _at(ms: number): string {
  return Number.isFinite(ms) && ms >= 0 && ms < 8.64e15 ? `ts ${ms} = ${new Date(ms).toISOString()}` : `ts ${ms}`;
}

function _plausible(ms: number, limit: number): boolean {
  return ms >= MIN_TS && ms <= limit;
}

function _duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
