// Fan-out of accepted events to live readers (the SSE stream). Each reader has a bounded
// buffer; a reader that falls behind is cut off and counted, never buffered without bound.
import type { XEvent } from "./schema.ts";

export interface HubOptions {
  maxClients?: number;
  /** Events buffered per reader before it counts as slow and is dropped. */
  maxBuffered?: number;
}

export class Subscriber {
  readonly buffer: XEvent[] = [];
  closed = false;
  /** Why the hub closed it: `slow` when it fell `maxBuffered` events behind. */
  cutOff: "slow" | undefined = undefined;
  /** Set by the reader: called when the buffer gets events or the subscriber closes. */
  wake: () => void = () => {};
  constructor(readonly types: ReadonlySet<string> | null) {}
}

export class EventHub {
  readonly maxClients: number;
  readonly maxBuffered: number;
  private readonly _subs = new Set<Subscriber>();
  /** Readers cut off, per reason (`slow`, `too_many_clients`). */
  readonly dropped = new Map<string, number>([
    ["slow", 0],
    ["too_many_clients", 0],
  ]);

  constructor(opts: HubOptions = {}) {
    this.maxClients = opts.maxClients ?? 64;
    this.maxBuffered = opts.maxBuffered ?? 1024;
  }

  get clients(): number {
    return this._subs.size;
  }

  /** Undefined when the client cap is reached (counted). */
  subscribe(types: ReadonlySet<string> | null): Subscriber | undefined {
    if (this._subs.size >= this.maxClients) {
      this._count("too_many_clients");
      return undefined;
    }
    const s = new Subscriber(types);
    this._subs.add(s);
    return s;
  }

  unsubscribe(s: Subscriber): void {
    if (!this._subs.delete(s)) return;
    s.closed = true;
    s.wake();
  }

  publish(ev: XEvent): void {
    if (this._subs.size === 0) return;
    for (const s of this._subs) {
      if (s.types !== null && !s.types.has(ev.event_type)) continue;
      if (s.buffer.length >= this.maxBuffered) {
        this.cutOff(s);
        continue;
      }
      s.buffer.push(ev);
      if (s.buffer.length === 1) s.wake();
    }
  }

  /** Cuts a reader off for falling behind (counted as `slow`); its reader is woken to end. */
  cutOff(s: Subscriber): void {
    if (s.closed) return;
    this._count("slow");
    s.cutOff = "slow";
    this.unsubscribe(s);
  }

  closeAll(): void {
    for (const s of [...this._subs]) this.unsubscribe(s);
  }

  private _count(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }
}
