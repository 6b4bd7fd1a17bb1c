// Reads of the live graph: GET /api/v1/processes, /api/v1/why/:pid and /api/v1/graph
// (JSON, or DOT with ?format=dot). Answers come from the query layer; this only speaks HTTP.
import { Hono, type Context } from "hono";
import { MAX_PID } from "../../events/schema.ts";
import { DEFAULT_VIEW_LIMIT, type Queries } from "../../query/queries.ts";
import type { AppEnv } from "../env.ts";
import { heavy, HeavyAborted, HeavyBusy } from "../heavy.ts";

const MAX_LIMIT = 1_000_000;

export function graphRoutes(queries: Queries): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  api.get("/api/v1/processes", (c) => {
    const limit = _limit(c);
    if (limit === undefined) return _badLimit(c);
    const { rows, total } = queries.processes(limit);
    // The answer stays a plain array; a cut list says so in headers.
    const headers: Record<string, string> = { "X-Total-Count": String(total) };
    if (rows.length < total) headers["X-Truncated"] = "true";
    return c.json(rows, 200, headers);
  });

  api.get("/api/v1/why/:pid", (c) => {
    const text = c.req.param("pid");
    if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_PID) {
      return c.json({ error: `pid must be an integer from 0 to ${MAX_PID}` }, 400);
    }
    // ?ended=true: only the last answer of a process that left the graph, even where a new process holds the pid now.
    const ended = c.req.query("ended");
    if (ended !== undefined && ended !== "true" && ended !== "false") return c.json({ error: `ended must be true or false` }, 400);
    if (ended === "true") {
      const last = queries.endedWhy(Number(text));
      if (last === undefined) return c.json({ error: `no process with pid ${text} left the graph lately` }, 404);
      return c.json(last);
    }
    const answer = queries.why(Number(text));
    if (answer === undefined) return c.json({ error: `no process with pid ${text}` }, 404);
    return c.json(answer);
  });

  api.get("/api/v1/graph", async (c) => {
    const limit = _limit(c);
    if (limit === undefined) return _badLimit(c);
    const format = c.req.query("format") ?? "json";
    if (format !== "json" && format !== "dot") return c.json({ error: `format must be json or dot` }, 400);
    // A dump costs tens of ms: one at a time, so scrapes never wait behind several; not
    // built at all for a client that left while it waited.
    const signal = c.req.raw.signal;
    try {
      if (format === "dot") {
        const dot = await heavy(() => queries.graphDot(limit), signal);
        return c.body(dot, 200, { "Content-Type": "text/vnd.graphviz; charset=utf-8" });
      }
      const json = await heavy(() => JSON.stringify(queries.graph(limit)), signal);
      return c.body(json, 200, { "Content-Type": "application/json" });
    } catch (e) {
      if (e instanceof HeavyBusy) return c.json({ error: `busy: ${e.message}; retry shortly` }, 503, { "Retry-After": "1" });
      // Nobody reads this answer: the client is gone.
      if (e instanceof HeavyAborted) return c.json({ error: e.message }, 503);
      throw e;
    }
  });

  return api;
}

/** ?limit=, default DEFAULT_VIEW_LIMIT; undefined when malformed. */
function _limit(c: Context<AppEnv>): number | undefined {
  const text = c.req.query("limit");
  if (text === undefined || text === "") return DEFAULT_VIEW_LIMIT;
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= MAX_LIMIT ? n : undefined;
}

function _badLimit(c: Context<AppEnv>): Response {
  return c.json({ error: `limit must be an integer from 1 to ${MAX_LIMIT}` }, 400);
}
