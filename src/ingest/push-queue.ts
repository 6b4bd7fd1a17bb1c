// The bound on pushed body bytes being ingested by all pushes together (SPEC §6, 503 at the
// bound). Shown as xctl_ingest_queue_bytes and xctl_ingest_queue_full_total{source_kind}.

export class PushQueue {
  /** Bytes held by pushes in flight. */
  queueBytes = 0;
  /** Pushes refused at the bound, per source kind. */
  readonly queueFull = new Map<string, number>([["http", 0]]);

  /**
   * Admits a push declaring `declared` bytes under `bound`, or refuses it (undefined, counted).
   * Pushes in flight are charged by the bytes they have sent, not by what they declared, so
   * slow clients that declare much and send little hold little. A push always gets through
   * when nothing else is in flight, so a bound below one body slows pushes down but never
   * locks them out.
   */
  admit(declared: number, bound: number): PushReservation | undefined {
    if (this.queueBytes > 0 && this.queueBytes + declared > bound) {
      this.queueFull.set("http", (this.queueFull.get("http") ?? 0) + 1);
      return undefined;
    }
    return new PushReservation(this);
  }
}

/** One admitted push: holds the bytes it has received until it is done. */
export class PushReservation {
  private _held = 0;
  private _released = false;

  constructor(private readonly _queue: PushQueue) {}

  /** `n` more body bytes arrived. */
  received(n: number): void {
    if (this._released) return;
    this._held += n;
    this._queue.queueBytes += n;
  }

  release(): void {
    if (this._released) return;
    this._released = true;
    this._queue.queueBytes -= this._held;
  }
}
