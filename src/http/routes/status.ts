// GET /healthz, /readyz and /api/v1/status.
//   /healthz: 200 while the process serves.
//   /readyz: 200 once the rules are loaded and every configured source was started; 503 with
//     the reason before that and while shutting down. The body lists each source's state. A
//     source that is down or crash-looping does NOT make the exporter unready: it is still
//     serving the truth, xctl_probe_up=0 included, and taking it out of a Service or stalling a
//     DaemonSet rollout would hide exactly that signal (Kubernetes readiness is about whether
//     this pod can answer, not whether its inputs are healthy). The body marks it `degraded`.
//   /api/v1/status: what `xctl-exporter status` shows: active scenes, sources, counts.
import { Hono } from "hono";
import type { Queries } from "../../query/queries.ts";
import type { AppEnv } from "../env.ts";

export function statusRoutes(queries: Queries): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  // Type and length spelled out: a runtime that fills them in from a string body leaves them
  // off HEAD, and a declared 3 bytes is never gzipped (into 23).
  api.get("/healthz", (c) => c.text("ok\n", 200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": "3" }));

  api.get("/readyz", (c) => {
    const r = queries.readiness();
    const degraded = r.sources.filter((s) => s.state !== "up").map((s) => s.name);
    const body = {
      status: r.ready ? "ready" : "not ready",
      ...(r.ready ? {} : { error: `not ready: ${r.reason}` }),
      rules: r.rules,
      sources: r.sources,
      ...(degraded.length > 0 ? { degraded } : {}),
    };
    return c.json(body, r.ready ? 200 : 503);
  });

  api.get("/api/v1/status", (c) => c.json(queries.status()));

  return api;
}
