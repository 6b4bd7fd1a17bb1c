// Every route of the app and the methods each takes, in a file of its own: serve checks its
// --metrics-path against it before it loads the app (a bad flag exits without loading Hono and
// the exporter).
/**
 * Every route and its methods (GET answers HEAD too), for 405 with `Allow`. `:metrics` stands
 * for the configured metrics path.
 */
const _ROUTES: [RegExp | ":metrics", string][] = [
  [":metrics", "GET, HEAD"],
  [/^\/$/, "GET, HEAD"],
  [/^\/landing\.css$/, "GET, HEAD"],
  [/^\/favicon\.svg$/, "GET, HEAD"],
  [/^\/healthz$/, "GET, HEAD"],
  [/^\/readyz$/, "GET, HEAD"],
  [/^\/api\/v1\/events$/, "POST"],
  [/^\/api\/v1\/events\/stream$/, "GET, HEAD"],
  [/^\/api\/v1\/processes$/, "GET, HEAD"],
  [/^\/api\/v1\/status$/, "GET, HEAD"],
  [/^\/api\/v1\/why\/[^/]+$/, "GET, HEAD"],
  [/^\/api\/v1\/graph$/, "GET, HEAD"],
  [/^\/api\/v1\/diagnoses$/, "GET, HEAD, POST"],
  [/^\/-\/reload$/, "POST"],
];

/** The methods a path takes, or undefined for a path that is no route. */
export function allowedMethods(path: string, metricsPath: string): string | undefined {
  for (const [re, methods] of _ROUTES) if (re === ":metrics" ? path === metricsPath : re.test(path)) return methods;
  return undefined;
}

/**
 * Why `path` cannot serve the metrics, or undefined. `/` may: the exposition then takes the
 * landing page's place, as node_exporter does with `--web.telemetry-path=/`.
 */
export function metricsPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must start with /";
  if (/[?#]/.test(path)) return "must be a path alone: a ? or # never reaches the server as part of the path";
  if (path.includes("%")) return "must be written as it is, not percent-encoded";
  if (path.includes("//")) return "has an empty segment (//)";
  if (path !== "/" && allowedMethods(path, "") !== undefined) return "is already a route of the exporter (pick another path)";
  return undefined;
}
