// POST /-/reload: reads the rules again, as SIGHUP does, at the path Prometheus uses for its own
// reload: for a config-reloader sidecar, or an operator with no shell in the container to send
// a signal from. Guarded like pushes (app.ts). 200 with what changed; 500 with the reason when
// the new set is refused (the rules loaded before stay in force), as Prometheus answers.
import { Hono } from "hono";
import type { Queries } from "../../query/queries.ts";
import type { AppEnv } from "../env.ts";

export function reloadRoutes(queries: Queries): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.post("/-/reload", async (c) => {
    const out = await queries.reloadRules();
    if (!out.ok) return c.json({ error: `rules reload failed, the rules loaded before stay in force: ${out.error}` }, 500);
    return c.json(out);
  });
  return api;
}
