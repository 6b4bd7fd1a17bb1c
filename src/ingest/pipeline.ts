// The ingest pipeline: the one way events get in. Bytes (a probe's pipe, standard input, a
// pushed NDJSON body, a replayed file) go through a `Feed`, parsed objects (a JSON push, a
// built-in source) through `object()`. Framing, the byte scanner, validation, the clock checks,
// the counters, the rejection log and the push queue live here; an accepted event leaves
// through the sink the composition root wires to graph, diagnosis and the live stream.
// Nothing else changes an ingest counter.
import type { ConsolaInstance } from "consola";
import { EventCounters } from "../events/counters.ts";
import { describeRejection, validateEvent } from "../events/parse.ts";
import { EventScanner } from "../events/scan.ts";
import { DEFAULT_MAX_LINE_BYTES, eventTypeIndex, REJECT_REASON_INDEX, type RejectReason, type XEvent } from "../events/schema.ts";
import { Feed, type FeedOptions } from "./feed.ts";
import { Fairness } from "./fairness.ts";
import { PushQueue } from "./push-queue.ts";
import { RejectLog } from "./reject-log.ts";
import { ClockGuard, type ClockOptions } from "./clock.ts";
import { JsonSplitter, MAX_ELEMENT_DEPTH } from "./json-document.ts";

/** Where accepted events go: `wall` is the receipt time. */
export type IngestSink = (ev: XEvent, wall: number) => void;

/** What a source updates when one of its events is accepted (xctl_probe_last_event_seconds). */
export interface SourceMark {
  lastEventMs: number;
}

export interface IngestOptions {
  log: ConsolaInstance;
  sink: IngestSink;
  maxLineBytes?: number;
  /**
   * Live mode: feeds yield to the event loop after a bounded slice of work, so that a flooding
   * source slows down (its pipe is not read) instead of the server. Off for replay, which has
   * nothing else to serve.
   */
  fair?: boolean;
  /** Work per event-loop turn before feeds yield, in ms (default 4). */
  sliceMs?: number;
  /** The clock checks of SPEC §2 (future_ts, bad_ts). */
  clock?: ClockOptions;
}

export class IngestPipeline {
  readonly maxLineBytes: number;
  /** Accepted per type and rejected per reason; the metrics read these at scrape time. */
  readonly counters = new EventCounters();
  /** Bytes of pushed bodies in flight, and refusals at its bound. */
  readonly pushQueue: PushQueue;
  readonly fairness: Fairness;
  /** The byte-level fast path of parsing, shared by every feed (one thread reads them all). */
  readonly scanner = new EventScanner();
  /** Which timestamps to trust. */
  readonly clock: ClockGuard;
  private readonly _sink: IngestSink;
  private readonly _rejectLog: RejectLog;
  /** @internal */
  readonly log: ConsolaInstance;

  constructor(opts: IngestOptions) {
    this.maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this._sink = opts.sink;
    this.log = opts.log;
    this._rejectLog = new RejectLog(opts.log);
    this.fairness = new Fairness(opts.fair ?? true, opts.sliceMs ?? 4);
    this.pushQueue = new PushQueue();
    this.clock = new ClockGuard(opts.clock);
  }

  get accepted(): number {
    return this.counters.accepted;
  }

  /** Rejections so far, of one reason or of all. */
  rejected(reason?: RejectReason): number {
    if (reason !== undefined) return this.counters.rejected[REJECT_REASON_INDEX.get(reason)!];
    let n = 0;
    for (const v of this.counters.rejected) n += v;
    return n;
  }

  /** A framed byte stream of one source. */
  feed(source: string, opts: FeedOptions = {}): Feed {
    return new Feed(this, source, opts);
  }

  /** One decoded JSON value (a JSON push, a built-in source). Returns the rejection reason, or undefined when accepted. */
  object(obj: unknown, source: string, mark?: SourceMark, wall = Date.now()): RejectReason | undefined {
    const r = validateEvent(obj, wall);
    if (typeof r === "string") {
      this.reject(r, _sample(obj), source);
      return r;
    }
    return this.accept(r, source, mark, wall);
  }

  /**
   * A JSON document (one event object or an array of them, as `application/json` pushes send):
   * each element checked for depth before it is parsed, each parsed and validated on its own,
   * yielding between slices in live mode. `onReject` gets the 1-based element, the reason, the
   * element's text (what `describe` explains) and, for `too_deep`, the detail itself. Returns the
   * count accepted, or undefined when `bytes` is not one array or object (the caller frames it as
   * lines instead).
   */
  async document(
    bytes: Uint8Array,
    source: string,
    onReject: (element: number, reason: RejectReason, sample: string, detail?: string) => void,
  ): Promise<number | undefined> {
    const fairness = this.fairness;
    const splitter = new JsonSplitter(bytes);
    while (!splitter.done) {
      if (fairness.exhausted) await fairness.nextTurn();
      const t0 = performance.now();
      splitter.step();
      fairness.charge(t0, performance.now());
    }
    const elements = splitter.elements;
    if (elements === undefined) return undefined;
    let accepted = 0;
    for (let k = 0; k < elements.length; k++) {
      if (fairness.exhausted) await fairness.nextTurn();
      const t0 = performance.now();
      const { from, to, depth } = elements[k];
      let reason: RejectReason | undefined;
      let text: string | undefined;
      let detail: string | undefined;
      if (depth > MAX_ELEMENT_DEPTH) {
        reason = "too_deep";
        detail = `too_deep: nested ${depth} levels deep (at most ${MAX_ELEMENT_DEPTH})`;
        this.reject(reason, `nested ${depth} levels deep (at most ${MAX_ELEMENT_DEPTH}): ${_latin1(bytes, from, to)}`, source);
      } else {
        try {
          text = _utf8.decode(bytes.subarray(from, to));
        } catch {
          reason = "invalid_utf8";
          this.reject(reason, "", source);
        }
        if (text !== undefined) {
          let obj: unknown;
          try {
            obj = JSON.parse(text);
          } catch {
            reason = "invalid_json";
            this.reject(reason, text, source);
          }
          if (reason === undefined) reason = this.object(obj, source);
        }
      }
      if (reason === undefined) accepted++;
      else onReject(k + 1, reason, text ?? "", detail);
      fairness.charge(t0, performance.now());
    }
    return accepted;
  }

  /**
   * One event that passed the schema: the clock checks, then counted and handed to the sink.
   * @internal for feeds; returns the rejection reason, or undefined when accepted.
   */
  accept(ev: XEvent, source: string, mark: SourceMark | undefined, wall: number): RejectReason | undefined {
    const bad = this.clock.check(ev.ts, wall);
    if (bad !== undefined) {
      this.reject(bad, this.clock.explain(bad, ev.ts, wall), source);
      return bad;
    }
    const c = this.counters;
    c.accepted++;
    c.byType[eventTypeIndex(ev.event_type)]++;
    this._sink(ev, wall);
    if (mark !== undefined) mark.lastEventMs = wall;
    return undefined;
  }

  /**
   * `reason: what was wrong` with `sample` (a rejected line or value) for answers and warnings:
   * the field and what was expected, or for the clock checks the ts, the bound and the unit it
   * looks like (as the service log says it). Off the hot path: for the few rejections shown.
   */
  describe(reason: RejectReason, sample: string, wall = Date.now()): string {
    if (reason === "bad_ts" || reason === "future_ts") {
      const ts = _tsOf(sample);
      if (ts !== undefined) return `${reason}: ${this.clock.explain(reason, ts, wall)}`;
    }
    return describeRejection(reason, sample);
  }

  /**
   * @internal Counts a rejection and logs it, at most a few lines a second; `detail` says what
   * was wrong where the sample alone cannot (replay's stream clock).
   */
  reject(reason: RejectReason, sample: string, source: string, detail?: string): void {
    this.counters.rejected[REJECT_REASON_INDEX.get(reason)!]++;
    this._rejectLog.note(reason, sample, source, detail);
  }
}

const _utf8 = new TextDecoder("utf-8", { fatal: true });

/** The numeric ts of a rejected line, if it has one. */
function _tsOf(sample: string): number | undefined {
  try {
    const ts = (JSON.parse(sample) as { ts?: unknown } | null)?.ts;
    return typeof ts === "number" ? ts : undefined;
  } catch {
    return undefined;
  }
}

/** The start of a rejected value for the log; never throws (a deep or cyclic value included). */
function _sample(obj: unknown): string {
  try {
    return JSON.stringify(obj)?.slice(0, 120) ?? typeof obj;
  } catch {
    return typeof obj;
  }
}

function _latin1(buf: Uint8Array, from: number, to: number): string {
  return String.fromCharCode.apply(null, buf.subarray(from, Math.min(to, from + 120)) as unknown as number[]);
}
