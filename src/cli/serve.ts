// `xctl-exporter [serve]`: its flags and what they say before anything loads. A bad flag,
// value or variable stops start-up here with one line (exit 2), before the rules, the exporter,
// its sources and the HTTP app are loaded (on Node, most of a start's CPU); serve-run.ts then
// builds and runs the exporter from the configuration read here.
import type { ConsolaInstance } from "consola/core";
import { createLogger, setProcessLogger } from "../log.ts";
import { resolveLogFlags } from "./log-flags.ts";
import { onHangupSignal } from "../runtime/serve.ts";
import { metricsPathProblem } from "../http/routes-table.ts";
import { UsageError } from "./errors.ts";
import { RULE_FLAGS, resolveRuleFlags, type RuleFlags } from "./rule-flags.ts";
import { flagLabel, parseFlags, type FlagDefs, type FlagValues } from "./flags.ts";
import { ALIAS_FLAGS, applyAliases } from "./aliases.ts";
import { checkHost } from "./bind-error.ts";
import { COLLECTOR_FLAGS, resolveCollectorConfig, type CollectorConfig } from "./collectors.ts";
import { GRAPH_FLAGS, INGEST_FLAGS, resolveGraphConfig, resolveIngestConfig, type GraphConfig, type IngestConfig } from "./graph-flags.ts";
import { parseInteger, parsePort, parseSize } from "./parse-values.ts";

export const SERVE_FLAGS: FlagDefs = {
  port: { type: "string", default: "9091", description: "TCP port to listen on", valueHint: "port" },
  host: { type: "string", default: "0.0.0.0", description: "Address to listen on", valueHint: "addr" },
  "metrics-path": { type: "string", default: "/metrics", description: "Path of the metrics page", valueHint: "path" },
  probe: {
    type: "string",
    multiple: true,
    description: "Run a probe and read its stdout as events; repeatable; builtin:demo, builtin:nvidia-smi, builtin:npu-smi, ...",
    valueHint: "cmd",
  },
  ...COLLECTOR_FLAGS,
  stdin: { type: "boolean", default: false, description: "Read events from standard input too" },
  ...GRAPH_FLAGS,
  ...INGEST_FLAGS,
  "max-sse-clients": { type: "string", default: "64", description: "Concurrent event-stream clients", valueHint: "n" },
  "max-body": { type: "string", default: "8MiB", description: "Largest body accepted by POST /api/v1/events (413 past it)", valueHint: "size" },
  "ingest-token": { type: "string", description: "Bearer token required by POST /api/v1/events", valueHint: "token" },
  "ingest-allow-remote": { type: "boolean", default: false, description: "Without --ingest-token, accept pushes from any address, not loopback only" },
  "ingest-queue-bytes": { type: "string", description: "Bound on pushed body bytes in flight; past it pushes get 503 (default 4 x --max-body)", valueHint: "size" },
  ...RULE_FLAGS,
  "web-config": { type: "string", description: "TLS, basic auth and headers, in Prometheus exporter-toolkit format", valueHint: "file" },
  "log-level": { type: "string", default: "info", description: "silent, error, warn, info, debug or trace", valueHint: "level" },
  "log-format": { type: "string", default: "pretty", description: "pretty, logfmt or json", valueHint: "format" },
  ...ALIAS_FLAGS,
};

export interface ServeConfig {
  port: number;
  host: string;
  metricsPath: string;
  probes: string[];
  stdin: boolean;
  graph: GraphConfig;
  ingest: IngestConfig;
  maxSseClients: number;
  maxBodyBytes: number;
  ingestToken: string | undefined;
  ingestAllowRemote: boolean;
  ingestQueueBytes: number;
}

export function resolveServeConfig(v: FlagValues): ServeConfig {
  // Errors name what the user set: the flag, its node_exporter alias or the variable.
  const L = (name: string) => flagLabel(v, name);
  const metricsPath = v["metrics-path"] as string;
  const pathProblem = metricsPathProblem(metricsPath);
  if (pathProblem !== undefined) throw new UsageError(`${L("metrics-path")}: "${metricsPath}" ${pathProblem}`);
  const maxBodyBytes = parseSize(L("max-body"), v["max-body"] as string);
  return {
    port: parsePort(L("port"), v.port as string),
    host: checkHost(L("host"), v.host as string),
    metricsPath,
    probes: (v.probe as string[] | undefined) ?? [],
    stdin: v.stdin === true,
    graph: resolveGraphConfig(v),
    ingest: resolveIngestConfig(v),
    maxSseClients: parseInteger(L("max-sse-clients"), v["max-sse-clients"] as string, 1, 100_000),
    maxBodyBytes,
    ingestToken: (v["ingest-token"] as string | undefined) || undefined,
    ingestAllowRemote: v["ingest-allow-remote"] === true,
    ingestQueueBytes:
      v["ingest-queue-bytes"] === undefined ? 4 * maxBodyBytes : parseSize(L("ingest-queue-bytes"), v["ingest-queue-bytes"] as string),
  };
}

/** What serve knows once its flags are read, before it loads anything else. */
export interface ServeStart {
  values: FlagValues;
  config: ServeConfig;
  collectors: CollectorConfig;
  rules: RuleFlags;
  log: ConsolaInstance;
  hangups: Hangups;
}

/**
 * SIGHUP from the first moment of serve: a reload once the exporter serves, and until then kept
 * (one that comes while start-up reads the rules, the web config or binds, `systemctl reload`
 * right after a start, runs once it serves) rather than ending the process.
 */
export class Hangups {
  private _reload: (() => void) | undefined;
  private _early = false;

  constructor() {
    onHangupSignal(() => (this._reload !== undefined ? this._reload() : (this._early = true)));
  }

  /** From now on SIGHUP runs `reload`; one that came during start-up runs it now. */
  reloadWith(reload: () => void): void {
    this._reload = reload;
    if (this._early) reload();
  }
}

/** Runs until SIGTERM/SIGINT. Throws UsageError (exit 2) or AddressInUseError (exit 1). */
export async function runServe(argv: string[]): Promise<void> {
  const hangups = new Hangups();
  const { values, positionals } = parseFlags(SERVE_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  applyAliases(values);
  // The logger first, so that a bad value of any other flag stops start-up in the chosen format.
  const logFlags = resolveLogFlags(values);
  const log = createLogger(logFlags.level, logFlags.format);
  setProcessLogger(log, logFlags.format);
  const config = resolveServeConfig(values);
  const collectors = resolveCollectorConfig(values);
  // The rule flags' own values; the rule files load in serve-run.ts (a bad one exits 2 there).
  const rules = resolveRuleFlags(values);
  const { serveExporter } = await import("./serve-run.ts");
  await serveExporter({ values, config, collectors, rules, log, hangups });
}
