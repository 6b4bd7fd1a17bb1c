// POST /api/v1/events: NDJSON, a JSON array or one object, behind the ingest guard, with a
// body limit (413) and a bound on the push bytes in flight across requests (503).
import { Hono } from "hono";
import type { IngestPipeline } from "../../ingest/pipeline.ts";
import type { AppEnv } from "../env.ts";
import { ingestGuard, type IngestGuardOptions } from "./ingest-guard.ts";
import { BodyIdle, BodyReadError, BodyTooLarge, ingestPush } from "./push-body.ts";

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface EventRouteOptions extends IngestGuardOptions {
  /** Largest accepted body (default 8 MiB). */
  maxBodyBytes?: number;
  /** Bound on body bytes being ingested by all pushes together (default 4 × maxBodyBytes). */
  queueBytes?: number;
  /** A body that sends nothing for this long gets 408 (default 10 s). */
  bodyIdleMs?: number;
}

// The content type decides: application/json is parsed as one document (an array of events or
// one event); these types are framed as NDJSON, whatever the body starts with (a line holding
// an array is rejected as not_object). Anything else is refused (415).
const _LINE_TYPES = new Set([
  "",
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/x-jsonlines",
  "text/plain",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
]);

export function eventRoutes(pipeline: IngestPipeline, opts: EventRouteOptions = {}): Hono<AppEnv> {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bound = opts.queueBytes ?? 4 * maxBody;
  const queue = pipeline.pushQueue;
  const api = new Hono<AppEnv>();

  api.post("/api/v1/events", ingestGuard(opts), async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const json = type === "application/json";
    if (!json && !_LINE_TYPES.has(type)) {
      return c.json({ error: `unsupported content type ${type}: send NDJSON or application/json` }, 415);
    }
    const encoding = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
    if (encoding !== "identity") return c.json({ error: `unsupported content encoding ${encoding}` }, 415);

    const length = _contentLength(c.req.header("content-length"));
    if (length > maxBody) return c.json({ error: `request body larger than ${maxBody} bytes` }, 413);
    const reservation = queue.admit(length, bound);
    if (reservation === undefined) return c.json({ error: "ingest queue full, retry shortly" }, 503, { "Retry-After": "1" });
    try {
      const result = await ingestPush(pipeline, c.req.raw.body, {
        maxBodyBytes: maxBody,
        json,
        onBytes: (n) => reservation.received(n),
        idleMs: opts.bodyIdleMs,
      });
      return c.json(result);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        return c.json({ error: `request body larger than ${maxBody} bytes`, accepted: e.accepted }, 413);
      }
      if (e instanceof BodyReadError) return c.json({ error: e.message }, 400);
      if (e instanceof BodyIdle) return c.json({ error: e.message }, 408, { Connection: "close" });
      throw e;
    } finally {
      reservation.release();
    }
  });

  return api;
}

/** The declared body length, 0 when absent or unreadable (the stream is counted anyway). */
function _contentLength(header: string | undefined): number {
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return 0;
  return Number(header);
}
