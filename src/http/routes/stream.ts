// GET /api/v1/events/stream: accepted events as Server-Sent Events. The response body pulls
// from the reader's bounded hub buffer only when the client has taken the previous batch, so
// a client that stops reading lets the buffer fill and the hub cuts it off.
// Records: `id:` counts up per stream, `event: event` carries an accepted event and
// `event: scene` a scene that became active or cleared ({scene, active, at, event_time}).
// `?type=` filters event types; `scene` among them asks for scene records (without `?type=`,
// both come). `Last-Event-ID` is not honoured: a reconnecting client starts from now. A reader
// cut off for falling behind (events or scene records) is counted and told so in a last comment.
import { Hono } from "hono";
import type { EventHub, Subscriber } from "../../events/hub.ts";
import { EVENT_TYPE_INDEX, type XEvent } from "../../events/schema.ts";
import type { Queries } from "../../query/queries.ts";
import type { SceneChange } from "../../query/scene-watch.ts";
import type { AppEnv } from "../env.ts";

export interface StreamRouteOptions {
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
  /** Scene changes come from here (none without it). */
  queries?: Queries;
}

/** Scene records waiting for a reader; past this the stream is cut off like a slow reader. */
const _MAX_SCENE_RECORDS = 256;

export function streamRoutes(hub: EventHub, opts: StreamRouteOptions = {}): Hono<AppEnv> {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const api = new Hono<AppEnv>();

  api.get("/api/v1/events/stream", (c) => {
    const asked = c.req.queries("type");
    let types: Set<string> | null = null;
    if (asked !== undefined) {
      types = new Set(asked.flatMap((t) => t.split(",")).map((t) => t.trim()).filter(Boolean));
      const unknown = [...types].find((t) => !EVENT_TYPE_INDEX.has(t) && t !== "scene");
      if (unknown !== undefined) return c.json({ error: `unknown event type "${unknown}"` }, 400);
      if (types.size === 0) return c.json({ error: "type: give one or more event types, comma-separated" }, 400);
    }
    // HEAD (Hono answers it from this GET route) gets the headers and never takes a slot: the
    // body would be dropped, and nothing would ever free the subscriber.
    if (c.req.method === "HEAD") {
      return new Response(null, { headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache, no-transform" } });
    }
    const sub = hub.subscribe(types);
    if (sub === undefined) {
      return c.json({ error: "too many event-stream clients" }, 503, { "Retry-After": "5" });
    }
    const scenes = types === null || types.has("scene") ? opts.queries : undefined;
    return new Response(sseBody(hub, sub, c.req.raw.signal, heartbeatMs, scenes), {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
      },
    });
  });

  return api;
}

const _enc = new TextEncoder();

/**
 * The SSE byte stream of one subscriber. It ends when the client leaves (cancel or abort) or
 * when the hub closes the subscriber (a slow reader cut off, or shutdown): what the client
 * has not taken yet is dropped and the stream closes.
 */
export function sseBody(
  hub: EventHub,
  sub: Subscriber,
  signal: AbortSignal | undefined,
  heartbeatMs: number,
  queries?: Queries,
): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setInterval> | undefined;
  let unwatch: (() => void) | undefined;
  /** Scene changes, each with the number of buffered events that came before it. */
  let sceneRecords: { change: SceneChange; after: number }[] = [];
  const ids = { next: 1 };
  let pending: (() => void) | undefined;
  let done = false;
  let ctrl: ReadableStreamDefaultController<Uint8Array> | undefined;
  const release = () => {
    const p = pending;
    pending = undefined;
    p?.();
  };
  const stop = () => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearInterval(timer);
    unwatch?.();
    signal?.removeEventListener("abort", end);
    hub.unsubscribe(sub);
    release();
  };
  const end = () => {
    const wasDone = done;
    stop();
    if (!wasDone) {
      try {
        // A reader cut off for being slow is told so, after what it was sent (one more
        // small record past the bound), rather than seeing its stream just stop.
        if (sub.cutOff === "slow") ctrl?.enqueue(_enc.encode(`: cut off: this reader fell too far behind (${hub.maxBuffered} events or ${_MAX_SCENE_RECORDS} scene changes unread); reconnect to go on from now\n\n`));
        ctrl?.close();
      } catch {
        // already closed or errored by the runtime
      }
    }
  };
  sub.wake = () => {
    release();
    if (sub.closed) end();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      ctrl = controller;
      // Something to send at once, so the client sees the headers before the first event.
      controller.enqueue(_enc.encode(": xctl-exporter event stream\n\n"));
      timer = setInterval(() => {
        // A client that has not taken the last bytes gets no more heartbeats piled up.
        if (!done && (controller.desiredSize ?? 0) > 0) controller.enqueue(_enc.encode(": heartbeat\n\n"));
      }, heartbeatMs);
      if (signal?.aborted || sub.closed) end();
      else {
        signal?.addEventListener("abort", end);
        unwatch = queries?.onSceneChange((change) => {
          if (done) return;
          if (sceneRecords.length >= _MAX_SCENE_RECORDS) return hub.cutOff(sub);
          sceneRecords.push({ change, after: sub.buffer.length });
          release();
        });
      }
    },
    async pull(controller) {
      while (!done && sub.buffer.length === 0 && sceneRecords.length === 0) {
        await new Promise<void>((resolve) => {
          pending = resolve;
        });
      }
      if (done) return;
      const scenes = sceneRecords;
      sceneRecords = [];
      const events = sub.buffer.splice(0);
      // In the order they happened: each scene change after the events accepted before it.
      let out = "";
      let at = 0;
      for (const s of scenes) {
        out += _frames(events.slice(at, s.after), ids) + _sceneFrame(s.change, ids);
        at = Math.max(at, s.after);
      }
      controller.enqueue(_enc.encode(out + _frames(at === 0 ? events : events.slice(at), ids)));
    },
    cancel() {
      stop();
    },
  });
}

function _frames(events: XEvent[], ids: { next: number }): string {
  let out = "";
  for (const ev of events) out += `id: ${ids.next++}\nevent: event\ndata: ${JSON.stringify(ev)}\n\n`;
  return out;
}

function _sceneFrame(c: SceneChange, ids: { next: number }): string {
  const data = {
    scene: c.scene,
    active: c.active,
    at: new Date(c.wallMs).toISOString(),
    event_time: c.eventMs > 0 ? new Date(c.eventMs).toISOString() : null,
    // A clear because a reload removed the rule: not a recovery.
    ...(c.unloaded ? { reason: "rule_removed" } : {}),
  };
  return `id: ${ids.next++}\nevent: scene\ndata: ${JSON.stringify(data)}\n\n`;
}
