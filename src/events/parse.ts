// Turns one line (or one already-parsed object) into a normalised event or a rejection reason.
// This is the hot path: no exceptions for control flow beyond JSON.parse, one object per event.
import {
  EVENT_TYPE_INDEX,
  EVENT_TYPES,
  MAX_ENTITY_ID_LENGTH,
  MAX_PID,
  type RejectReason,
  type XEvent,
} from "./schema.ts";

export function parseLine(line: string, now: number): XEvent | RejectReason {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return "invalid_json";
  }
  return validateEvent(obj, now);
}

/** Checks one decoded JSON value against SPEC §2. Extra fields are ignored. */
export function validateEvent(obj: unknown, now: number): XEvent | RejectReason {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return "not_object";
  const o = obj as Record<string, unknown>;

  const type = o.event_type;
  if (type === undefined || type === null) return "missing_field";
  if (typeof type !== "string") return "bad_type";
  const typeIndex = EVENT_TYPE_INDEX.get(type);
  if (typeIndex === undefined) return "unknown_event_type";

  const entity = o.entity_id;
  if (entity === undefined || entity === null) return "missing_field";
  if (typeof entity !== "string") return "bad_type";
  if (entity.length === 0 || entity.length > MAX_ENTITY_ID_LENGTH) return "bad_value";

  let ts = o.ts;
  if (ts === undefined || ts === null) ts = now;
  else if (typeof ts !== "number") return "bad_type";
  else if (!Number.isSafeInteger(ts) || ts < 0) return "bad_value";

  let job = o.job_id;
  if (job === undefined) job = null;
  else if (job !== null && typeof job !== "string") return "bad_type";

  let pid = o.pid;
  if (pid === undefined) pid = null;
  else if (pid !== null) {
    if (typeof pid !== "number") return "bad_type";
    if (!Number.isInteger(pid) || pid < 0 || pid > MAX_PID) return "bad_value";
  }

  // Probes written for upstream xctl print `null` for fields they do not know.
  let value = o.value;
  if (value === undefined || value === null) value = "";
  else if (typeof value === "number") {
    if (!Number.isFinite(value)) return "bad_value";
    value = String(value);
  } else if (typeof value !== "string") return "bad_type";

  return {
    ts: ts as number,
    // The schema's own string: later comparisons and lookups meet the same object.
    event_type: EVENT_TYPES[typeIndex],
    entity_id: entity,
    job_id: job as string | null,
    pid: pid as number | null,
    value: value as string,
  };
}
