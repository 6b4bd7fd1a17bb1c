// The kernel log's clock against the wall clock. A record carries the time since boot by the
// kernel's own clock (printk's local_clock), which no NTP adjusts; boot time (`btime`) plus that
// offset is the record's wall time only as long as the two clocks agree. On a host up for months
// they drift apart by seconds to minutes (what `dmesg -T` warns of), and a record stamped that far
// off can fall before the start of the process it concerns or expire early. A record read live is
// at most a poll old, so `now - (btime + offset)` of records read live is the drift plus their
// wait in the ring: the smallest over recent records is the drift. Records are stamped with it.

/** Samples further off than this are no clock drift (a record file of another host or boot). */
const MAX_DRIFT_MS = 60 * 60_000;
/** The smallest sample of each such period is kept, the last two periods answer. */
const PERIOD_MS = 10 * 60_000;

export class KmsgClock {
  private _current = Infinity;
  private _previous = Infinity;
  private _periodStart = -Infinity;

  /** A record read live at `now`, whose boot time plus offset is `stamped`. */
  sample(stamped: number, now: number): void {
    const lag = now - stamped;
    if (!(Math.abs(lag) <= MAX_DRIFT_MS)) return;
    if (now - this._periodStart >= PERIOD_MS) {
      this._previous = this._current;
      this._current = Infinity;
      this._periodStart = now;
    }
    if (lag < this._current) this._current = lag;
  }

  /** How far the kernel's clock runs behind the wall clock, in ms (ahead: negative); 0 before any sample. */
  get driftMs(): number {
    const d = Math.min(this._current, this._previous);
    return d === Infinity ? 0 : d;
  }

  /** The wall time of a record whose boot time plus offset is `stamped`, read at `now`: never later than now. */
  stamp(stamped: number, now: number): number {
    return Math.min(now, Math.round(stamped + this.driftMs));
  }
}
