// A probe's stderr, logged line by line under its name. Bounded both ways: a long line is cut
// (and output with no newline cannot grow memory), and a chatty probe cannot flood the log.

export interface StderrLogOptions {
  /** Longest line logged, in characters; the rest of the line is dropped. */
  maxLineChars?: number;
  /** Lines logged per window; the rest are counted and reported once. */
  linesPerWindow?: number;
  windowMs?: number;
}

export class StderrLog {
  readonly maxLineChars: number;
  readonly linesPerWindow: number;
  readonly windowMs: number;
  private readonly _decoder = new TextDecoder();
  private _partial = "";
  /** The current line was already cut: drop up to its newline. */
  private _skipping = false;
  private _windowStart = 0;
  private _logged = 0;
  private _suppressed = 0;

  constructor(
    private readonly _write: (line: string) => void,
    opts: StderrLogOptions = {},
  ) {
    this.maxLineChars = opts.maxLineChars ?? 500;
    this.linesPerWindow = opts.linesPerWindow ?? 20;
    this.windowMs = opts.windowMs ?? 5000;
  }

  push(chunk: Uint8Array): void {
    const text = this._decoder.decode(chunk, { stream: true });
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      if (nl === -1) break;
      this._take(text.slice(from, nl), true);
      from = nl + 1;
    }
    if (from < text.length) this._take(text.slice(from), false);
  }

  /** The stream ended: log a last line without newline and any count still owed. */
  end(): void {
    const rest = this._decoder.decode();
    if (rest) this._take(rest, false);
    if (this._partial && !this._skipping) this._emit(this._partial);
    this._partial = "";
    this._skipping = false;
    this._flushSuppressed();
  }

  private _take(piece: string, complete: boolean): void {
    if (this._skipping) {
      if (complete) this._skipping = false;
      return;
    }
    const line = this._partial + piece;
    if (line.length > this.maxLineChars) {
      this._partial = "";
      this._skipping = !complete;
      this._emit(line.slice(0, this.maxLineChars) + " …(truncated)");
      return;
    }
    if (complete) {
      this._partial = "";
      this._emit(line);
    } else this._partial = line;
  }

  private _emit(line: string): void {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.trim() === "") return;
    const now = Date.now();
    if (now - this._windowStart >= this.windowMs) {
      this._flushSuppressed();
      this._windowStart = now;
      this._logged = 0;
    }
    if (this._logged < this.linesPerWindow) {
      this._logged++;
      this._write(line);
    } else this._suppressed++;
  }

  private _flushSuppressed(): void {
    if (this._suppressed === 0) return;
    const n = this._suppressed;
    this._suppressed = 0;
    this._write(`(${n} more stderr line${n === 1 ? "" : "s"} not logged)`);
  }
}
