// Numbers in event values. A reading's value is text (SPEC §2), compared with thresholds by the
// graph (which readings to tell the diagnosis of) and by the rules: one strict parser for both.

// Every reading is parsed where a threshold reads it, often the same text several times in a
// row: the last answer is kept.
let _lastText = "";
let _lastNum: number | undefined;

/** A strict decimal number, `[+-]?(d+.?d*|.d+)(e[+-]?d+)?`: what a threshold or a numeric comparison accepts. */
export function parseNumber(text: string): number | undefined {
  if (text === _lastText) return _lastNum;
  const n = _smallInteger(text);
  if (n >= 0) {
    _lastText = text;
    _lastNum = n;
    return n;
  }
  return _parseDecimal(text);
}

/** The value of a string of at most 9 ASCII digits (most readings), else -1. Exact, unlike summing fractions. */
function _smallInteger(text: string): number {
  const len = text.length;
  if (len === 0 || len > 9) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function _parseDecimal(text: string): number | undefined {
  const t = text.trim();
  let n: number | undefined;
  if (_isDecimal(t)) {
    n = Number(t);
    if (!Number.isFinite(n)) n = undefined;
  }
  _lastText = text;
  _lastNum = n;
  return n;
}

// A scan instead of a regular expression: this runs once per resource reading.
function _isDecimal(t: string): boolean {
  const len = t.length;
  let i = 0;
  let c = t.charCodeAt(0);
  if (c === 43 || c === 45) c = t.charCodeAt(++i); // + -
  const intStart = i;
  while (c >= 48 && c <= 57) c = t.charCodeAt(++i);
  const intDigits = i - intStart;
  if (c === 46) {
    // .
    c = t.charCodeAt(++i);
    const fracStart = i;
    while (c >= 48 && c <= 57) c = t.charCodeAt(++i);
    if (intDigits === 0 && i === fracStart) return false;
  } else if (intDigits === 0) return false;
  if (c === 101 || c === 69) {
    // e E
    c = t.charCodeAt(++i);
    if (c === 43 || c === 45) c = t.charCodeAt(++i);
    const expStart = i;
    while (c >= 48 && c <= 57) c = t.charCodeAt(++i);
    if (i === expStart) return false;
  }
  return i === len;
}
