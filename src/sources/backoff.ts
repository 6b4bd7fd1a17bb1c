// Restart delay for a supervised child: 1 s doubling to 30 s, back to 1 s after a minute of health.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** A run that lasted at least this long resets the delay. */
  healthyMs?: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly healthyMs: number;
  private _next: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 1000;
    this.maxMs = opts.maxMs ?? 30_000;
    this.healthyMs = opts.healthyMs ?? 60_000;
    this._next = this.initialMs;
  }

  /** The delay before the next start, given how long the last run lasted. */
  delayAfter(runMs: number): number {
    if (runMs >= this.healthyMs) this._next = this.initialMs;
    const delay = this._next;
    this._next = Math.min(this._next * 2, this.maxMs);
    return delay;
  }
}
