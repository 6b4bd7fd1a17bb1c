// What `serve` says once it listens, at info: the address with its scheme and the landing
// page, the sources, the rules (how many, from where, which scenes a directory replaced), TLS,
// basic auth and how pushes are guarded; a warning when nothing feeds the graph or no rule is
// loaded. Kept apart from the flag wiring in serve.ts.
import type { ConsolaInstance } from "consola";
import { hostname } from "node:os";
import type { Rule } from "../query/queries.ts";
import type { WebConfig } from "../http/web-config.ts";

export interface StartFacts {
  version: string;
  runtime: string;
  scheme: "http" | "https";
  host: string;
  port: number;
  metricsPath: string;
  /** Source names, as they appear in xctl_probe_up. */
  sources: readonly string[];
  rules: readonly Rule[];
  /** The --rules directory, if one was given. */
  rulesDir?: string;
  /** Whether the embedded set was loaded. */
  defaults: boolean;
  /** The scenes of the embedded set (to tell which ones a directory replaced). */
  defaultScenes: readonly string[];
  web?: Pick<WebConfig, "tls" | "users">;
  ingestToken: boolean;
  ingestAllowRemote: boolean;
}

/** The base URL a person on this host (or another) opens. */
export function publicBase(f: Pick<StartFacts, "scheme" | "host" | "port">): string {
  const h = f.host === "0.0.0.0" || f.host === "::" ? hostname() : f.host;
  return `${f.scheme}://${h.includes(":") ? `[${h}]` : h}:${f.port}`;
}

/** The summary lines as [level, message, fields]. */
export function startSummary(f: StartFacts): ["info" | "warn", string, Record<string, unknown>][] {
  const out: ["info" | "warn", string, Record<string, unknown>][] = [];
  const listen = `${f.scheme}://${f.host.includes(":") ? `[${f.host}]` : f.host}:${f.port}`;
  const base = publicBase(f);
  // `--metrics-path /` serves the exposition in the landing page's place: there is none to name.
  const where = f.metricsPath === "/" ? `${listen}/ (metrics at /, in place of the landing page)` : `${listen}${f.metricsPath}; landing page ${base}/`;
  out.push(["info", `xctl-exporter ${f.version} (${f.runtime}) listening on ${where}`, {}]);
  if (f.sources.length === 0) {
    out.push(["warn", "no sources: nothing feeds the graph except POST /api/v1/events (give --probe, --stdin or a collector)", {}]);
  } else out.push(["info", `sources: ${f.sources.join(", ")}`, { count: f.sources.length }]);
  out.push(_rulesLine(f));
  const tls = f.web?.tls;
  out.push(["info", tls ? `TLS on (${tls.minVersion} to ${tls.maxVersion}, client certificates: ${tls.clientAuth})` : "TLS off (plain HTTP)", {}]);
  const users = f.web?.users.size ?? 0;
  out.push(["info", users > 0 ? `basic auth on (${users} user${users === 1 ? "" : "s"})` : "basic auth off: every route answers without credentials", {}]);
  out.push([
    "info",
    f.ingestToken
      ? "pushes (POST /api/v1/events) need the ingest token"
      : f.ingestAllowRemote
        ? "pushes (POST /api/v1/events) accepted from any address without a token (--ingest-allow-remote)"
        : "pushes (POST /api/v1/events) accepted from loopback only",
    {},
  ]);
  return out;
}

function _rulesLine(f: StartFacts): ["info" | "warn", string, Record<string, unknown>] {
  const n = f.rules.length;
  if (n === 0) return ["warn", `no rules loaded${f.rulesDir ? ` (${f.rulesDir} holds none and --no-default-rules is set)` : ""}: no scene can ever be diagnosed`, { count: 0 }];
  const embedded = f.rules.filter((r) => r.source.startsWith("embedded:")).length;
  const fromDir = n - embedded;
  const defaults = new Set(f.defaultScenes);
  const replaced = f.defaults ? f.rules.filter((r) => !r.source.startsWith("embedded:") && defaults.has(r.scene)).map((r) => r.scene) : [];
  const parts: string[] = [];
  if (embedded > 0) parts.push(`${embedded} embedded`);
  if (fromDir > 0) parts.push(`${fromDir} from ${f.rulesDir ?? "a directory"}`);
  const rep = replaced.length > 0 ? `; replaced: ${replaced.join(", ")}` : "";
  return ["info", `rules: ${n} loaded (${parts.join(", ")}${rep})`, { count: n }];
}

export function logStartSummary(log: ConsolaInstance, f: StartFacts): void {
  for (const [level, msg, fields] of startSummary(f)) {
    if (Object.keys(fields).length > 0) log[level](msg, fields);
    else log[level](msg);
  }
}
