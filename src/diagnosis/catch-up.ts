// A live run while the stream's clock races to catch up with the wall clock sees the stream's
// past, not now. A backlog pushed at once (a probe's history, an incident sent after the fact)
// is taken in slices, with the event loop turning in between, and an automatic run may come
// after any slice: twenty minutes into a backlog whose fault was over five minutes later, the
// fault still looks current. Such a run starts no scene; what it found is kept as a brief match
// held at the stream's time, which the next run reports if it is not stale by then (engine.ts).
//
// Racing is told from a clock that is merely behind (a host without NTP): behind the wall by more
// than `slackMs`, and ahead by more than `slackMs` of where the wall clock alone would have moved
// it since the last run. A steady stream on a skewed clock moves with the wall and runs as usual.

export class CatchUp {
  private _ts = NaN;
  private _wall = NaN;

  /** The stream's time and the wall time of the first event: what the first run compares with. */
  first(ts: number, wall: number): void {
    if (!Number.isNaN(this._ts)) return;
    this._ts = ts;
    this._wall = wall;
  }

  /** Whether a run at `wall`, the stream at `ts`, is catching up; the run becomes the next one's base. */
  run(ts: number, wall: number, slackMs: number): boolean {
    const behind = wall - ts > slackMs;
    const racing = !Number.isNaN(this._ts) && ts - this._ts - (wall - this._wall) > slackMs;
    this._ts = ts;
    this._wall = wall;
    return behind && racing;
  }
}
