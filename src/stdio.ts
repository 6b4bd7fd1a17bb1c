// Standard output and standard error, written straight to their file descriptors. The first
// touch of `process.stdout` or `process.stderr` builds a Node stream, about 13 ms of a compiled
// binary's start: more than the rest of a CLI command that prints a line and exits. Writes are
// synchronous and whole, as Node's own are to files, pipes and terminals on Linux.
import { writeSync } from "node:fs";
import { isatty } from "node:tty";

/** Standard output's reader left (`| head`): the command ends quietly, its status 0. */
export class StdoutClosed extends Error {
  override name = "StdoutClosed";
}

/** Writes all of `text` to standard output; throws `StdoutClosed` when its reader left, else what the write throws. */
export function writeOut(text: string): void {
  try {
    _writeAll(1, text);
  } catch (e) {
    throw (e as { code?: string }).code === "EPIPE" ? new StdoutClosed("standard output closed") : e;
  }
}

/** Writes all of `text` to standard error; a reader that left (EPIPE) loses it, nothing throws. */
export function writeErr(text: string): void {
  try {
    _writeAll(2, text);
  } catch {
    // Nowhere left to say it.
  }
}

/** Whether standard output (1) or standard error (2) is a terminal. */
export function isTerminal(fd: 1 | 2): boolean {
  try {
    return isatty(fd);
  } catch {
    return false;
  }
}

const _encoder = new TextEncoder();
/** For a short wait when the descriptor is non-blocking and full. */
const _pause = new Int32Array(new SharedArrayBuffer(4));
/**
 * Bytes per write: PIPE_BUF, which a pipe takes whole or not at all. A write that fails with
 * EAGAIN then wrote nothing, so it is simply tried again; a larger one may have written part,
 * which Deno's `writeSync` does not report when it throws.
 */
const _PIECE = 4096;

function _writeAll(fd: number, text: string): void {
  const bytes = _encoder.encode(text);
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(fd, bytes, at, Math.min(_PIECE, bytes.length - at));
    } catch (e) {
      // A descriptor another process left non-blocking, and its pipe is full: wait for the reader.
      if ((e as { code?: string }).code !== "EAGAIN") throw e;
      Atomics.wait(_pause, 0, 0, 1);
    }
  }
}
