// Reads one pushed body into the ingest pipeline as it arrives: NDJSON goes line by line through the
// same framing as every other source, never held whole; a JSON array or object (a bounded
// body, `application/json`) is split into its elements and each parsed on its own. Each
// rejection keeps its 1-based line (or array element).
import type { RejectReason } from "../../events/schema.ts";
import type { Feed } from "../../ingest/feed.ts";
import type { IngestPipeline } from "../../ingest/pipeline.ts";

/** Rejections listed in the answer; the rest are only counted. */
export const MAX_LISTED_REJECTIONS = 100;

export interface PushResult {
  accepted: number;
  /** Each rejection (the first few): its line or element, the reason, and what was wrong. */
  rejected: { line: number; reason: RejectReason; detail: string }[];
  rejected_total: number;
}

export interface PushOptions {
  maxBodyBytes: number;
  /** The body is JSON (an array of events or one event), not NDJSON. */
  json: boolean;
  /** Told of every chunk read, before it is ingested (the in-flight byte count). */
  onBytes?: (n: number) => void;
  /** A body that sends nothing for this long is given up (BodyIdle); default 10 s. */
  idleMs?: number;
}

/** Default idle timeout of a request body. */
export const DEFAULT_BODY_IDLE_MS = 10_000;

/** The client stopped sending its body for longer than the idle timeout. */
export class BodyIdle extends Error {
  override name = "BodyIdle";
}

/** The body passed maxBodyBytes: reading stopped there; `accepted` lines were already taken. */
export class BodyTooLarge extends Error {
  override name = "BodyTooLarge";
  constructor(readonly accepted: number) {
    super("request body too large");
  }
}

/** The client went away or sent a broken body. */
export class BodyReadError extends Error {
  override name = "BodyReadError";
}

export async function ingestPush(pipeline: IngestPipeline, body: ReadableStream<Uint8Array> | null, opts: PushOptions): Promise<PushResult> {
  const tally = new _Tally(pipeline);
  if (body === null) return tally.result();
  const lines = new _LineFeed(pipeline, tally);
  const reader = body.getReader();
  // The content type decides: application/json is one document, anything else NDJSON lines.
  const json = opts.json;
  const idleMs = opts.idleMs ?? DEFAULT_BODY_IDLE_MS;
  const held: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    let idle: ReturnType<typeof setTimeout> | undefined;
    try {
      chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => (idle = setTimeout(() => reject(new BodyIdle(`request body idle for ${idleMs / 1000} s`)), idleMs))),
      ]);
    } catch (e) {
      reader.cancel().catch(() => {});
      if (e instanceof BodyIdle) throw e;
      throw new BodyReadError("could not read the request body");
    } finally {
      clearTimeout(idle);
    }
    if (chunk.done) break;
    const value = chunk.value;
    if (value.length === 0) continue;
    bytes += value.length;
    if (bytes > opts.maxBodyBytes) {
      reader.cancel().catch(() => {});
      throw new BodyTooLarge(tally.accepted + lines.accepted);
    }
    opts.onBytes?.(value.length);
    if (json) held.push(value);
    else await lines.feed(value);
  }
  if (json) await _ingestJson(pipeline, _concat(held, bytes), tally, lines);
  await lines.end();
  tally.accepted += lines.accepted;
  return tally.result();
}

class _Tally {
  accepted = 0;
  total = 0;
  readonly listed: { line: number; reason: RejectReason; detail: string }[] = [];

  constructor(private readonly _pipeline: IngestPipeline) {}

  reject(line: number, reason: RejectReason, sample = "", detail?: string): void {
    this.total++;
    // `missing_field: entity_id`: worked out again for the few listed, off the hot path.
    if (this.listed.length < MAX_LISTED_REJECTIONS) {
      this.listed.push({ line, reason, detail: detail ?? (sample ? this._pipeline.describe(reason, sample) : reason) });
    }
  }

  result(): PushResult {
    return { accepted: this.accepted, rejected: this.listed, rejected_total: this.total };
  }
}

/**
 * Feeds the pipeline one physical line at a time, so each rejection it reports belongs to the
 * line being fed; waits when ingest has spent its share of the turn.
 */
class _LineFeed {
  private _line = 1;
  private readonly _feed: Feed;

  constructor(pipeline: IngestPipeline, tally: _Tally) {
    this._feed = pipeline.feed("http", { onReject: (reason, sample) => tally.reject(this._line, reason, sample) });
  }

  get accepted(): number {
    return this._feed.accepted;
  }

  async feed(chunk: Uint8Array): Promise<void> {
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from);
      const to = nl === -1 ? chunk.length : nl + 1;
      const wait = this._feed.push(chunk.subarray(from, to));
      if (wait !== undefined) await wait;
      if (nl === -1) return;
      this._line++;
      from = to;
    }
  }

  async end(): Promise<void> {
    await this._feed.end();
  }
}

async function _ingestJson(pipeline: IngestPipeline, bytes: Uint8Array, tally: _Tally, lines: _LineFeed): Promise<void> {
  const accepted = await pipeline.document(bytes, "http", (element, reason, sample, detail) => tally.reject(element, reason, sample, detail));
  // Not one JSON document: NDJSON sent as application/json, or garbage. Frame it as lines, so
  // every good line still counts and each bad one gets its reason.
  if (accepted === undefined) await lines.feed(bytes);
  else tally.accepted += accepted;
}

function _concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.subarray(0, at);
}
