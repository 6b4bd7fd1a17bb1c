// Fair scheduling of ingest: one budget of work per event-loop turn, shared by every feed. Once
// it is spent, feeds stop and wait for the next turn, and their sources stop reading (a probe's
// pipe fills and the probe blocks on write), so that scrapes, health checks and signals are
// served between slices of a flood instead of after it.

const _nextTurn: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0);

export class Fairness {
  private _spent = 0;
  private _lastEnd = 0;
  private _turn: Promise<void> | null = null;

  /** `enabled` false: work never waits (replay). `sliceMs`: work per turn. */
  constructor(
    readonly enabled: boolean,
    readonly sliceMs: number,
  ) {}

  /** Whether this turn's budget is spent: further work waits for `nextTurn()`. */
  get exhausted(): boolean {
    return this.enabled && this._spent > this.sliceMs;
  }

  /**
   * Records ingest work from `t0` to `t1` (performance.now()). A gap since the last work means
   * the loop did something else (or idled) in between: the budget starts afresh.
   */
  charge(t0: number, t1: number): void {
    if (t0 - this._lastEnd > this.sliceMs / 4) this._spent = 0;
    this._spent += t1 - t0;
    this._lastEnd = t1;
  }

  /** Resolves once the event loop has turned (timers and I/O had their go), with a fresh budget. */
  nextTurn(): Promise<void> {
    if (this._turn === null) {
      this._turn = new Promise<void>((resolve) =>
        _nextTurn(() => {
          this._spent = 0;
          this._turn = null;
          resolve();
        }),
      );
    }
    return this._turn;
  }
}
