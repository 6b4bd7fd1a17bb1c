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
  // An integer past 2^53 (a probe writing nanoseconds) is no exact millisecond, but it is
  // plainly in the future: the clock check names it `future_ts` and the unit (SPEC §2).
  else if (!Number.isInteger(ts) || ts < 0) return "bad_value";

  // An empty job id is no job (`os.environ.get("SLURM_JOB_ID", "")` in a probe): as a job, it
  // made the pid's process a new one each time it met the job the graph holds (pid reuse).
  let job = o.job_id;
  if (job === undefined || job === "") job = null;
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

/**
 * `reason: what was wrong`, for logs and answers: the field and what was expected
 * (`missing_field: entity_id`, `bad_type: pid must be an integer 0..2147483647 or null, got
 * a string`). Checks `input` (the line, or the decoded value) in validateEvent's order, off the
 * hot path; answers the bare reason when its own finding differs (a cut sample, say).
 */
export function describeRejection(reason: RejectReason, input: unknown): string {
  let obj = input;
  if (typeof input === "string") {
    try {
      obj = JSON.parse(input);
    } catch (e) {
      if (reason === "invalid_json") return `invalid_json: ${(e as Error).message.split("\n")[0]}`;
      if (reason === "truncated") return "truncated: the input ended inside this line (no newline after it, and it is not a whole JSON object)";
      return reason;
    }
  }
  const found = _detail(obj);
  return found !== undefined && found.startsWith(reason + ":") ? found : reason;
}

function _detail(obj: unknown): string | undefined {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return `not_object: an event is a JSON object, got ${_kind(obj)}`;
  const o = obj as Record<string, unknown>;
  const type = o.event_type;
  if (type === undefined || type === null) return "missing_field: event_type";
  if (typeof type !== "string") return `bad_type: event_type must be a string, got ${_kind(type)}`;
  if (!EVENT_TYPE_INDEX.has(type)) return `unknown_event_type: ${JSON.stringify(type).slice(0, 80)} (known: ${EVENT_TYPES.join(", ")})`;
  const entity = o.entity_id;
  if (entity === undefined || entity === null) return "missing_field: entity_id";
  if (typeof entity !== "string") return `bad_type: entity_id must be a string, got ${_kind(entity)}`;
  if (entity.length === 0 || entity.length > MAX_ENTITY_ID_LENGTH) return `bad_value: entity_id must be 1 to ${MAX_ENTITY_ID_LENGTH} characters, got ${entity.length}`;
  const ts = o.ts;
  if (ts !== undefined && ts !== null) {
    if (typeof ts !== "number") return `bad_type: ts must be milliseconds since the epoch (an integer), got ${_kind(ts)}`;
    if (!Number.isInteger(ts) || ts < 0) return `bad_value: ts must be a non-negative integer of milliseconds, got ${ts}`;
  }
  const job = o.job_id;
  if (job !== undefined && job !== null && typeof job !== "string") return `bad_type: job_id must be a string or null, got ${_kind(job)}`;
  const pid = o.pid;
  if (pid !== undefined && pid !== null) {
    if (typeof pid !== "number") return `bad_type: pid must be an integer 0..${MAX_PID} or null, got ${_kind(pid)}`;
    if (!Number.isInteger(pid) || pid < 0 || pid > MAX_PID) return `bad_value: pid must be an integer 0..${MAX_PID}, got ${pid}`;
  }
  const value = o.value;
  if (typeof value === "number" && !Number.isFinite(value)) return "bad_value: value must be a finite number or a string";
  if (value !== undefined && value !== null && typeof value !== "number" && typeof value !== "string") return `bad_type: value must be a string or a number, got ${_kind(value)}`;
  return undefined;
}

function _kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `a string`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return `${v}`;
  return typeof v;
}
