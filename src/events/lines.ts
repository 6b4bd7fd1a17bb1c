// Line framing for NDJSON byte streams. Survives a line split across reads, CRLF, a last line
// without newline, blank lines and invalid UTF-8; a line over the limit is rejected as
// `too_long` and never buffered whole (only its first `maxLineBytes` are ever held). A lone CR
// ends a line too (old Mac line ends, or a probe that prints `\r`): never a silent merge of two
// events into one invalid line.
import type { RejectReason } from "./schema.ts";

const NL = 10;
const CR = 13;
/** For the start of a rejected line in a log message: never throws. */
const _sampleDecoder = new TextDecoder("utf-8");

export type LineHandler = (line: string) => void;
export type RejectHandler = (reason: RejectReason, sample: string) => void;
/**
 * Offered whole lines as bytes before they are decoded: `buf[from, to)` holds one or more
 * lines, each ending in a newline. It takes lines from the start for as long as it can and
 * returns where it stopped: `to` once it took them all, else the start of the first line it
 * declined, which the framer decodes and gives to the line handler (or rejects). It must not
 * take a line longer than the framer's limit, not counting a CR before the newline.
 */
export type BytesHandler = (buf: Uint8Array, from: number, to: number) => number;

export class LineFramer {
  private _held: Uint8Array[] = [];
  private _heldBytes = 0;
  /** Inside a line already rejected as too long: drop bytes up to the next newline. */
  private _skipping = false;
  private readonly _decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(
    readonly maxLineBytes: number,
    private readonly _onLine: LineHandler,
    private readonly _onReject: RejectHandler,
    private readonly _onBytes?: BytesHandler,
  ) {}

  push(chunk: Uint8Array): void {
    // A CR becomes a newline: a lone CR then ends its line, and a CRLF gives an empty line,
    // which is skipped. A JSON line never holds a raw CR (inside strings it must be escaped).
    if (chunk.indexOf(CR) !== -1) chunk = _crToNewline(chunk);
    const last = chunk.lastIndexOf(NL);
    if (last === -1) {
      this._hold(chunk);
      return;
    }
    let start = 0;
    if (this._heldBytes > 0 || this._skipping) {
      const first = chunk.indexOf(NL);
      this._finishHeld(chunk.subarray(0, first));
      start = first + 1;
    }
    if (start <= last) this._block(chunk.subarray(start, last + 1));
    if (last + 1 < chunk.length) this._hold(chunk.subarray(last + 1));
  }

  /** End of stream: a last line without newline still counts. */
  end(): void {
    if (this._heldBytes > 0 && !this._skipping) this._finishHeld(new Uint8Array(0));
    this._held = [];
    this._heldBytes = 0;
    this._skipping = false;
  }

  /** Whole lines, each ending in a newline: offered as bytes, or else decoded in one go. */
  private _block(bytes: Uint8Array): void {
    if (this._onBytes !== undefined) {
      this._offer(bytes, this._onBytes);
      return;
    }
    let text: string;
    try {
      text = this._decoder.decode(bytes);
    } catch {
      this._blockByLine(bytes);
      return;
    }
    let from = 0;
    const end = text.length;
    while (from < end) {
      let nl = text.indexOf("\n", from);
      if (nl === -1) nl = end;
      if (nl > from) this._line(text, from, nl);
      from = nl + 1;
    }
  }

  /** Whole lines to the bytes handler first; each line it declines is decoded alone. */
  private _offer(bytes: Uint8Array, handler: BytesHandler): void {
    const end = bytes.length;
    let at = 0;
    while (at < end) {
      at = handler(bytes, at, end);
      if (at >= end) return;
      let nl = bytes.indexOf(NL, at);
      if (nl === -1) nl = end;
      if (nl > at) this._bytesLine(bytes, at, nl);
      at = nl + 1;
    }
  }

  /** Line by line on the bytes, after a decoding error, to find the bad lines. */
  private _blockByLine(bytes: Uint8Array): void {
    this._offer(bytes, _declineAll);
  }

  private _bytesLine(buf: Uint8Array, from: number, to: number): void {
    if (buf[to - 1] === 13) to--; // CRLF
    if (to - from > this.maxLineBytes) {
      this._onReject("too_long", _sampleDecoder.decode(buf.subarray(from, from + 80)));
      return;
    }
    if (to === from) return;
    const bytes = buf.subarray(from, to);
    let text: string;
    try {
      text = this._decoder.decode(bytes);
    } catch {
      this._onReject("invalid_utf8", "");
      return;
    }
    if (text.length > 0) this._line(text, 0, text.length);
  }

  private _line(text: string, from: number, to: number): void {
    if (text.charCodeAt(to - 1) === 13) to--; // CRLF
    if (to <= from) return;
    const len = to - from;
    // chars <= bytes <= 3 * chars: only measure bytes when the answer is in doubt.
    if (len > this.maxLineBytes || (len * 3 > this.maxLineBytes && _utf8Length(text, from, to) > this.maxLineBytes)) {
      this._onReject("too_long", text.slice(from, from + 80));
      return;
    }
    const line = from === 0 && to === text.length ? text : text.slice(from, to);
    const c = line.charCodeAt(0);
    if ((c === 32 || c === 9) && line.trim().length === 0) return; // blank
    this._onLine(line);
  }

  private _hold(tail: Uint8Array): void {
    if (this._skipping) return;
    if (this._heldBytes + tail.length > this.maxLineBytes) {
      this._held = [];
      this._heldBytes = 0;
      this._skipping = true;
      this._onReject("too_long", "");
      return;
    }
    this._held.push(tail.slice()); // copy: the reader may reuse its buffer
    this._heldBytes += tail.length;
  }

  private _finishHeld(head: Uint8Array): void {
    if (this._skipping) {
      this._skipping = false;
      return;
    }
    const total = this._heldBytes + head.length;
    const parts = this._held;
    this._held = [];
    this._heldBytes = 0;
    if (total > this.maxLineBytes) {
      this._onReject("too_long", "");
      return;
    }
    // With a bytes handler the line gets its newline back and is offered like any other.
    const whole = new Uint8Array(this._onBytes === undefined ? total : total + 1);
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    whole.set(head, at);
    if (this._onBytes === undefined) this._bytesLine(whole, 0, total);
    else {
      whole[total] = NL;
      this._offer(whole, this._onBytes);
    }
  }
}

function _crToNewline(chunk: Uint8Array): Uint8Array {
  const out = chunk.slice();
  for (let i = out.indexOf(CR); i !== -1; i = out.indexOf(CR, i + 1)) out[i] = NL;
  return out;
}

/** A bytes handler that takes nothing: every line is decoded on its own. */
const _declineAll: BytesHandler = (_buf, from) => from;

function _utf8Length(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
