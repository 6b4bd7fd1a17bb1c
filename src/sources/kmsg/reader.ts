// Reads kernel log records from the start and follows, without ever blocking the event loop:
// - a character device (/dev/kmsg) is opened non-blocking; each read() returns one record
//   (with its dictionary lines); EAGAIN means caught up, so the reader sleeps `pollMs` and
//   reads again; EPIPE means records were overwritten in the ring before they were read: the
//   kernel has moved the position on, so reading simply goes on;
// - a regular file is read in chunks and then followed like `tail -f`: a file that shrinks
//   was truncated and is read again from its start, a file replaced at its path (rotation) is
//   reopened once the old one is read to its end.
// Every read is asynchronous, and `batch` records are handed on before the reader yields.
import { constants } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { RecordSplitter } from "./record.ts";

export interface ReaderOptions {
  path: string;
  /** Called for each record block; a returned promise is awaited (back-pressure). */
  onBlock(block: string): Promise<void> | void;
  /** Called each time the reader has read everything there is. */
  onCaughtUp?(): void;
  /** Called once per run of overwritten records (EPIPE). */
  onLost?(): void;
  pollMs?: number;
  batch?: number;
  chunkBytes?: number;
}

export class KmsgReader {
  readonly path: string;
  private readonly _o: Required<Omit<ReaderOptions, "onCaughtUp" | "onLost">> & Pick<ReaderOptions, "onCaughtUp" | "onLost">;
  private _stopped = false;
  private _fh: FileHandle | null = null;
  private _wake: (() => void) | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _sinceYield = 0;

  constructor(opts: ReaderOptions) {
    this.path = opts.path;
    this._o = { ...opts, pollMs: opts.pollMs ?? 500, batch: opts.batch ?? 256, chunkBytes: opts.chunkBytes ?? 64 * 1024 };
  }

  /** Reads until stop(); rejects when the file cannot be opened or read. */
  async run(): Promise<void> {
    const fh = await open(this.path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    this._fh = fh;
    try {
      const st = await fh.stat();
      if (st.isCharacterDevice()) await this._device(fh);
      else if (st.isFile()) await this._file(fh, st.ino, st.dev);
      else throw new Error(`${this.path} is neither a character device nor a regular file`);
    } finally {
      await this._close();
    }
  }

  async stop(): Promise<void> {
    this._stopped = true;
    clearTimeout(this._timer);
    this._wake?.();
  }

  private async _device(fh: FileHandle): Promise<void> {
    // A record is at most a few KiB (text up to 1 KiB escaped, plus dictionary); a buffer too
    // small for the next record would make read() fail with EINVAL.
    const buf = new Uint8Array(64 * 1024);
    const text = new TextDecoder();
    let lost = false;
    while (!this._stopped) {
      let n: number;
      try {
        n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") {
          if (!lost) this._o.onLost?.();
          lost = true;
          continue;
        }
        if (code !== "EAGAIN" && code !== "EWOULDBLOCK") throw e;
        n = 0;
      }
      if (n === 0) {
        this._o.onCaughtUp?.();
        await this._sleep();
        continue;
      }
      lost = false;
      await this._hand(text.decode(buf.subarray(0, n)).replace(/\n$/, ""));
    }
  }

  private async _file(first: FileHandle, ino: number, dev: number): Promise<void> {
    let fh = first;
    let pos = 0;
    let text = new TextDecoder();
    const blocks: string[] = [];
    const splitter = new RecordSplitter((b) => blocks.push(b));
    const buf = new Uint8Array(this._o.chunkBytes);
    while (!this._stopped) {
      const n = (await fh.read(buf, 0, buf.length, pos)).bytesRead;
      if (n > 0) {
        pos += n;
        splitter.push(text.decode(buf.subarray(0, n), { stream: true }));
        await this._drain(blocks);
        continue;
      }
      splitter.flush();
      await this._drain(blocks);
      this._o.onCaughtUp?.();
      await this._sleep();
      if (this._stopped) break;
      const now = await stat(this.path).catch(() => null);
      if (now !== null && (now.ino !== ino || now.dev !== dev)) {
        // Replaced at its path: the old file has been read to its end; go on with the new one.
        const next = await open(this.path, constants.O_RDONLY).catch(() => null);
        if (next === null) continue;
        await fh.close().catch(() => undefined);
        this._fh = fh = next;
        ino = now.ino;
        dev = now.dev;
        pos = 0;
        text = new TextDecoder();
        splitter.reset();
      } else if ((await fh.stat()).size < pos) {
        pos = 0; // truncated: read it again from its start
        text = new TextDecoder();
        splitter.reset();
      }
    }
  }

  private async _drain(blocks: string[]): Promise<void> {
    for (let i = 0; i < blocks.length && !this._stopped; i++) await this._hand(blocks[i]);
    blocks.length = 0;
  }

  private async _hand(block: string): Promise<void> {
    const p = this._o.onBlock(block);
    if (p !== undefined) await p;
    if (++this._sinceYield >= this._o.batch) {
      this._sinceYield = 0;
      await new Promise<void>((r) => setTimeout(r, 0));
    }
  }

  private _sleep(): Promise<void> {
    return new Promise((resolve) => {
      this._wake = resolve;
      this._timer = setTimeout(resolve, this._o.pollMs);
    });
  }

  private async _close(): Promise<void> {
    const fh = this._fh;
    this._fh = null;
    await fh?.close().catch(() => undefined);
  }
}
