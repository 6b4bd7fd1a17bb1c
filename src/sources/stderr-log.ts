// A probe's stderr, logged line by line under its name. Bounded both ways: a long line is cut
// (and output with no newline cannot grow memory), and a chatty probe cannot flood the log: a
// burst is cut at `linesPerWindow` a window, and a probe that keeps writing (a persistent fault
// said every second, for days) at `linesPerLongWindow` a long window, past which one line per
// long window says how many were left out.
import { elapsed } from "../elapsed.ts";

export interface StderrLogOptions {
  /** Longest line logged, in characters; the rest of the line is dropped. */
  maxLineChars?: number;
  /** Lines logged per window; the rest are counted and reported once. */
  linesPerWindow?: number;
  windowMs?: number;
  /** Lines logged per long window, the summaries included; the rest are counted and reported once a long window. */
  linesPerLongWindow?: number;
  longWindowMs?: number;
  /** The clock (tests move it by hand). */
  now?: () => number;
}

export class StderrLog {
  readonly maxLineChars: number;
  readonly linesPerWindow: number;
  readonly windowMs: number;
  readonly linesPerLongWindow: number;
  readonly longWindowMs: number;
  private readonly _now: () => number;
  private readonly _decoder = new TextDecoder();
  private _partial = "";
  /** The current line was already cut: drop up to its newline. */
  private _skipping = false;
  private _windowStart = 0;
  private _logged = 0;
  private _suppressed = 0;
  private _longStart: number | null = null;
  private _longUsed = 0;
  private _longSuppressed = 0;

  constructor(
    private readonly _write: (line: string) => void,
    opts: StderrLogOptions = {},
  ) {
    this.maxLineChars = opts.maxLineChars ?? 500;
    this.linesPerWindow = opts.linesPerWindow ?? 20;
    this.windowMs = opts.windowMs ?? 5000;
    this.linesPerLongWindow = opts.linesPerLongWindow ?? 120;
    this.longWindowMs = opts.longWindowMs ?? 600_000;
    this._now = opts.now ?? Date.now;
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
    this._flushLong();
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
    const now = this._now();
    if (this._longStart === null || elapsed(now, this._longStart) >= this.longWindowMs) {
      this._flushSuppressed();
      this._flushLong();
      this._longStart = now;
      this._longUsed = 0;
    }
    if (elapsed(now, this._windowStart) >= this.windowMs) {
      this._flushSuppressed();
      this._windowStart = now;
      this._logged = 0;
    }
    if (this._longUsed >= this.linesPerLongWindow) this._longSuppressed++;
    else if (this._logged < this.linesPerWindow) {
      this._logged++;
      this._out(line);
    } else this._suppressed++;
  }

  private _out(line: string): void {
    this._longUsed++;
    this._write(line);
  }

  private _flushSuppressed(): void {
    if (this._suppressed === 0) return;
    const n = this._suppressed;
    this._suppressed = 0;
    // Past the long window's budget even the count waits for the long window's line.
    if (this._longUsed >= this.linesPerLongWindow) this._longSuppressed += n;
    else this._out(`(${n} more stderr line${n === 1 ? "" : "s"} not logged)`);
  }

  private _flushLong(): void {
    if (this._longSuppressed === 0 || this._longStart === null) return;
    const n = this._longSuppressed;
    this._longSuppressed = 0;
    const since = new Date(this._longStart).toISOString();
    this._out(`(${n} more stderr line${n === 1 ? "" : "s"} not logged since ${since}: more than ${this.linesPerLongWindow} lines in ${_span(this.longWindowMs)}, the probe keeps writing)`);
  }
}

function _span(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
