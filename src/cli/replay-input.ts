// Reading a recorded event file for replay: plain or gzip (told by its magic bytes, not its
// name), from a file or standard input, in large chunks into one framed input; rejections
// located by line number; progress on a terminal, throttled, on stderr.
import { closeSync, openSync, readSync } from "node:fs";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { Buffer } from "node:buffer";
import { describeErrno } from "../errno.ts";
import { UsageError, XctlError } from "./errors.ts";
import { writeErr } from "../stdio.ts";

const CHUNK_BYTES = 1024 * 1024;
const NL = 10;

/** Where a replay pushes its bytes (the exporter's framed input for the file). */
export interface ReplaySink {
  /** A promise: read nothing more until it settles (the pipeline's back-pressure). */
  push(chunk: Uint8Array): Promise<void> | undefined;
  end(): Promise<void> | undefined;
}

export interface ReadStats {
  bytes: number;
  /** Lines read; null when nothing needed counting them (no rejection in a plain file). */
  lines: number | null;
  gzip: boolean;
}

/** The line of each rejection, found from the reason and the sample the framer gave. */
export class LineLocator {
  private _chunk: Uint8Array = new Uint8Array(0);
  private _startLine: () => number = () => 1;
  private _from = 0;
  private _countedAt = 0;
  private _countedLines = 0;
  private readonly _fatal = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly _maxLineBytes: number) {}

  /**
   * The next chunk begins; `startLine` gives the number of the line it starts in (asked only on
   * a rejection, and for a held event perhaps after later chunks).
   */
  begin(chunk: Uint8Array, startLine: () => number): void {
    this._chunk = chunk;
    this._startLine = startLine;
    this._from = 0;
    this._countedAt = 0;
    this._countedLines = 0;
  }

  /** The line number of a rejection just reported while the current chunk was pushed. */
  locate(reason: string, sample: string): number {
    return this._startLine() + this._find(reason, sample);
  }

  /**
   * The line of an event just held back (replay's stream clock), as a function to ask only if
   * it is rejected, perhaps chunks later: marking counts no line before this chunk.
   */
  mark(sample: string): () => number {
    const inChunk = this._find("future_ts", sample);
    const startLine = this._startLine;
    return () => startLine() + inChunk;
  }

  /** Finds the line of `sample` in the chunk from where the last one was found: lines before it in the chunk. */
  private _find(reason: string, sample: string): number {
    const c = this._chunk;
    let pos = -1;
    const prefix = sample.split("\ufffd")[0].slice(0, 60);
    if (prefix.length > 0) {
      pos = Buffer.from(c.buffer, c.byteOffset, c.byteLength).indexOf(Buffer.from(prefix, "utf8"), this._from);
    } else if (reason === "invalid_utf8" || reason === "too_long") {
      for (let a = this._from; a < c.length; ) {
        let b = c.indexOf(NL, a);
        if (b === -1) b = c.length;
        const bad = reason === "too_long" ? b - a > this._maxLineBytes : !this._decodes(c.subarray(a, b));
        if (bad) {
          pos = a;
          break;
        }
        a = b + 1;
      }
    }
    if (pos === -1) pos = this._from;
    while (this._countedAt < pos) {
      const nl = c.indexOf(NL, this._countedAt);
      if (nl === -1 || nl >= pos) break;
      this._countedLines++;
      this._countedAt = nl + 1;
    }
    const end = c.indexOf(NL, pos);
    this._from = end === -1 ? c.length : end + 1;
    return this._countedLines;
  }

  private _decodes(bytes: Uint8Array): boolean {
    try {
      this._fatal.decode(bytes);
      return true;
    } catch {
      return false;
    }
  }
}

/** Newlines in `buf`. */
function _countLines(buf: Uint8Array): number {
  let n = 0;
  for (let at = buf.indexOf(NL); at !== -1; at = buf.indexOf(NL, at + 1)) n++;
  return n;
}

/**
 * Reads `file` ("-": standard input), gunzipping when it starts with gzip's magic bytes.
 * Counting lines costs a tenth of a replay, so a plain file counts them only from its first
 * rejection on (re-reading what came before once); a pipe or a gzip file counts as it goes.
 */
export async function readInto(file: string, sink: ReplaySink, locator: LineLocator, progress: Progress | undefined): Promise<ReadStats> {
  const stats: ReadStats = { bytes: 0, lines: null, gzip: false };
  let counting = file === "-";
  let chunkAt = 0;
  const startLine = () => {
    if (stats.lines === null) {
      // The first rejection in a plain file: count the lines before this chunk, once.
      stats.lines = _linesBefore(file, chunkAt);
      counting = true;
    }
    return stats.lines + 1;
  };
  const feed = async (chunk: Uint8Array) => {
    chunkAt = stats.bytes;
    if (counting && stats.lines === null) stats.lines = 0;
    // The lines before this chunk: known when counting; else counted on its first rejection,
    // or, when first asked once the chunk is read (an event the stream clock held and rejected
    // later), counted again up to it (a plain file: once for such an event).
    const at = chunkAt;
    let before = counting ? stats.lines : null;
    let read = false;
    locator.begin(chunk, () => {
      before ??= read ? _linesBefore(file, at) : startLine() - 1;
      return before + 1;
    });
    await sink.push(chunk);
    read = true;
    stats.bytes += chunk.length;
    if (counting) stats.lines! += _countLines(chunk);
    progress?.tick(stats);
  };
  const raw = _rawChunks(file);
  const first = await raw.next();
  if (!first.done && first.value.length >= 2 && first.value[0] === 0x1f && first.value[1] === 0x8b) {
    stats.gzip = true;
    counting = true;
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
    const source = Readable.from((async function* () {
      yield Buffer.from(first.value);
      for await (const c of { [Symbol.asyncIterator]: () => raw }) yield Buffer.from(c);
    })());
    try {
      for await (const chunk of source.pipe(gunzip)) await feed(chunk as Uint8Array);
    } catch (e) {
      if (e instanceof XctlError) throw e;
      throw new XctlError(`${_name(file)}: not a readable gzip file: ${(e as Error).message}`, 1);
    }
  } else {
    if (!first.done) await feed(first.value);
    for (;;) {
      const next = await raw.next();
      if (next.done) break;
      await feed(next.value);
    }
  }
  await sink.end();
  progress?.done();
  return stats;
}

/** Newlines in the first `bytes` bytes of a plain file. */
function _linesBefore(file: string, bytes: number): number {
  if (bytes === 0) return 0;
  const fd = openSync(file, "r");
  const buf = new Uint8Array(Math.min(CHUNK_BYTES, bytes));
  let n = 0;
  try {
    for (let at = 0; at < bytes; ) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, bytes - at), at);
      if (got === 0) break;
      n += _countLines(got === buf.length ? buf : buf.subarray(0, got));
      at += got;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

function _name(file: string): string {
  return file === "-" ? "standard input" : file;
}

/** The file's bytes in chunks; the file is read synchronously into one reused buffer. */
async function* _rawChunks(file: string): AsyncGenerator<Uint8Array> {
  let fd: number;
  try {
    fd = file === "-" ? 0 : openSync(file, "r");
  } catch (e) {
    // The file named on the command line is not there: bad usage, as for a rules directory.
    throw new UsageError(`cannot read ${file}: ${describeErrno(e)}`);
  }
  const buf = new Uint8Array(CHUNK_BYTES);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // A non-blocking standard input (a terminal, some pipes) cannot be read synchronously.
        if (fd === 0 && (e as { code?: string }).code === "EAGAIN") {
          for await (const chunk of process.stdin) yield chunk as Uint8Array;
          return;
        }
        const code = (e as { code?: string }).code;
        if (code === "EISDIR") throw new UsageError(`cannot read ${file}: ${describeErrno(e)}`);
        throw new XctlError(`cannot read ${file}: ${describeErrno(e)}`, 1);
      }
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/** "12.3 MB, 1,234,567 lines" on one redrawn stderr line, at most 4 times a second. */
export class Progress {
  private _last = 0;
  private _shown = false;
  private readonly _t0 = performance.now();

  /** `totalBytes`: the file's size, when known (a plain file), for a percentage. */
  constructor(private readonly _totalBytes = 0) {}

  tick(s: ReadStats): void {
    const now = performance.now();
    if (now - this._last < 250) return;
    this._last = now;
    this._shown = true;
    const secs = (now - this._t0) / 1000;
    const lines = s.lines === null ? "" : `, ${s.lines.toLocaleString("en-US")} lines`;
    const of = this._totalBytes > 0 && !s.gzip ? ` of ${(this._totalBytes / 1e6).toFixed(1)} MB (${Math.floor((100 * s.bytes) / this._totalBytes)}%)` : "";
    writeErr(`\r\x1b[Kreplay: ${(s.bytes / 1e6).toFixed(1)} MB${of}${s.gzip ? " (gunzipped)" : ""}${lines}, ${secs.toFixed(1)} s`);
  }

  done(): void {
    if (this._shown) writeErr("\r\x1b[K");
  }
}
