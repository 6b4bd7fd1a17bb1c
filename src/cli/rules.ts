// `xctl-exporter rules check DIR`, and the rule flags that serve (and replay) share.
import { defineCommand } from "citty";
import type { Rule } from "../diagnosis/rule.ts";
import { loadRulesDir, loadRuleSet } from "../diagnosis/rules-load.ts";
import { UsageError } from "./errors.ts";
import { cittyArgs, parseFlags, type FlagDefs, type FlagValues } from "./flags.ts";
import { parseDuration } from "./parse-values.ts";

export const RULE_FLAGS: FlagDefs = {
  rules: { type: "string", description: "Add the rules of this directory (*.yaml); a scene already loaded is replaced", valueHint: "dir" },
  "no-default-rules": { type: "boolean", default: false, description: "Leave out the embedded rule set" },
  "diagnosis-interval": { type: "string", default: "1s", description: "Debounce of automatic diagnosis runs", valueHint: "duration" },
};

export interface RuleConfig {
  rules: Rule[];
  diagnosisIntervalMs: number;
}

/** Reads the rule flags and loads the rules; a bad rule file throws a ConfigError (exit 2). */
export function resolveRuleConfig(v: FlagValues): RuleConfig {
  const diagnosisIntervalMs = parseDuration("diagnosis-interval", v["diagnosis-interval"] as string);
  if (diagnosisIntervalMs < 1) throw new UsageError(`--diagnosis-interval: must be at least 1ms`);
  const dir = v.rules as string | undefined;
  return { rules: loadRuleSet({ dir: dir || undefined, defaults: v["no-default-rules"] !== true }), diagnosisIntervalMs };
}

const CHECK_FLAGS: FlagDefs = {};

export async function runRulesCheck(argv: string[]): Promise<void> {
  const { positionals } = parseFlags(CHECK_FLAGS, argv);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "rules check: give a rules directory" : `rules check: unexpected argument "${positionals[1]}"`);
  }
  const rules = loadRulesDir(positionals[0]);
  // Always "N rules OK": scripts match this line.
  process.stdout.write(`${rules.length} rules OK\n`);
}

/** `rules check DIR`; dispatched here rather than by citty so every misuse exits 2. */
export async function runRules(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === "check") return runRulesCheck(rest);
  throw new UsageError(sub === undefined ? "rules: give a sub-command: rules check DIR" : `rules: unknown sub-command "${sub}" (known: check)`);
}

export const rulesCommand = defineCommand({
  meta: { name: "rules", description: "Diagnosis rules: `rules check DIR` validates the rule files of a directory" },
  args: {
    command: { type: "positional" as const, description: "check", required: false },
    dir: { type: "positional" as const, description: "Rules directory", required: false },
  },
  run: ({ rawArgs }) => runRules(rawArgs),
});
