// One source's byte stream into the pipeline: NDJSON framed into lines (a line split across
// reads is joined), each line's bytes through the scanner first and the full parser for what
// it declines. Counts what it accepted and rejected, so a caller (the push route) reads its own
// tally instead of the pipeline's counters.
//
// Back-pressure is real: in live mode a push that finds the turn's budget spent keeps the rest
// of its bytes and returns a promise; the source reads nothing more until it settles (a probe's
// pipe then fills and the probe blocks on write).
import { LineFramer } from "../events/lines.ts";
import { parseLine } from "../events/parse.ts";
import type { RejectReason } from "../events/schema.ts";
import type { IngestPipeline, SourceMark } from "./pipeline.ts";
import { StreamClock } from "./stream-clock.ts";

/** Bytes framed in one go between checks of the turn's budget. */
const SLICE_BYTES = 16 * 1024;

export interface FeedOptions {
  /** Updated when one of this feed's events is accepted. */
  mark?: SourceMark;
  /**
   * Told of every rejection, with the line (or its start) when there is one. `detail` comes
   * with an event the stream clock held and then rejected (after later lines were read): why.
   */
  onReject?: (reason: RejectReason, sample: string, detail?: string) => void;
  /**
   * Replay: the stream's own clock bounds each event as well as the wall clock (SPEC §2,
   * stream-clock.ts). An event further ahead of it than the skew is held back until the next
   * event confirms the jump (then both count) or does not (then it is `future_ts`).
   */
  streamClock?: boolean;
  /** Told when the stream clock holds an event back, with its line (or its start). */
  onHold?: (sample: string) => void;
}

export class Feed {
  /** Events this feed accepted. */
  accepted = 0;
  /** Lines this feed rejected. */
  rejected = 0;
  private readonly _framer: LineFramer;
  /** Receipt time of the bytes being framed: one clock read per slice, not per line. */
  private _received = 0;
  /** Bytes (and `null` for the end of the stream) waiting for a turn with budget left. */
  private readonly _backlog: (Uint8Array | null)[] = [];
  private _drain: Promise<void> | null = null;
  /** Inside `end()`: the line being framed is the stream's last, without its newline. */
  private _ending = false;
  /** Replay's stage that holds an event too far ahead of the stream's clock; null when live. */
  private readonly _stream: StreamClock | null;

  constructor(
    private readonly _pipeline: IngestPipeline,
    readonly source: string,
    opts: FeedOptions,
  ) {
    const mark = opts.mark;
    const onReject = opts.onReject;
    const scanner = _pipeline.scanner;
    const max = _pipeline.maxLineBytes;
    const rejected = (reason: RejectReason, sample: string) => {
      this.rejected++;
      onReject?.(reason, sample);
    };
    const stream = opts.streamClock
      ? new StreamClock(_pipeline, source, mark, {
          held: (sample) => opts.onHold?.(sample),
          accepted: () => {
            this.accepted++;
          },
          rejected: (reason, sample, detail) => {
            this.rejected++;
            onReject?.(reason, sample, detail);
          },
        })
      : null;
    this._stream = stream;
    this._framer = new LineFramer(
      max,
      (line) => {
        let r = parseLine(line, this._received);
        // The stream ended inside this line (a probe killed mid-write): say so, not invalid_json.
        if (r === "invalid_json" && this._ending) r = "truncated";
        const reason =
          typeof r === "string" ? (_pipeline.reject(r, line, source), r) : stream === null ? _pipeline.accept(r, source, mark, this._received) : stream.offer(r, this._received);
        if (reason === undefined) this.accepted++;
        else if (reason === "held") stream!.sample(line);
        else rejected(reason, line);
      },
      (reason, sample) => {
        _pipeline.reject(reason, sample, source);
        rejected(reason, sample);
      },
      (buf, from, to) => {
        const wall = this._received;
        let at = from;
        while (at < to) {
          const ev = scanner.scanLine(buf, at, to, max, wall);
          if (ev === undefined) break;
          const reason = stream === null ? _pipeline.accept(ev, source, mark, wall) : stream.offer(ev, wall);
          if (reason === undefined) this.accepted++;
          else if (reason === "held") stream!.sample(_latin1(buf, at, scanner.next - 1));
          else rejected(reason, _latin1(buf, at, scanner.next - 1));
          at = scanner.next;
        }
        return at;
      },
    );
  }

  /**
   * Bytes as read. Undefined once they are taken in; a promise when the turn's budget ran out
   * first: the rest is kept, and the caller must read nothing more until the promise settles.
   */
  push(chunk: Uint8Array): Promise<void> | undefined {
    if (this._drain !== null) {
      this._backlog.push(chunk.slice()); // the reader may reuse its buffer
      return this._drain;
    }
    const fairness = this._pipeline.fairness;
    if (!fairness.enabled) {
      this._received = Date.now();
      this._framer.push(chunk);
      return undefined;
    }
    const at = this._work(chunk);
    if (at === chunk.length) return undefined;
    this._backlog.push(chunk.slice(at));
    return this._startDrain();
  }

  /**
   * End of the stream: a last line without newline still counts, and one that is not valid JSON
   * is `truncated` (the writer stopped mid-line). Ordered after pending bytes.
   */
  end(): Promise<void> | undefined {
    if (this._drain !== null) {
      this._backlog.push(null);
      return this._drain;
    }
    this._end();
    return undefined;
  }

  private _end(): void {
    this._received = Date.now();
    this._ending = true;
    try {
      this._framer.end();
    } finally {
      this._ending = false;
    }
    // An event still held back was never confirmed: rejected, after every line before the end.
    this._stream?.end();
  }

  /** Frames `chunk` slice by slice while the turn has budget; returns where it stopped. */
  private _work(chunk: Uint8Array): number {
    const fairness = this._pipeline.fairness;
    const len = chunk.length;
    let at = 0;
    while (at < len && !fairness.exhausted) {
      let to = len;
      if (len - at > SLICE_BYTES) {
        // Cut after a newline where there is one, so no partial line is held between slices.
        const nl = chunk.subarray(at, at + SLICE_BYTES).lastIndexOf(10);
        to = nl === -1 ? at + SLICE_BYTES : at + nl + 1;
      }
      const t0 = performance.now();
      this._received = Date.now();
      this._framer.push(at === 0 && to === len ? chunk : chunk.subarray(at, to));
      fairness.charge(t0, performance.now());
      at = to;
    }
    return at;
  }

  private _startDrain(): Promise<void> {
    const fairness = this._pipeline.fairness;
    const backlog = this._backlog;
    this._drain = (async () => {
      try {
        while (backlog.length > 0) {
          await fairness.nextTurn();
          while (backlog.length > 0 && !fairness.exhausted) {
            const item = backlog[0];
            if (item === null) {
              backlog.shift();
              this._end();
              continue;
            }
            const at = this._work(item);
            if (at === item.length) backlog.shift();
            else backlog[0] = item.subarray(at);
          }
        }
      } catch (e) {
        // A bug downstream (the sink threw): report it and drop what was held, which replayed
        // later would be out of order. Never a rejection nobody handles.
        backlog.length = 0;
        this._pipeline.log.error(`ingest from ${this.source} failed: ${(e as Error)?.message ?? e}`);
      } finally {
        this._drain = null;
      }
    })();
    return this._drain;
  }
}

/** A short sample of a line for the log; bytes as Latin-1 (it is only shown). */
function _latin1(buf: Uint8Array, from: number, to: number): string {
  return String.fromCharCode.apply(null, buf.subarray(from, Math.min(to, from + 120)) as unknown as number[]);
}
