// serve once its flags are read (serve.ts): loads the rules and the web config, builds the
// exporter, its sources and the HTTP app, binds, and runs until SIGTERM/SIGINT.
import { Exporter } from "../exporter.ts";
import { createApp } from "../http/app.ts";
import { onShutdownSignal, serve } from "../runtime/serve.ts";
import { loadWebConfig } from "../http/web-config.ts";
import { checkTlsSupport } from "../runtime/tls.ts";
import { BUILTIN_PROBES, createProbes } from "../sources/index.ts";
import { describePlan, planCollectors } from "../sources/collectors.ts";
import { StdinSource } from "../sources/stdin.ts";
import { runtimeName, runtimeVersion } from "../runtime-name.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "./errors.ts";
import { loadRules } from "./rules.ts";
import { flagLabel, misspeltVariables, type FlagValues } from "./flags.ts";
import { CLIENT_FLAGS } from "./client.ts";
import { checkResolves, describeBindError } from "./bind-error.ts";
import { logStartSummary } from "./start-summary.ts";
import { startServiceLog } from "./service-log.ts";
import { defaultRules } from "../diagnosis/rules-load.ts";
import { Queries } from "../query/queries.ts";
import { SERVE_FLAGS, type ServeStart } from "./serve.ts";

/** Runs until SIGTERM/SIGINT. Throws ConfigError or UsageError (exit 2), AddressInUseError (exit 1). */
export async function serveExporter({ values, config, collectors: hostConfig, rules: ruleFlags, log, hangups }: ServeStart): Promise<void> {
  // Rules load before anything starts: a bad rule file exits 2 with one line.
  const diagnosis = loadRules(ruleFlags);
  const webConfigFile = (values["web-config"] as string | undefined) || undefined;
  const web = webConfigFile === undefined ? undefined : await loadWebConfig(webConfigFile);
  if (web?.tls) checkTlsSupport(web.tls, webConfigFile!);

  const exporter = new Exporter({
    log,
    rules: diagnosis.rules,
    ruleSource: { dir: ruleFlags.dir, defaults: ruleFlags.defaults },
    diagnosisIntervalMs: ruleFlags.diagnosisIntervalMs,
    sceneSettleMs: ruleFlags.sceneSettleMs,
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
    rulesDir: ruleFlags.dir,
    defaults: ruleFlags.defaults,
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
  hangups.reloadWith(() => void exporter.reloadRules());
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
