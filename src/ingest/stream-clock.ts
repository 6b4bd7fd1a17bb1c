// Replay's clock rule (SPEC §2): no single event moves the graph's clock past the stream's own
// clock (the largest ts applied so far) plus the skew. A replayed feed puts each event that
// passed the schema through here; a live feed never does (it checks against the wall clock in
// `IngestPipeline.accept` alone).
//
// Read literally, "no single event": an event further ahead than the skew is held back, not
// applied. The next event decides. If it too is beyond the old clock plus the skew and within
// the skew of the held ts, the jump is real (a quiet gap in the recording): the held event is
// applied, then the next one, and nothing is lost. If the stream carries on near the old clock
// (or jumps elsewhere), the held event is rejected as `future_ts`. One still held when the
// stream ends is rejected too: nothing confirmed it. Events rejected for other reasons (the wall
// clock included) are no evidence either way and leave the hold as it is. The wall-clock bound
// still applies first: a recording is never ahead of the wall clock it is replayed under.
//
// The first event has no clock to be ahead of, so it is held the other way round: the next
// event confirms it unless it is more than the skew behind it (the stream did not follow a
// first event dated ahead of it), and then it is `future_ts`. A first event still held at the
// end (a file of one event) is applied: nothing speaks against it.
import type { RejectReason, XEvent } from "../events/schema.ts";
import type { IngestPipeline, SourceMark } from "./pipeline.ts";

/** What `offer` did with an event: accepted (undefined), rejected (the reason) or held back. */
export type Offered = RejectReason | undefined | "held";

/** Where the stage reports an event it held once its fate is known (the feed's tallies). */
export interface HoldOutcome {
  /** An event was held back; `sample` is its line (or its start). */
  held(sample: string): void;
  /** The event held was confirmed and applied. */
  accepted(): void;
  /** `detail`: why it was rejected, for the user (`future_ts: ts ... did not confirm ...`). */
  rejected(reason: RejectReason, sample: string, detail: string): void;
}

interface _Held {
  ev: XEvent;
  wall: number;
  sample: string;
  /** The stream's clock when it was held (-Infinity: the stream's first event). */
  clock: number;
}

export class StreamClock {
  /** The largest ts applied so far; -Infinity before the first. */
  clock = -Infinity;
  /** `clock` plus the skew: the fast path's one comparison (every event is beyond it before the first). */
  private _limit = -Infinity;
  private _held: _Held | null = null;
  private readonly _skew: number;

  constructor(
    private readonly _pipeline: IngestPipeline,
    private readonly _source: string,
    private readonly _mark: SourceMark | undefined,
    private readonly _outcome: HoldOutcome,
  ) {
    this._skew = _pipeline.clock.maxSkewMs;
  }

  /**
   * One event that passed the schema. When this answers "held", the caller gives the event's
   * line (or its start) to `sample` at once: the line is only read out for the few held.
   */
  offer(ev: XEvent, wall: number): Offered {
    const ts = ev.ts;
    if (this._held === null) {
      if (ts <= this._limit) return this._apply(ev, wall);
      return this._hold(ev, wall);
    }
    // Rejected by the wall clock (or before 2001): no evidence about the held event.
    if (this._pipeline.clock.check(ts, wall) !== undefined) return this._pipeline.accept(ev, this._source, this._mark, wall);
    const held = this._held;
    this._held = null;
    if (held.clock === -Infinity) {
      // The stream's first event: confirmed unless this one is more than the skew behind it.
      if (ts < held.ev.ts - this._skew) {
        this._reject(held, ts);
        return this._hold(ev, wall); // the stream's first event now
      }
      this._confirm(held);
      return ts <= this._limit ? this._apply(ev, wall) : this._hold(ev, wall);
    }
    if (ts > this._limit && ts >= held.ev.ts - this._skew && ts <= held.ev.ts + this._skew) {
      // Confirmed: a real gap. The held event first, then this one, in the stream's order.
      this._confirm(held);
      return this._apply(ev, wall);
    }
    this._reject(held, ts);
    return ts <= this._limit ? this._apply(ev, wall) : this._hold(ev, wall);
  }

  /** End of the stream: an event still held was never confirmed (the first event: never refuted). */
  end(): void {
    const held = this._held;
    if (held === null) return;
    this._held = null;
    if (held.clock === -Infinity) this._confirm(held);
    else this._reject(held, null);
  }

  /** Applies the held event. It passed the wall clock when it was held, and that check is the same now. */
  private _confirm(held: _Held): void {
    this._apply(held.ev, held.wall);
    this._outcome.accepted();
  }

  private _apply(ev: XEvent, wall: number): RejectReason | undefined {
    const r = this._pipeline.accept(ev, this._source, this._mark, wall);
    if (r === undefined && ev.ts > this.clock) {
      this.clock = ev.ts;
      this._limit = ev.ts + this._skew;
    }
    return r;
  }

  /** The line of the event `offer` just held. */
  sample(line: string): void {
    this._held!.sample = line;
    this._outcome.held(line);
  }

  private _hold(ev: XEvent, wall: number): Offered {
    // Beyond the wall clock too: rejected at once, as live (the unit hint says µs or ns).
    if (this._pipeline.clock.check(ev.ts, wall) !== undefined) return this._pipeline.accept(ev, this._source, this._mark, wall);
    this._held = { ev, wall, sample: "", clock: this.clock };
    return "held";
  }

  private _reject(held: _Held, next: number | null): void {
    const clock = this._pipeline.clock;
    const detail = `future_ts: ${held.clock === -Infinity ? clock.explainLead(held.ev.ts, next!, held.wall) : clock.explainStream(held.ev.ts, held.clock, held.wall, next)}`;
    this._pipeline.reject("future_ts", held.sample, this._source, detail);
    this._outcome.rejected("future_ts", held.sample, detail);
  }
}
