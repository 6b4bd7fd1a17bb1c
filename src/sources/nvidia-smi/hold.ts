// Faults read before the first process snapshot, held until it is in (at most `forMs`): a fault
// standing when the exporter starts concerns the processes already on the GPU, and the graph
// charges a device fault only to the processes using the device when it arrives.
import type { SmiEvent } from "./tracker.ts";

/** At most this many faults are held; more (a host of many sick GPUs) pass at once. */
const MAX_HELD = 1024;

export class FaultHold {
  private _held: SmiEvent[] = [];
  private _until: number | null = null;
  private _seen = false;

  constructor(private readonly _forMs: number) {}

  /** Whether faults wait for the first snapshot. */
  get waiting(): boolean {
    return this._held.length > 0;
  }

  /** The events to send now; the faults among them are kept while no snapshot was read. */
  pass(events: SmiEvent[], now: number): SmiEvent[] {
    const out: SmiEvent[] = [];
    for (const e of events) {
      if (e.event_type === "error.hw" && !this._seen) {
        this._until ??= now + this._forMs;
        if (now < this._until) {
          if (this._held.length < MAX_HELD) this._held.push(e);
          continue;
        }
      }
      out.push(e);
    }
    return out;
  }

  /** The held faults, stamped now (each a condition still standing or a count still risen), once `snapshot` or their time is up. */
  release(now: number, snapshot: boolean): SmiEvent[] {
    this._seen ||= snapshot;
    if (!this._seen && (this._until === null || now < this._until)) return [];
    const held = this._held;
    this._held = [];
    return held.map((e) => ({ ...e, ts: now }));
  }
}
