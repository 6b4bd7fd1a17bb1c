// The bound on pushed body bytes being ingested by all pushes together (SPEC §6, 503 at the
// bound). Shown as xctl_ingest_queue_bytes and xctl_ingest_queue_full_total{source_kind}.

export class PushQueue {
  /** Bytes held by pushes in flight. */
  queueBytes = 0;
  /** Pushes refused at the bound, per source kind. */
  readonly queueFull = new Map<string, number>([["http", 0]]);

  /**
   * Admits a push declaring `declared` bytes under `bound`, or refuses it (undefined, counted).
   * A push always gets through when nothing else is in flight, so a bound below one body slows
   * pushes down but never locks them out.
   */
  admit(declared: number, bound: number): PushReservation | undefined {
    if (this.queueBytes > 0 && this.queueBytes + declared > bound) {
      this.queueFull.set("http", (this.queueFull.get("http") ?? 0) + 1);
      return undefined;
    }
    return new PushReservation(this, declared);
  }
}

/** One admitted push: holds its declared length up front, then whatever arrives beyond it. */
export class PushReservation {
  private _held: number;
  private _read = 0;
  private _released = false;

  constructor(
    private readonly _queue: PushQueue,
    declared: number,
  ) {
    this._held = declared;
    _queue.queueBytes += declared;
  }

  /** `n` more body bytes arrived. */
  received(n: number): void {
    this._read += n;
    if (this._read > this._held && !this._released) {
      this._queue.queueBytes += this._read - this._held;
      this._held = this._read;
    }
  }

  release(): void {
    if (this._released) return;
    this._released = true;
    this._queue.queueBytes -= this._held;
  }
}
