// Plain counters for the hot path; the metrics module reads them at scrape time.
import { EVENT_TYPES, REJECT_REASONS } from "./schema.ts";

export class EventCounters {
  accepted = 0;
  readonly byType = new Float64Array(EVENT_TYPES.length);
  readonly rejected = new Float64Array(REJECT_REASONS.length);
}
