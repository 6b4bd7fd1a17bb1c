// The log of rejected events: a few lines a second, then one line counting what was not logged.
// Each line shows the start of the rejected text with its control characters escaped.
import type { ConsolaInstance } from "consola";
import { escapeControl } from "../escape.ts";
import { describeRejection } from "../events/parse.ts";
import type { RejectReason } from "../events/schema.ts";

/** Lines logged per second before the rest are only counted. */
const PER_SECOND = 5;
/** Characters of a rejected line shown in its log line. */
const SAMPLE_CHARS = 120;

export class RejectLog {
  private _windowStart = 0;
  private _logged = 0;
  private _suppressed = 0;

  constructor(private readonly _log: ConsolaInstance) {}

  note(reason: RejectReason, sample: string, source: string, detail?: string): void {
    const now = Date.now();
    if (now - this._windowStart >= 1000) {
      if (this._suppressed > 0) this._log.warn(`${this._suppressed} more rejected events not logged`);
      this._windowStart = now;
      this._logged = 0;
      this._suppressed = 0;
    }
    if (this._logged < PER_SECOND) {
      this._logged++;
      // The sample is whatever a probe or client sent: control characters (ESC, CR, NUL) escaped.
      // The reason with what was wrong (`missing_field: entity_id`), found again off the hot path.
      this._log.warn(`rejected event from ${source}: ${escapeControl(detail ?? describeRejection(reason, sample))}${sample ? `: ${escapeControl(sample.slice(0, SAMPLE_CHARS))}` : ""}`);
    } else this._suppressed++;
  }
}
