// `xctl-exporter replay FILE|-`: its flags and what they say before anything loads. A bad flag,
// value or variable stops replay here with one line (exit 2), before the rules, the exporter and
// the query layer are loaded; replay-run.ts then reads the file through them.
import { defineCommand } from "citty";
import { UsageError } from "./errors.ts";
import { RULE_FLAGS, resolveRuleFlags } from "./rule-flags.ts";
import { cittyArgs, parseFlags, type FlagDefs } from "./flags.ts";
import { GRAPH_FLAGS, INGEST_FLAGS, resolveGraphConfig, resolveIngestConfig } from "./graph-flags.ts";
import { resolveLogFlags } from "./log-flags.ts";

export const REPLAY_FLAGS: FlagDefs = {
  ...GRAPH_FLAGS,
  ...INGEST_FLAGS,
  ...RULE_FLAGS,
  "log-level": { type: "string", default: "warn", description: "silent, error, warn, info, debug or trace", valueHint: "level" },
  "log-format": { type: "string", default: "pretty", description: "pretty, logfmt or json (warnings on stderr: rejected lines, rule warnings)", valueHint: "format" },
  json: { type: "boolean", default: false, description: "Print a JSON summary on stdout (counts, the timeline of scenes by event time) instead of the exposition", env: false },
};

export async function runReplay(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(REPLAY_FLAGS, argv);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "replay: give an event file, or - for standard input" : `replay: unexpected argument "${positionals[1]}"`);
  }
  const logFlags = resolveLogFlags(values);
  // The rule flags' own values; the rule files load in replay-run.ts (a bad one exits 2 there).
  const rules = resolveRuleFlags(values);
  const graph = resolveGraphConfig(values);
  const ingest = resolveIngestConfig(values);
  const { replayFile } = await import("./replay-run.ts");
  await replayFile({ file: positionals[0], json: values.json === true, logLevel: logFlags.level, logFormat: logFlags.format, rules, graph, ingest });
}

export const replayCommand = defineCommand({
  meta: { name: "replay", description: "Feed a recorded event file through the graph; print the final exposition and a summary" },
  args: { ...cittyArgs(REPLAY_FLAGS), file: { type: "positional" as const, description: "Event file (NDJSON), or - for standard input", required: false } },
  run: ({ rawArgs }) => runReplay(rawArgs),
});
