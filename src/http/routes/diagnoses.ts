// GET /api/v1/diagnoses: recent run results, newest first (?limit=). POST runs the rule set
// now, for the whole host or, with ?pid=, for one process (404 when no process holds the pid; for one that left lately,
// the error points to its last answer).
import { Hono } from "hono";
import { MAX_PID } from "../../events/schema.ts";
import type { Queries } from "../../query/queries.ts";
import type { AppEnv } from "../env.ts";

const DEFAULT_LIMIT = 20;

export function diagnosesRoutes(queries: Queries): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  api.get("/api/v1/diagnoses", (c) => {
    const text = c.req.query("limit");
    let limit = DEFAULT_LIMIT;
    if (text !== undefined && text !== "") {
      const n = /^\d{1,9}$/.test(text) ? Number(text) : 0;
      // A limit past what is kept lists them all.
      if (n < 1) return c.json({ error: `limit must be a positive integer (${queries.diagnosesKept} runs are kept)` }, 400);
      limit = Math.min(n, queries.diagnosesKept);
    }
    return c.json(queries.diagnoses(limit));
  });

  api.post("/api/v1/diagnoses", (c) => {
    const text = c.req.query("pid");
    if (text === undefined) return c.json(queries.runNow());
    if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_PID) {
      return c.json({ error: `pid must be an integer from 0 to ${MAX_PID}` }, 400);
    }
    const pid = Number(text);
    const result = queries.runForPid(pid);
    if (result === undefined) {
      // A process that left lately cannot be asked (the rules read the graph), but its last answer is kept.
      const last = queries.endedWhy(pid);
      if (last !== undefined) return c.json({ error: `pid ${pid} has left the graph (${last.left_because} at ${last.left_at}): GET /api/v1/why/${pid} gives its last answer` }, 404);
      return c.json({ error: `no process with pid ${text}` }, 404);
    }
    return c.json(result);
  });

  return api;
}
