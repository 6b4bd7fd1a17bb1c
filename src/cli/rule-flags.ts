// The rule flags that serve and replay share, and what they say before any rule file is read:
// the --rules directory, whether the embedded set loads, and the diagnosis timings. Light on purpose: a bad value stops start-up
// before the rules (YAML) and the exporter are loaded; rules.ts loads the rule files.
import { UsageError } from "./errors.ts";
import { flagLabel, type FlagDefs, type FlagValues } from "./flags.ts";
import { parseDuration } from "./parse-values.ts";

export const RULE_FLAGS: FlagDefs = {
  // `multiple` only so that a second --rules is refused (rulesDir) rather than dropping the first in silence.
  rules: { type: "string", multiple: true, description: "Add the rules of this directory (*.yaml, *.yml); a scene already loaded is replaced", valueHint: "dir" },
  "no-default-rules": { type: "boolean", default: false, description: "Leave out the embedded rule set" },
  "diagnosis-interval": { type: "string", default: "1s", description: "Debounce of automatic diagnosis runs", valueHint: "duration" },
  "scene-settle": { type: "string", default: "1m", description: "A scene clears only after it has not held for this long", valueHint: "duration" },
};

/** What the rule flags say before any rule file is read. */
export interface RuleFlags {
  /** The --rules directory, if any. */
  dir: string | undefined;
  /** The embedded rule set too (no --no-default-rules). */
  defaults: boolean;
  diagnosisIntervalMs: number;
  sceneSettleMs: number;
}

/**
 * The --rules directory, if any. It takes one: a second one is refused (exit 2), since taking the
 * last would leave the rules of the first out with nothing said.
 */
export function rulesDir(v: FlagValues): string | undefined {
  const given = v.rules === undefined ? [] : ([] as string[]).concat(v.rules as string | string[]).filter((d) => d !== "");
  const dirs = [...new Set(given)];
  if (dirs.length > 1) {
    throw new UsageError(`${flagLabel(v, "rules")}: given ${dirs.length} directories (${dirs.join(", ")}); it takes one: put the rule files in one directory`);
  }
  return dirs[0];
}

/** The rule flags' values; errors name what the user set (the flag, or its XCTL_* variable). */
export function resolveRuleFlags(v: FlagValues): RuleFlags {
  const interval = flagLabel(v, "diagnosis-interval");
  const intervalText = v["diagnosis-interval"] as string;
  const diagnosisIntervalMs = parseDuration(interval, intervalText);
  if (diagnosisIntervalMs < 1) throw new UsageError(`${interval}: "${intervalText}" is too small (at least 1ms)`);
  const sceneSettleMs = parseDuration(flagLabel(v, "scene-settle"), v["scene-settle"] as string);
  return { dir: rulesDir(v), defaults: v["no-default-rules"] !== true, diagnosisIntervalMs, sceneSettleMs };
}
