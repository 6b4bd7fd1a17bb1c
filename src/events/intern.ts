// The scanner's intern table: strings by their bytes, so a line that repeats an id or a
// reading costs no allocation and the graph's map lookups meet a string whose hash is known.

/** Strings longer than this are made fresh each time instead of interned. */
const MAX_INTERNED = 64;

/**
 * Strings by their bytes, one per slot of a fixed table (a new string takes the slot of an
 * old one with the same hash). Keeps the bytes beside each string: comparing bytes with
 * bytes is much cheaper than reading a string back with charCodeAt.
 */
export class InternTable {
  private readonly _strings: string[];
  private readonly _bytes: Uint8Array;
  private readonly _lengths: Int32Array;
  /**
   * 1 when the slot's string was asked for again since it came in. A miss replaces only a
   * string that was not, and takes that chance away from the one there: a stream of values
   * that never repeat (IOPS counts) then passes by without pushing out the ids and readings
   * that do.
   */
  private readonly _reused: Uint8Array;
  private readonly _mask: number;
  /** Strings made because the table did not hold them (for tests and benchmarks). */
  misses = 0;

  constructor(slots: number) {
    this._strings = new Array<string>(slots).fill("");
    this._bytes = new Uint8Array(slots * MAX_INTERNED);
    this._lengths = new Int32Array(slots).fill(-1);
    this._reused = new Uint8Array(slots);
    this._mask = slots - 1;
  }

  /** The string of the ASCII bytes `buf[from, to)`. */
  get(buf: Uint8Array, from: number, to: number): string {
    const len = to - from;
    if (len > MAX_INTERNED || len === 0) return _ascii(buf, from, to);
    // A hash of the length and the last four bytes, where ids and readings differ ("gpu-07",
    // "job-0012", "81"), instead of a hash over every byte. For a shorter string the bytes
    // before it (the line's own `":"`) join in. A clash only costs a slot: bytes are compared.
    const last = to - 1;
    const hash = len ^ (buf[last] << 4) ^ (buf[last - 1] << 11) ^ (buf[last - 2] << 18) ^ (buf[last - 3] << 25);
    const slot = (Math.imul(hash, 0x9e3779b1) >>> 16) & this._mask;
    const bytes = this._bytes;
    const at = slot * MAX_INTERNED;
    if (this._lengths[slot] === len) {
      let j = 0;
      while (j < len && bytes[at + j] === buf[from + j]) j++;
      if (j === len) {
        this._reused[slot] = 1;
        return this._strings[slot];
      }
    }
    this.misses++;
    const s = _ascii(buf, from, to);
    if (this._reused[slot] === 1) {
      this._reused[slot] = 0;
      return s;
    }
    this._strings[slot] = s;
    this._lengths[slot] = len;
    for (let j = 0; j < len; j++) bytes[at + j] = buf[from + j];
    return s;
  }
}

// A flat string (one built by `+=` is a rope, slow to read back char by char); the short
// ones, which most values are, without allocating an array of codes.
function _ascii(b: Uint8Array, f: number, to: number): string {
  switch (to - f) {
    case 0:
      return "";
    case 1:
      return String.fromCharCode(b[f]);
    case 2:
      return String.fromCharCode(b[f], b[f + 1]);
    case 3:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2]);
    case 4:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2], b[f + 3]);
    case 5:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2], b[f + 3], b[f + 4]);
    case 6:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2], b[f + 3], b[f + 4], b[f + 5]);
    case 7:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2], b[f + 3], b[f + 4], b[f + 5], b[f + 6]);
    case 8:
      return String.fromCharCode(b[f], b[f + 1], b[f + 2], b[f + 3], b[f + 4], b[f + 5], b[f + 6], b[f + 7]);
    default:
      return String.fromCharCode.apply(null, b.subarray(f, to) as unknown as number[]);
  }
}
