// Clocks are not trusted (SPEC §2). No single event moves the graph's clock past the wall clock
// plus the allowed skew: such an event is `future_ts`. A ts before 2001 is `bad_ts`. The log
// line of either says which unit the value looks like (seconds, microseconds, nanoseconds).
//
// Replay uses the same bound. SPEC §2 words replay's bound as the stream's own clock plus the
// skew, but a recording may hold a quiet gap longer than the skew (test/cli/replay.test.ts has
// a six-minute one), and that rule would reject every event after it; a recording is never
// ahead of the wall clock it is replayed under, so the wall clock rejects the same bogus
// values (microseconds, nanoseconds, 2^53-1) and loses no gap.
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
    const limit = wall + this.maxSkewMs;
    let unit = "";
    if (_plausible(ts / 1000, limit)) unit = "; it looks like microseconds, not milliseconds";
    else if (_plausible(ts / 1_000_000, limit)) unit = "; it looks like nanoseconds, not milliseconds";
    return `ts ${ts} is more than ${_duration(this.maxSkewMs)} ahead of the clock${unit}`;
  }
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
