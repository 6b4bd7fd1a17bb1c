// The whole HTTP surface as one Hono app on web-standard Request/Response. Built from the
// exporter's state by one factory; the runtime edge (src/runtime/serve.ts) only serves it.
import { Hono } from "hono";
import { compress } from "hono/compress";
import { gzipSync } from "node:zlib";
import type { Exporter } from "../exporter.ts";
import type { AppEnv } from "./env.ts";
import { basicAuth, securityHeaders } from "./basic-auth.ts";
import { headLikeGet } from "./head.ts";
import { LANDING_CSS, LANDING_ICON, landingPage } from "./landing.ts";
import type { WebConfig } from "./web-config.ts";
import { eventRoutes, type EventRouteOptions } from "./routes/events.ts";
import { postGuard } from "./routes/ingest-guard.ts";
import { diagnosesRoutes } from "./routes/diagnoses.ts";
import { reloadRoutes } from "./routes/reload.ts";
import { graphRoutes } from "./routes/graph.ts";
import { streamRoutes } from "./routes/stream.ts";
import { statusRoutes } from "./routes/status.ts";
import { Queries } from "../query/queries.ts";
import { VERSION } from "../version.ts";
import { allowedMethods } from "./routes-table.ts";

export interface AppOptions {
  metricsPath?: string;
  /** Basic auth users and response headers from --web-config (TLS is the runtime edge's). */
  web?: Pick<WebConfig, "users" | "headers" | "authExcludedPaths">;
  /** POST /api/v1/events: body limit, ingest token, remote pushes, queue bound. */
  ingest?: EventRouteOptions;
  /** SSE heartbeat interval (default 15 s). */
  sseHeartbeatMs?: number;
  /** The query layer over this exporter (default: one made here). */
  queries?: Queries;
}

const _utf8 = new TextEncoder();

/** Whether an Accept-Encoding header allows gzip (explicitly or by `*`, with q > 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let star = false;
  for (const part of header.split(",")) {
    const [name, ...params] = part.split(";");
    const coding = name.trim().toLowerCase();
    if (coding !== "gzip" && coding !== "x-gzip" && coding !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (coding === "*") star = ok;
    else return ok;
  }
  return star;
}

export function createApp(exporter: Exporter, opts: AppOptions = {}): Hono<AppEnv> {
  const metricsPath = opts.metricsPath ?? "/metrics";
  const queries = opts.queries ?? new Queries(exporter, VERSION);
  const app = new Hono<AppEnv>();

  // HEAD gets the length (and encoding) GET would send, 401s and errors included.
  app.use(headLikeGet(acceptsGzip));
  // Headers first, so that 401s and errors carry them too.
  if (opts.web) {
    app.use(securityHeaders(opts.web.headers));
    // With an ingest token, pushes carry a Bearer credential in the one Authorization header
    // there is; the token guards that route instead of basic auth.
    const excluded = [...opts.web.authExcludedPaths, ...(opts.ingest?.token ? ["/api/v1/events"] : [])];
    app.use(basicAuth(opts.web.users, { excludedPaths: excluded }));
  }
  // Hono answers HEAD from the GET route, without the body. The explicit length keeps HEAD
  // truthful (Bun and Deno would say 0). The route sits before the compress middleware and
  // gzips in one synchronous call: the streamed compression cost more than the page itself.
  app.get(metricsPath, async (c) => {
    const text = await exporter.metrics.render();
    const gzip = acceptsGzip(c.req.header("Accept-Encoding"));
    const body = gzip ? gzipSync(text, { level: 1 }) : _utf8.encode(text);
    const headers: Record<string, string> = {
      "Content-Type": exporter.metrics.contentType,
      "Content-Length": String(body.length),
      Vary: "Accept-Encoding",
    };
    if (gzip) headers["Content-Encoding"] = "gzip";
    return c.body(body, 200, headers);
  });

  app.use(compress({ encoding: "gzip" }));

  app.get("/", (c) => c.html(landingPage(queries, { metricsPath })));
  app.get("/landing.css", (c) => c.body(LANDING_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600" }));
  app.get("/favicon.svg", (c) => c.body(LANDING_ICON, 200, { "Content-Type": "image/svg+xml", "Cache-Control": "max-age=3600" }));

  // Running a diagnosis moves counters and the result ring: guarded like pushes.
  app.use("/api/v1/diagnoses", postGuard({ ...opts.ingest, basicAuthed: (opts.web?.users.size ?? 0) > 0 }));
  app.use("/-/reload", postGuard({ ...opts.ingest, basicAuthed: (opts.web?.users.size ?? 0) > 0 }));
  app.route("/", statusRoutes(queries));
  app.route("/", eventRoutes(exporter.ingest, opts.ingest));
  app.route("/", streamRoutes(exporter.hub, { heartbeatMs: opts.sseHeartbeatMs, queries }));
  app.route("/", graphRoutes(queries));
  app.route("/", diagnosesRoutes(queries));
  app.route("/", reloadRoutes(queries));

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allow = allowedMethods(path, metricsPath);
    if (allow === undefined) return c.json({ error: `not found: ${c.req.method} ${path}` }, 404);
    if (c.req.method === "OPTIONS") return c.body(null, 204, { Allow: `${allow}, OPTIONS` });
    return c.json({ error: `method ${c.req.method} not allowed on ${path}: use ${allow}` }, 405, { Allow: allow });
  });
  app.onError((err, c) => {
    exporter.log.error(`${c.req.method} ${new URL(c.req.url).pathname}: ${err.message}`);
    return c.json({ error: "internal error" }, 500);
  });
  return app;
}
