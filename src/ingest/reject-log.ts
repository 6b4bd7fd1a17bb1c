// The log of rejected events: a burst shows in full, a few lines a second, then one line counting
// what was not logged. A fault that persists (a probe or client that keeps sending the same kind
// of bad line for days) is not logged for as long as it lasts: after its first lines, each
// (source, reason) is logged once a minute, that line saying how many like it were left out;
// one that stops for a minute starts over. Every rejection still counts in
// xctl_events_rejected_total. Each line shows the start of the rejected text with its control
// characters escaped.
import type { ConsolaInstance } from "consola";
import { elapsed } from "../elapsed.ts";
import { escapeControl } from "../escape.ts";
import { describeRejection } from "../events/parse.ts";
import type { RejectReason } from "../events/schema.ts";

/** Lines logged per second before the rest are only counted. */
const PER_SECOND = 5;
/** Lines of one (source, reason) logged in full before it is logged once per REPEAT_MS. */
export const REJECT_FULL_LINES = 5;
export const REJECT_REPEAT_MS = 60_000;
/** (source, reason) pairs remembered: sources are the configured probes, http, stdin. */
const MAX_KEYS = 1024;
/** Characters of a rejected line shown in its log line. */
const SAMPLE_CHARS = 120;

interface _Repeat {
  /** Lines logged in this episode. */
  logged: number;
  lastSeen: number;
  lastLogged: number;
  /** Rejections of this pair not logged since its last line. */
  left: number;
}

export class RejectLog {
  private _windowStart = 0;
  private _logged = 0;
  private _suppressed = 0;
  private readonly _repeats = new Map<string, _Repeat>();

  constructor(
    private readonly _log: Pick<ConsolaInstance, "warn">,
    private readonly _now: () => number = Date.now,
  ) {}

  note(reason: RejectReason, sample: string, source: string, detail?: string): void {
    const now = this._now();
    if (elapsed(now, this._windowStart) >= 1000) {
      if (this._suppressed > 0) this._log.warn(`${this._suppressed} more rejected events not logged`);
      this._windowStart = now;
      this._logged = 0;
      this._suppressed = 0;
    }
    const r = this._repeat(`${source}\0${reason}`, now);
    // A persistent fault: one line a minute for it, with the count of those left out.
    if (r.logged >= REJECT_FULL_LINES && elapsed(now, r.lastLogged) < REJECT_REPEAT_MS) {
      r.left++;
      return;
    }
    if (this._logged >= PER_SECOND) {
      this._suppressed++;
      return;
    }
    this._logged++;
    const { left, lastLogged } = r;
    r.logged++;
    r.lastLogged = now;
    r.left = 0;
    let more = left > 0 ? ` (and ${left} more like it in the last ${Math.round(Math.max(0, now - lastLogged) / 1000)}s, not logged)` : "";
    // The last line in full says what comes next, so five lines and then quiet do not read as five rejections.
    if (r.logged === REJECT_FULL_LINES) more += ` (more like it: one line a minute, with their count, while it goes on; all in xctl_events_rejected_total)`;
    // The sample is whatever a probe or client sent: control characters (ESC, CR, NUL) escaped.
    // The reason with what was wrong (`missing_field: entity_id`), found again off the hot path.
    this._log.warn(`rejected event from ${source}: ${escapeControl(detail ?? describeRejection(reason, sample))}${sample ? `: ${escapeControl(sample.slice(0, SAMPLE_CHARS))}` : ""}${more}`);
  }

  private _repeat(key: string, now: number): _Repeat {
    let r = this._repeats.get(key);
    if (r !== undefined && elapsed(now, r.lastSeen) >= REJECT_REPEAT_MS) {
      // Quiet for a minute: a new episode, logged in full again (its first line owns up to
      // what the last one left out).
      r.logged = 0;
    }
    if (r === undefined) {
      if (this._repeats.size >= MAX_KEYS) this._repeats.delete(this._repeats.keys().next().value!);
      r = { logged: 0, lastSeen: now, lastLogged: now, left: 0 };
      this._repeats.set(key, r);
    }
    r.lastSeen = now;
    return r;
  }
}
