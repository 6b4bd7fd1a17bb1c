// The fast path of event parsing: reads one NDJSON line straight from its bytes, for the
// lines probes actually print (one flat object, ASCII strings without escapes, integers).
// It only ever accepts. A line it is not sure of gets `undefined` and takes the full path
// (decode, JSON.parse, validate), which decides and names the reason; a test holds the two
// paths to the same answer on every line the scanner accepts. Repeated strings (entity ids,
// job ids, values) come from a small intern table (intern.ts), so a usual line allocates one
// object, and the graph's map lookups meet a string whose hash is already known.
import { InternTable } from "./intern.ts";
import { EVENT_TYPES, eventTypeIndexOf, MAX_ENTITY_ID_LENGTH, MAX_PID, type EventType, type XEvent } from "./schema.ts";

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN = 123;
const CLOSE = 125;
const ZERO = 48;
const NEWLINE = 10;
const NINE = 57;

// Field bits, so a repeated key (JSON.parse keeps the last one) goes to the full path.
const F_TS = 1;
const F_TYPE = 2;
const F_ENTITY = 4;
const F_JOB = 8;
const F_PID = 16;
const F_VALUE = 32;

/** What `_intOrNull` gives for null: below every integer it gives, and not its -1. */
const _NULL = -2;

export class EventScanner {
  // Ids (entity, job) and values in separate tables: a value that changes with every event
  // (an IOPS count) must not push out the handful of ids every event repeats.
  private readonly _ids: InternTable;
  private readonly _values: InternTable;

  /** `slots`: size of each intern table, a power of two; the tables never grow. */
  constructor(slots = 2048) {
    this._ids = new InternTable(slots);
    this._values = new InternTable(slots);
  }

  /** Where the line that `scanLine` took ends: one past its newline. */
  next = 0;
  /** A view of the last buffer `_compact` read, for four bytes at a time. */
  private _dvOf: Uint8Array | null = null;
  private _dv: DataView = new DataView(new ArrayBuffer(0));

  /**
   * The event on the line that starts at `from` and ends at the next newline before `to`,
   * which `next` then points past; undefined when the full path must decide, and for a line
   * longer than `maxLineBytes` (not counting a CR before the newline), which it rejects.
   */
  scanLine(buf: Uint8Array, from: number, to: number, maxLineBytes: number, now: number): XEvent | undefined {
    const ev = this._compact(buf, from, to, now, maxLineBytes);
    return ev !== undefined ? ev : this._general(buf, from, to, now, maxLineBytes);
  }

  /**
   * The line exactly as probes written for xctl print it: SPEC §2's fields in SPEC §2's order,
   * no spaces. Read front to back against the literal keys, without the general loop's
   * dispatch per field; anything else (another order, spaces, a missing or extra field) is
   * left to the general loop, which accepts the same events.
   */
  private _compact(buf: Uint8Array, from: number, to: number, now: number, maxLineBytes: number): XEvent | undefined {
    let dv = this._dv;
    if (this._dvOf !== buf) {
      // One view per chunk read, not per line.
      this._dvOf = buf;
      this._dv = dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    let i = from;
    if (!_at(dv, i, to, _K_TS)) return undefined;
    i += _K_TS.length;
    let n = this._intOrNull(buf, i, to);
    if (n === -1) return undefined;
    const ts = n === _NULL ? now : n;
    i = this._intEnd;

    if (!_at(dv, i, to, _K_TYPE)) return undefined;
    i += _K_TYPE.length;
    let j = _stringEnd(buf, i, to);
    if (j < 0) return undefined;
    const type = _eventType(buf, i, j);
    if (type === undefined) return undefined;

    if (!_at(dv, j, to, _K_ENTITY)) return undefined;
    i = j + _K_ENTITY.length;
    j = _stringEnd(buf, i, to);
    if (j <= i || j - i > MAX_ENTITY_ID_LENGTH) return undefined;
    const entity = this._ids.get(buf, i, j);

    if (!_at(dv, j, to, _K_JOB)) return undefined;
    i = j + _K_JOB.length;
    let job: string | null = null;
    if (buf[i] === QUOTE) {
      j = _stringEnd(buf, i + 1, to);
      if (j < 0) return undefined;
      job = j === i + 1 ? null : this._ids.get(buf, i + 1, j); // "" is no job (parse.ts)
      i = j + 1;
    } else if (_isNull(buf, i, to)) i += 4;
    else return undefined;

    if (!_at(dv, i, to, _K_PID)) return undefined;
    i += _K_PID.length;
    n = this._intOrNull(buf, i, to);
    if (n === -1 || n > MAX_PID) return undefined;
    const pid = n === _NULL ? null : n;
    i = this._intEnd;

    if (!_at(dv, i, to, _K_VALUE)) return undefined;
    i += _K_VALUE.length;
    let value = "";
    if (buf[i] === QUOTE) {
      j = _stringEnd(buf, i + 1, to);
      if (j < 0) return undefined;
      value = this._values.get(buf, i + 1, j);
      i = j + 1;
    } else if (this._integer(buf, i, to) >= 0) {
      // A number is kept as its decimal text, which for such an integer is the token itself.
      value = this._values.get(buf, i, this._intEnd);
      i = this._intEnd;
    } else if (_isNull(buf, i, to)) i += 4;
    else return undefined;

    if (i >= to || buf[i] !== CLOSE) return undefined;
    return this._end(buf, from, i + 1, to, maxLineBytes) ? { ts, event_type: type, entity_id: entity, job_id: job, pid, value } : undefined;
  }

  /** Where the token `_integer` read ends. */
  private _intEnd = 0;

  /**
   * The JSON integer at `at` (no sign, fraction, exponent or leading zero, and safe), with its
   * end in `_intEnd`; -1 for anything else.
   */
  private _integer(buf: Uint8Array, at: number, to: number): number {
    let i = at;
    let n = 0;
    for (; i < to; i++) {
      const c = buf[i];
      if (c < ZERO || c > NINE) break;
      n = n * 10 + (c - ZERO);
    }
    const len = i - at;
    if (len === 0 || (len > 1 && buf[at] === ZERO) || (len > 15 && !Number.isSafeInteger(n))) return -1;
    if (i < to) {
      const c = buf[i];
      if (c === 46 || c === 101 || c === 69) return -1; // . e E
    }
    this._intEnd = i;
    return n;
  }

  /** As `_integer`, and `_NULL` for a JSON null. */
  private _intOrNull(buf: Uint8Array, at: number, to: number): number {
    if (!_isNull(buf, at, to)) return this._integer(buf, at, to);
    this._intEnd = at + 4;
    return _NULL;
  }

  /** Whether only blanks follow the object up to the line's newline; sets `next` past it. */
  private _end(buf: Uint8Array, from: number, at: number, to: number, maxLineBytes: number): boolean {
    const i = _skipWs(buf, at, to);
    const end = buf[i] === 13 ? i + 1 : i; // CRLF
    if (end >= to || buf[end] !== NEWLINE || i - from > maxLineBytes) return false;
    this.next = end + 1;
    return true;
  }

  /** Any flat object, keys in any order, blanks anywhere JSON allows them. */
  private _general(buf: Uint8Array, from: number, to: number, now: number, maxLineBytes: number): XEvent | undefined {
    let i = _skipWs(buf, from, to);
    if (buf[i] !== OPEN) return undefined;
    i = _skipWs(buf, i + 1, to);
    let seen = 0;
    let ts = now;
    let type: EventType | undefined;
    let entity = "";
    let job: string | null = null;
    let pid: number | null = null;
    let value = "";
    for (;;) {
      // "key":
      if (buf[i] !== QUOTE) return undefined;
      const field = _field(buf, i + 1);
      if (field !== 0) {
        if ((seen & field) !== 0) return undefined;
        seen |= field;
        i += _KEY_LENGTH[field] + 2;
      } else {
        const j = _stringEnd(buf, i + 1, to);
        if (j < 0) return undefined;
        i = j + 1;
      }
      i = _skipWs(buf, i, to);
      if (buf[i] !== COLON) return undefined;
      i = _skipWs(buf, i + 1, to);
      // value
      let c = buf[i];
      if (c === QUOTE) {
        const sFrom = i + 1;
        const j = _stringEnd(buf, sFrom, to);
        if (j < 0) return undefined;
        i = j + 1;
        switch (field) {
          case F_TYPE:
            type = _eventType(buf, sFrom, j);
            if (type === undefined) return undefined;
            break;
          case F_ENTITY:
            if (j === sFrom || j - sFrom > MAX_ENTITY_ID_LENGTH) return undefined;
            entity = this._ids.get(buf, sFrom, j);
            break;
          case F_JOB:
            job = j === sFrom ? null : this._ids.get(buf, sFrom, j); // "" is no job (parse.ts)
            break;
          case F_VALUE:
            value = this._values.get(buf, sFrom, j);
            break;
          case 0:
            break;
          default:
            return undefined; // ts or pid as a string: a type error, named by the full path
        }
      } else if (c >= ZERO && c <= NINE) {
        const nFrom = i;
        const n = this._integer(buf, i, to);
        if (n < 0) return undefined;
        i = this._intEnd;
        switch (field) {
          case F_TS:
            ts = n;
            break;
          case F_PID:
            if (n > MAX_PID) return undefined;
            pid = n;
            break;
          case F_VALUE:
            // A number is kept as its decimal text, which for such an integer is the token itself.
            value = this._values.get(buf, nFrom, i);
            break;
          case 0:
            break;
          default:
            return undefined;
        }
      } else if (_isNull(buf, i, to)) {
        // null, which upstream probes print for a field they do not know: ts, job_id, pid
        // and value already hold what it means.
        if (field === F_TYPE || field === F_ENTITY) return undefined;
        i += 4;
      } else return undefined;
      i = _skipWs(buf, i, to);
      c = buf[i];
      if (c === COMMA) {
        i = _skipWs(buf, i + 1, to);
        continue;
      }
      if (c !== CLOSE || !this._end(buf, from, i + 1, to, maxLineBytes)) return undefined;
      break;
    }
    if (type === undefined || (seen & F_ENTITY) === 0) return undefined;
    return { ts, event_type: type, entity_id: entity, job_id: job, pid, value };
  }
}

function _skipWs(buf: Uint8Array, i: number, to: number): number {
  while (i < to) {
    const b = buf[i];
    if (b !== 32 && b !== 9) break;
    i++;
  }
  return i;
}

// The compact layout's literal parts, each up to the next value, compared four bytes at a time.
const _K_TS = _literal('{"ts":');
const _K_TYPE = _literal(',"event_type":"');
const _K_ENTITY = _literal('","entity_id":"');
const _K_JOB = _literal('","job_id":');
const _K_PID = _literal(',"pid":');
const _K_VALUE = _literal(',"value":');

/**
 * A literal as little-endian 32-bit words, at offsets 0, 4, 8, ... and one more ending at its
 * last byte (overlapping the one before).
 */
interface _Literal {
  length: number;
  offsets: Int32Array;
  words: Int32Array;
}

function _literal(text: string): _Literal {
  const k = _bytes(text);
  if (k.length < 4) throw new Error(`scan: literal ${text} is shorter than a word`);
  const dv = new DataView(k.buffer);
  const offsets: number[] = [];
  for (let j = 0; j + 4 <= k.length; j += 4) offsets.push(j);
  if (k.length % 4 !== 0) offsets.push(k.length - 4);
  return { length: k.length, offsets: Int32Array.from(offsets), words: Int32Array.from(offsets, (j) => dv.getInt32(j, true)) };
}

/** Whether the bytes `dv` views start with the literal `k` at `at`, before `to`. */
function _at(dv: DataView, at: number, to: number, k: _Literal): boolean {
  if (at + k.length > to) return false;
  const offsets = k.offsets;
  const words = k.words;
  for (let j = 0; j < offsets.length; j++) if (dv.getInt32(at + offsets[j], true) !== words[j]) return false;
  return true;
}

function _isNull(buf: Uint8Array, at: number, to: number): boolean {
  return at + 4 <= to && buf[at] === 110 && buf[at + 1] === 117 && buf[at + 2] === 108 && buf[at + 3] === 108;
}

/** The index of the quote closing a string whose content starts at `at`, or -1 when it needs the full path. */
function _stringEnd(buf: Uint8Array, at: number, to: number): number {
  for (let j = at; j < to; j++) {
    const c = buf[j];
    if (c === QUOTE) return j;
    if (c < 32 || c === BACKSLASH || c > 126) return -1;
  }
  return -1;
}

const _KEY_BYTES: Uint8Array[] = [];
const _KEY_LENGTH: number[] = [];
for (const [k, f] of [
  ["ts", F_TS],
  ["event_type", F_TYPE],
  ["entity_id", F_ENTITY],
  ["job_id", F_JOB],
  ["pid", F_PID],
  ["value", F_VALUE],
] as const) {
  _KEY_BYTES[f] = _bytes(k + '"');
  _KEY_LENGTH[f] = k.length;
}

/** The field bit of the key starting at `at` (just past its quote), or 0 for any other key. */
function _field(buf: Uint8Array, at: number): number {
  let f: number;
  switch (buf[at]) {
    case 116: // t
      f = F_TS;
      break;
    case 101: // e
      f = buf[at + 1] === 118 ? F_TYPE : F_ENTITY;
      break;
    case 106: // j
      f = F_JOB;
      break;
    case 112: // p
      f = F_PID;
      break;
    case 118: // v
      f = F_VALUE;
      break;
    default:
      return 0;
  }
  return _sameBytes(_KEY_BYTES[f], buf, at) ? f : 0;
}

const _TYPE_BYTES = EVENT_TYPES.map(_bytes);

/** The schema's own string for the event type on `buf[from, to)`, or undefined. */
function _eventType(buf: Uint8Array, from: number, to: number): EventType | undefined {
  const i = eventTypeIndexOf(to - from, buf[to - 1]);
  return i >= 0 && _sameBytes(_TYPE_BYTES[i], buf, from) ? EVENT_TYPES[i] : undefined;
}

function _bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function _sameBytes(k: Uint8Array, buf: Uint8Array, at: number): boolean {
  for (let j = 0; j < k.length; j++) if (k[j] !== buf[at + j]) return false;
  return true;
}

// Each shape a probe's line takes, read once when this module loads. A stream often opens
// with lines of one shape (a placement burst: every line with a pid, a job and a quoted
// value), and an optimising JIT compiles for what it has seen: the first line without a pid
// then throws the compiled scanner away, and it runs slower until compiled again. Seen here
// first, every branch is in the first compile.
{
  const shapes = [
    '{"ts":1,"event_type":"compute.util","entity_id":"gpu-0","job_id":"j","pid":1,"value":"5"}',
    '{"ts":null,"event_type":"error.hw","entity_id":"gpu-0","job_id":null,"pid":null,"value":"XID_79"}',
    '{"ts":1,"event_type":"storage.iops","entity_id":"nvme0n1","job_id":null,"pid":null,"value":12}',
    '{"ts":1,"event_type":"process.state","entity_id":"pid-1","job_id":"j","pid":1,"value":null}',
  ].join("\n");
  const bytes = Uint8Array.from(shapes + "\n", (c) => c.charCodeAt(0));
  const sc = new EventScanner(16);
  for (let at = 0; at < bytes.length; at = sc.next) if (sc.scanLine(bytes, at, bytes.length, 1024, 0) === undefined) throw new Error("scan: a primed shape was declined");
}
