// GET /api/v1/diagnoses: recent run results, newest first (?limit=). POST runs the rule set
// now, for the whole host or, with ?pid=, for one process (404 when the pid is unknown).
import { Hono } from "hono";
import type { Exporter } from "../../exporter.ts";
import { MAX_PID } from "../../events/schema.ts";
import type { AppEnv } from "../env.ts";

const DEFAULT_LIMIT = 20;

export function diagnosesRoutes(exporter: Exporter): Hono<AppEnv> {
  const engine = exporter.engine;
  const api = new Hono<AppEnv>();

  api.get("/api/v1/diagnoses", (c) => {
    const text = c.req.query("limit");
    let limit = DEFAULT_LIMIT;
    if (text !== undefined && text !== "") {
      const n = /^\d{1,9}$/.test(text) ? Number(text) : 0;
      if (n < 1) return c.json({ error: `limit must be an integer from 1 to ${engine.ringSize}` }, 400);
      limit = Math.min(n, engine.ringSize);
    }
    return c.json(engine.results(limit));
  });

  api.post("/api/v1/diagnoses", (c) => {
    const text = c.req.query("pid");
    if (text === undefined) return c.json(engine.runNow("api"));
    if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_PID) {
      return c.json({ error: `pid must be an integer from 0 to ${MAX_PID}` }, 400);
    }
    const result = engine.runForPid(Number(text), "api");
    if (result === undefined) return c.json({ error: `no process with pid ${text}` }, 404);
    return c.json(result);
  });

  return api;
}
