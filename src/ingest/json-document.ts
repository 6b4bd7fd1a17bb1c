// A pushed JSON document (`application/json`): one event object, or an array of them. Split into
// its elements by one pass over the bytes, before anything is parsed, so that each element is
// parsed on its own: a broken or too deeply nested element is rejected alone (the elements
// around it count), the nesting of an element is known before JSON.parse sees it, and a big
// array is parsed in slices between which the server answers other requests.

/** Deepest nesting an element may have (an event is flat: the object itself is depth 1). */
export const MAX_ELEMENT_DEPTH = 64;

export interface JsonElement {
  from: number;
  to: number;
  /** Nesting depth of the element (1 for a flat object; 0 for a scalar). */
  depth: number;
}

const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/** Bytes of the document looked at per step (so a big body is split between other work). */
const STEP_BYTES = 64 * 1024;

// The bytes the split looks at; every other byte is skipped with one table read.
const _CLASS = new Uint8Array(256);
_CLASS[QUOTE] = 1;
_CLASS[OPEN_ARRAY] = 2;
_CLASS[OPEN_OBJECT] = 2;
_CLASS[CLOSE_ARRAY] = 3;
_CLASS[CLOSE_OBJECT] = 3;
_CLASS[COMMA] = 4;

/**
 * Splits the document in `b` into its elements, a step at a time: an array's elements, or the
 * one object. `elements` is undefined when `b` is not one array or object (unbalanced, or
 * something after it: NDJSON sent as JSON, or garbage), which the caller frames as lines
 * instead. Element syntax is left to JSON.parse.
 */
export class JsonSplitter {
  elements: JsonElement[] | undefined = [];
  done = false;
  private readonly _end: number;
  private _i: number;
  private _array = false;
  private _depth = 0;
  private _inString = false;
  private _elemFrom = 0;
  private _elemMax = 0;
  private _start = 0;

  constructor(private readonly _b: Uint8Array) {
    const end = (this._end = _b.length);
    const start = (this._start = _skipWs(_b, 0, end));
    this._i = start;
    if (start === end) {
      this.done = true;
      return;
    }
    const opener = _b[start];
    if (opener !== OPEN_ARRAY && opener !== OPEN_OBJECT) {
      this._fail();
      return;
    }
    this._array = opener === OPEN_ARRAY;
    this._elemFrom = start + 1;
  }

  /** Looks at up to STEP_BYTES more bytes; `done` once the split is decided. */
  step(): void {
    if (this.done) return;
    const b = this._b;
    const stop = Math.min(this._end, this._i + STEP_BYTES);
    let i = this._i;
    let depth = this._depth;
    let inString = this._inString;
    for (; i < stop; i++) {
      const c = b[i];
      if (inString) {
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) inString = false;
        continue;
      }
      const k = _CLASS[c];
      if (k === 0) continue;
      if (k === 1) inString = true;
      else if (k === 2) {
        depth++;
        if (depth - 1 > this._elemMax) this._elemMax = depth - 1;
      } else if (k === 3) {
        depth--;
        if (depth === 0) {
          if (c !== (this._array ? CLOSE_ARRAY : CLOSE_OBJECT)) return this._fail();
          this._finish(i);
          return;
        }
      } else if (depth === 1 && this._array) {
        this.elements!.push(_element(b, this._elemFrom, i, this._elemMax));
        this._elemFrom = i + 1;
        this._elemMax = 0;
      }
    }
    this._i = i;
    this._depth = depth;
    this._inString = inString;
    if (i >= this._end) this._fail();
  }

  private _finish(close: number): void {
    this.done = true;
    if (_skipWs(this._b, close + 1, this._end) !== this._end) return this._fail();
    if (!this._array) {
      this.elements = [{ from: this._start, to: close + 1, depth: this._elemMax + 1 }];
      return;
    }
    const last = _element(this._b, this._elemFrom, close, this._elemMax);
    // `[]` has no element; `[1,]` has an empty last one, which JSON.parse rejects.
    if (last.from < last.to || this.elements!.length > 0) this.elements!.push(last);
  }

  private _fail(): void {
    this.done = true;
    this.elements = undefined;
  }
}

/** The whole split at once (tests, small bodies). */
export function splitJsonDocument(b: Uint8Array): JsonElement[] | undefined {
  const s = new JsonSplitter(b);
  while (!s.done) s.step();
  return s.elements;
}

function _element(b: Uint8Array, from: number, to: number, depth: number): JsonElement {
  from = _skipWs(b, from, to);
  while (to > from && _isWs(b[to - 1])) to--;
  return { from, to, depth };
}

function _isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function _skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end && _isWs(b[i])) i++;
  return i;
}
