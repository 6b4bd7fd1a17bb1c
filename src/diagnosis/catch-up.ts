// A live run while the stream's clock races to catch up with the wall clock sees the stream's
// past, not now. A backlog pushed at once (a probe's history, an incident sent after the fact)
// is taken in slices, with the event loop turning in between, and an automatic run may come
// after any slice: twenty minutes into a backlog whose fault was over five minutes later, the
// fault still looks current. Such a run starts no scene; what it found is kept as a brief match
// held at the stream's time, which the next run reports if it is not stale by then (engine.ts).
//
// Racing is told from a clock that is merely behind (a host without NTP) by the events, not the
// runs: each event's offset (its stream time less the wall time it came) is noted, and the stream
// races when the latest offset is more than `slackMs` above the least of the events heard in the
// last `slackMs` to 2 x `slackMs` of wall time. A steady stream on a skewed clock keeps one offset.
// A backlog sent in parts (pushes one after another, a probe's pipe read under load) pauses
// between them: a run in the pause still sees the race, so a pause is not taken for the backlog's
// end until the stream has been quiet for `slackMs`.

export class CatchUp {
  /** Least offset of the events heard since `_spanAt` (wall time), and in the span before it. */
  private _min = Infinity;
  private _prevMin = Infinity;
  private _spanAt = -Infinity;
  /** The latest event's offset and wall time. */
  private _last = -Infinity;
  private _lastWall = -Infinity;

  constructor(readonly slackMs: number) {}

  /** An event heard at `wall`, the stream's clock then at `ts`. */
  event(ts: number, wall: number): void {
    const age = wall - this._spanAt;
    if (age > this.slackMs) {
      // After a quiet longer than the slack the race, if any, is over: what came before is no base.
      this._prevMin = age > 2 * this.slackMs || wall - this._lastWall > this.slackMs ? Infinity : this._min;
      this._min = Infinity;
      this._spanAt = wall;
    }
    const offset = ts - wall;
    if (offset < this._min) this._min = offset;
    this._last = offset;
    this._lastWall = wall;
  }

  /** Whether a run at `wall`, the stream at `ts`, is catching up: behind the wall, and racing or paused a moment in a race. */
  catchingUp(ts: number, wall: number): boolean {
    if (wall - ts <= this.slackMs || wall - this._lastWall > this.slackMs) return false;
    return this._last - Math.min(this._min, this._prevMin) > this.slackMs;
  }
}
