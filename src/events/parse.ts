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
  const fast = parseCanonical(line);
  if (fast !== undefined) return fast;
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

/**
 * The line exactly as xctl probes print it, read without JSON.parse (a third faster on this
 * path, see BENCHMARKS.md): `{"ts":N,"event_type":"T","entity_id":"E","job_id":"J"|null,
 * "pid":N|null,"value":"V"}` in that order, no whitespace, no escapes, values in range.
 * Anything else, valid or not, is undefined and goes through JSON.parse and validateEvent;
 * for every line this accepts, that path gives the same event.
 */
export function parseCanonical(s: string): XEvent | undefined {
  if (!s.startsWith('{"ts":')) return undefined;
  let i = 6;
  const ts = _int(s, i, 15);
  if (ts < 0) return undefined;
  i = _end;
  if (!s.startsWith(',"event_type":"', i)) return undefined;
  i += 15;
  let j = _strEnd(s, i);
  if (j < 0) return undefined;
  const typeIndex = EVENT_TYPE_INDEX.get(s.slice(i, j));
  if (typeIndex === undefined) return undefined;
  i = j + 1;
  if (!s.startsWith(',"entity_id":"', i)) return undefined;
  i += 14;
  j = _strEnd(s, i);
  if (j <= i || j - i > MAX_ENTITY_ID_LENGTH) return undefined;
  const entity = s.slice(i, j);
  i = j + 1;
  if (!s.startsWith(',"job_id":', i)) return undefined;
  i += 10;
  let job: string | null = null;
  if (s.charCodeAt(i) === 34) {
    j = _strEnd(s, i + 1);
    if (j < 0) return undefined;
    job = s.slice(i + 1, j);
    i = j + 1;
  } else if (s.startsWith("null", i)) i += 4;
  else return undefined;
  if (!s.startsWith(',"pid":', i)) return undefined;
  i += 7;
  let pid: number | null = null;
  if (s.startsWith("null", i)) i += 4;
  else {
    pid = _int(s, i, 10);
    if (pid < 0 || pid > MAX_PID) return undefined;
    i = _end;
  }
  if (!s.startsWith(',"value":"', i)) return undefined;
  i += 10;
  j = _strEnd(s, i);
  // The string must close the object: `"}` and nothing after it.
  if (j < 0 || j !== s.length - 2 || s.charCodeAt(j + 1) !== 125) return undefined;
  return { ts, event_type: EVENT_TYPES[typeIndex], entity_id: entity, job_id: job, pid, value: s.slice(i, j) };
}

/** Where the last _int stopped. */
let _end = 0;

/** A JSON integer without sign, fraction or exponent, of at most `maxDigits`; -1 otherwise. */
function _int(s: string, i: number, maxDigits: number): number {
  let c = s.charCodeAt(i);
  if (c === 48) {
    // JSON has no leading zeros: "0" must end the number.
    c = s.charCodeAt(i + 1);
    if (c >= 48 && c <= 57) return -1;
    _end = i + 1;
    return _endsNumber(c) ? 0 : -1;
  }
  let n = 0;
  const start = i;
  for (; c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
  if (i === start || i - start > maxDigits || !_endsNumber(c)) return -1;
  _end = i;
  return n;
}

/** A number followed by `,` is whole here; `.`, `e` or anything else leaves it to JSON.parse. */
function _endsNumber(c: number): boolean {
  return c === 44;
}

/** Index of the quote that closes a string starting at `i`; -1 for an escape or a control character. */
function _strEnd(s: string, i: number): number {
  const j = s.indexOf('"', i);
  if (j < 0) return -1;
  for (let k = i; k < j; k++) {
    const c = s.charCodeAt(k);
    if (c < 32 || c === 92) return -1;
  }
  return j;
}

export function isRejection(r: XEvent | RejectReason): r is RejectReason {
  return typeof r === "string";
}
