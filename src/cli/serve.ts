// `xctl-exporter [serve]`: flags to a running exporter. Only wiring lives here.
import { Exporter } from "../exporter.ts";
import { createApp, metricsPathProblem } from "../http/app.ts";
import { createLogger, setProcessLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevelName } from "../log.ts";
import { AddressInUseError, onHangupSignal, onShutdownSignal, serve } from "../runtime/serve.ts";
import { loadWebConfig } from "../http/web-config.ts";
import { checkTlsSupport } from "../runtime/tls.ts";
import { BUILTIN_PROBES, createProbes } from "../sources/index.ts";
import { describePlan, planCollectors } from "../sources/collectors.ts";
import { StdinSource } from "../sources/stdin.ts";
import { runtimeName, runtimeVersion } from "../runtime-name.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "./errors.ts";
import { RULE_FLAGS, resolveRuleConfig, rulesDir } from "./rules.ts";
import { flagLabel, misspeltVariables, parseFlags, type FlagDefs, type FlagValues } from "./flags.ts";
import { CLIENT_FLAGS } from "./client.ts";
import { ALIAS_FLAGS, applyAliases } from "./aliases.ts";
import { checkHost, checkResolves, describeBindError } from "./bind-error.ts";
import { logStartSummary } from "./start-summary.ts";
import { startServiceLog } from "./service-log.ts";
import { defaultRules } from "../diagnosis/rules-load.ts";
import { Queries } from "../query/queries.ts";
import { COLLECTOR_FLAGS, resolveCollectorConfig } from "./collectors.ts";
import { GRAPH_FLAGS, INGEST_FLAGS, resolveGraphConfig, resolveIngestConfig, type GraphConfig, type IngestConfig } from "./graph-flags.ts";
import { parseChoice, parseInteger, parsePort, parseSize } from "./parse-values.ts";

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
  logLevel: LogLevelName;
  logFormat: LogFormat;
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
    logLevel: parseChoice(L("log-level"), v["log-level"] as string, Object.keys(LOG_LEVELS) as LogLevelName[]),
    logFormat: parseChoice(L("log-format"), v["log-format"] as string, LOG_FORMATS),
  };
}

/** Runs until SIGTERM/SIGINT. Throws UsageError (exit 2) or AddressInUseError (exit 1). */
export async function runServe(argv: string[]): Promise<void> {
  // SIGHUP from here on reloads the rules (below) rather than ending the process: one that comes
  // while start-up reads the rules, the web config or binds (`systemctl reload` right after a
  // start) is kept, and one reload runs once the exporter serves.
  let reload: (() => void) | undefined;
  let hangupDuringStart = false;
  onHangupSignal(() => (reload !== undefined ? reload() : (hangupDuringStart = true)));
  const { values, positionals } = parseFlags(SERVE_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  applyAliases(values);
  // The logger first, so that a bad value of any other flag stops start-up in the chosen format.
  const logFormat = parseChoice(flagLabel(values, "log-format"), values["log-format"] as string, LOG_FORMATS);
  const log = createLogger(parseChoice(flagLabel(values, "log-level"), values["log-level"] as string, Object.keys(LOG_LEVELS) as LogLevelName[]), logFormat);
  setProcessLogger(log, logFormat);
  const config = resolveServeConfig(values);
  const hostConfig = resolveCollectorConfig(values);
  // Rules load before anything starts: a bad rule file exits 2 with one line.
  const diagnosis = resolveRuleConfig(values);
  const webConfigFile = (values["web-config"] as string | undefined) || undefined;
  const web = webConfigFile === undefined ? undefined : await loadWebConfig(webConfigFile);
  if (web?.tls) checkTlsSupport(web.tls, webConfigFile!);

  const exporter = new Exporter({
    log,
    rules: diagnosis.rules,
    ruleSource: { dir: rulesDir(values), defaults: values["no-default-rules"] !== true },
    diagnosisIntervalMs: diagnosis.diagnosisIntervalMs,
    sceneSettleMs: diagnosis.sceneSettleMs,
    ...config.graph,
    ...config.ingest,
    maxSseClients: config.maxSseClients,
  });
  const stdin = config.stdin ? new StdinSource() : null;
  const plan = planCollectors(hostConfig.collectors, { paths: hostConfig.host, env: process.env }, config.probes, BUILTIN_PROBES);
  const specs = [...config.probes, ...plan.run.map((c) => c.spec)];
  const sources = [..._probesNamingVariable(values, () => createProbes(specs, stdin ? [stdin.name] : [], hostConfig.host)), ...(stdin ? [stdin] : [])];
  for (const source of sources) exporter.addSource(source);

  const queries = new Queries(exporter, VERSION);
  // What auto left out stays visible in `status` and on the landing page, not in the start log alone.
  if (hostConfig.collectors === "auto") queries.collectorsSkipped = plan.skipped.filter((s) => s.reason !== "given as --probe");
  const app = createApp(exporter, {
    queries,
    metricsPath: config.metricsPath,
    web,
    ingest: {
      maxBodyBytes: config.maxBodyBytes,
      token: config.ingestToken,
      allowRemote: config.ingestAllowRemote,
      queueBytes: config.ingestQueueBytes,
    },
  });
  for (const w of diagnosis.warnings) log.warn(w);
  // The clients read the same environment file: their variables are known too.
  for (const w of misspeltVariables([SERVE_FLAGS, CLIENT_FLAGS], ["XCTL_DEBUG"])) log.warn(w);
  let server: Awaited<ReturnType<typeof serve>>;
  await checkResolves(config.host, config.port, flagLabel(values, "host"));
  try {
    server = await serve({ port: config.port, hostname: config.host, tls: web?.tls, fetch: (req, env) => app.fetch(req, env), log: (line) => log.warn(line) });
  } catch (e) {
    throw describeBindError(e, config.host, config.port, flagLabel(values, "host"));
  }
  exporter.start();
  logStartSummary(log, {
    version: VERSION,
    runtime: `${runtimeName} ${runtimeVersion}`,
    scheme: web?.tls ? "https" : "http",
    host: config.host,
    port: server.port,
    metricsPath: config.metricsPath,
    sources: sources.map((s) => s.name),
    rules: diagnosis.rules,
    rulesDir: rulesDir(values),
    defaults: values["no-default-rules"] !== true,
    defaultScenes: defaultRules().map((r) => r.scene),
    web,
    ingestToken: config.ingestToken !== undefined,
    ingestAllowRemote: config.ingestAllowRemote,
  });
  const serviceLog = startServiceLog(queries, log);
  log.info(hostConfig.collectors === "none" ? "collectors: none (--collectors none)" : describePlan(plan));
  for (const c of plan.run) if (c.missing !== null) log.warn(`collector ${c.name} listed in --collectors but ${c.missing}: it shows as down until its source appears`);

  // SIGHUP reloads the rules (as it reloads Prometheus's configuration), keeping what the
  // diagnosis knows; a bad rule set is refused and the one in force stays. Flags and probes are
  // read at start only.
  reload = () => void exporter.reloadRules();
  if (hangupDuringStart) reload();
  await new Promise<void>((resolve) => {
    onShutdownSignal((signal) => {
      log.info(`${signal}: shutting down`);
      serviceLog.stop();
      // A stuck child or connection must not hold the exit past a second.
      setTimeout(() => process.exit(0), 900).unref?.();
      Promise.allSettled([exporter.stop(), server.close()]).then(() => resolve());
    });
  });
}

export { AddressInUseError };

/**
 * Runs `make` (which parses the probe specs); a spec it refuses names `--probe`, so when the
 * probes came from XCTL_PROBE the error is said of that variable, which is what the user set.
 */
function _probesNamingVariable<T>(values: FlagValues, make: () => T): T {
  try {
    return make();
  } catch (e) {
    const label = flagLabel(values, "probe");
    if (!(e instanceof UsageError) || label === "--probe" || !e.message.startsWith("--probe")) throw e;
    throw new UsageError(label + e.message.slice("--probe".length));
  }
}
