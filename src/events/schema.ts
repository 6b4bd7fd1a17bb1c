// The wire format of SPEC §2: one JSON object per line.

export const EVENT_TYPES = [
  "compute.util",
  "compute.mem",
  "transport.bw",
  "transport.drop",
  "storage.iops",
  "storage.qdepth",
  "process.state",
  "error.hw",
  "error.net",
  "topo.link_down",
  "intent.run",
  "action.exec",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Index of each event type, for plain-array counters on the hot path. */
export const EVENT_TYPE_INDEX: ReadonlyMap<string, number> = new Map(
  EVENT_TYPES.map((t, i) => [t, i]),
);

/**
 * The twelve types differ in length or last letter, so those two pick the index of a type:
 * two reads of a string the JIT already holds, where a map lookup hashes. -1 when no type
 * has them (a name of that length and last letter may still be no type: compare it).
 */
export function eventTypeIndexOf(length: number, lastChar: number): number {
  return length < 64 ? _TYPE_BY_SLOT[(length << 6) | (lastChar & 63)] : -1;
}

/** The index of a type known to be valid. */
export function eventTypeIndex(t: EventType): number {
  return eventTypeIndexOf(t.length, t.charCodeAt(t.length - 1));
}

const _TYPE_BY_SLOT = new Int8Array(64 << 6).fill(-1);
for (const [i, t] of EVENT_TYPES.entries()) {
  const slot = (t.length << 6) | (t.charCodeAt(t.length - 1) & 63);
  if (_TYPE_BY_SLOT[slot] !== -1) throw new Error(`event types ${t} and ${EVENT_TYPES[_TYPE_BY_SLOT[slot]]} share a slot`);
  _TYPE_BY_SLOT[slot] = i;
}

/** An accepted event, normalised: ts filled in, value always a string. */
export interface XEvent {
  ts: number;
  event_type: EventType;
  entity_id: string;
  job_id: string | null;
  pid: number | null;
  value: string;
}

/** `process.state` values that end a process (it leaves the graph at the next cleanup). */
export function isEnded(state: string): boolean {
  return state === "exit" || state === "zombie" || state === "oom_killed" || state === "killed";
}

export const REJECT_REASONS = [
  "invalid_json",
  "invalid_utf8",
  "not_object",
  "unknown_event_type",
  "missing_field",
  "bad_type",
  "bad_value",
  "too_long",
  "future_ts",
  "bad_ts",
  "too_deep",
  "truncated",
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export const REJECT_REASON_INDEX: ReadonlyMap<string, number> = new Map(
  REJECT_REASONS.map((r, i) => [r, i]),
);

export const MAX_ENTITY_ID_LENGTH = 256;
export const MAX_PID = 2 ** 31 - 1;
/** Default limit of one line, in bytes. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
