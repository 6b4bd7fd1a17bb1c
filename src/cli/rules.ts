// `xctl-exporter rules check PATH... [--strict]`, `rules list` and `rules show SCENE`, and the
// loading of the rules that serve's and replay's rule flags (rule-flags.ts) name.
//
// `rules check` takes rule files and directories (`*.yaml` and `*.yml`), and names every
// problem of every file at once, one line each: `FILE:LINE: FIELD: REASON`. Errors exit 2; warnings
// (a condition that can never hold, a rule without solution steps) are printed and exit 0,
// unless `--strict` makes them errors.
import { defineCommand } from "citty";
import type { Rule } from "../diagnosis/rule.ts";
import { checkRulePaths, formatProblem, loadRuleSet, ruleText, type RuleProblem } from "../diagnosis/rules-load.ts";
import { escapeControl } from "../escape.ts";
import { UsageError, XctlError } from "./errors.ts";
import { parseFlags, type FlagDefs, type FlagValues } from "./flags.ts";
import { RULE_FLAGS, rulesDir, type RuleFlags } from "./rule-flags.ts";
import { suggest } from "../suggest.ts";
import { writeErr, writeOut } from "../stdio.ts";

/** The rules the flags name, and the problems of the --rules files that do not stop them from loading (conditions that can never hold, no solution steps). */
export interface LoadedRules {
  rules: Rule[];
  warnings: string[];
}

/** Loads the rules `f` names; a bad rule file throws a ConfigError (exit 2). */
export function loadRules(f: RuleFlags): LoadedRules {
  const problems: RuleProblem[] = [];
  const rules = loadRuleSet({ dir: f.dir, defaults: f.defaults, warnings: problems });
  return { rules, warnings: problems.map(formatProblem) };
}

export const CHECK_FLAGS: FlagDefs = {
  strict: { type: "boolean", default: false, description: "Treat warnings (conditions that can never hold, rules without solution steps) as errors", env: false },
  // serve's flag, so that `rules check --rules DIR` checks what `serve --rules DIR` would load (not XCTL_RULES: the paths are what is checked).
  rules: { ...RULE_FLAGS.rules, env: false },
};

export async function runRulesCheck(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(CHECK_FLAGS, argv);
  const paths = [...positionals, ...((values.rules as string[] | undefined) ?? [])];
  if (paths.length === 0) throw new UsageError("rules check: give rule files or directories");
  const { rules, problems } = checkRulePaths(paths);
  const strict = values.strict === true;
  const lines = problems.map((p) => escapeControl(formatProblem(strict ? { ...p, warning: false } : p)));
  const errors = problems.filter((p) => strict || !p.warning).length;
  const warnings = problems.length - errors;
  // One error is the command's one line; with more, each has its line and a count closes them.
  if (errors === 1 && problems.length === 1) throw new XctlError(lines[0], 2);
  for (const line of lines) writeErr(`xctl-exporter: ${line}\n`);
  if (errors > 0) throw new XctlError(`rules check: ${_count(errors, "error")}${warnings > 0 ? `, ${_count(warnings, "warning")}` : ""}`, 2);
  // Always "N rules OK" first: scripts match this line.
  writeOut(`${rules} rules OK${warnings > 0 ? ` (${_count(warnings, "warning")})` : ""}\n`);
}

export const LIST_FLAGS: FlagDefs = {
  rules: RULE_FLAGS.rules,
  "no-default-rules": RULE_FLAGS["no-default-rules"],
  json: { type: "boolean", default: false, description: "Print JSON", env: false },
};

/** `rules list`: the scenes a serve with the same rule flags would load, highest priority first. */
export async function runRulesList(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(LIST_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`rules list: unexpected argument "${positionals[0]}"`);
  const warnings: RuleProblem[] = [];
  const rules = loadRuleSet({ dir: rulesDir(values), defaults: values["no-default-rules"] !== true, warnings });
  // What a serve would log at start-up, on stderr: the list on stdout stays the list.
  for (const w of warnings) writeErr(`xctl-exporter: ${escapeControl(formatProblem(w))}\n`);
  if (values.json === true) {
    const out = rules.map((r) => ({ scene: r.scene, priority: r.priority, severity: r.severity, scope: r.scope, title: r.name, source: r.source }));
    writeOut(JSON.stringify(out, null, 2) + "\n");
    return;
  }
  // SOURCE: `embedded`, or the file a --rules directory added it from (replacing a built-in scene or not).
  const table = [["SCENE", "PRIORITY", "SEVERITY", "SCOPE", "SOURCE", "TITLE"]];
  for (const r of rules) {
    const source = r.source.startsWith("embedded:") ? "embedded" : escapeControl(r.source);
    table.push([r.scene, String(r.priority), r.severity, r.scope, source, escapeControl(r.name)]);
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  writeOut(table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join("  ")).join("\n") + "\n");
}

export const SHOW_FLAGS: FlagDefs = {
  rules: RULE_FLAGS.rules,
  "no-default-rules": RULE_FLAGS["no-default-rules"],
};

/**
 * `rules show SCENE`: the YAML of one scene's rule as a serve with the same rule flags would load
 * it, comments and all, so that `rules show gpu_oom > site/gpu_oom.yaml` starts a site copy
 * (which then replaces the embedded scene).
 */
export async function runRulesShow(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(SHOW_FLAGS, argv);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "rules show: give a scene: rules show SCENE" : `rules show: one scene at a time (got ${positionals.length})`);
  const scene = positionals[0];
  const rules = loadRuleSet({ dir: rulesDir(values), defaults: values["no-default-rules"] !== true });
  const rule = rules.find((r) => r.scene === scene);
  if (rule === undefined) {
    const near = suggest(scene, rules.map((r) => r.scene));
    throw new UsageError(`rules show: no scene "${scene}" is loaded (${near ? `did you mean ${near}? ` : ""}rules list names them)`);
  }
  writeOut(ruleText(rule));
}

/** `rules check` / `rules list` / `rules show`; dispatched here rather than by citty so every misuse exits 2. */
export async function runRules(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === "check") return runRulesCheck(rest);
  if (sub === "list") return runRulesList(rest);
  if (sub === "show") return runRulesShow(rest);
  if (sub === undefined) throw new UsageError("rules: give a sub-command: rules check PATH..., rules list or rules show SCENE");
  const near = suggest(sub, ["check", "list", "show"]);
  throw new UsageError(`rules: unknown sub-command "${sub}" (${near ? `did you mean ${near}?` : "one of check, list, show"})`);
}

function _count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

export const rulesCommand = defineCommand({
  meta: {
    name: "rules",
    description:
      "Diagnosis rules: `rules check PATH... [--strict]` validates rule files and directories; `rules list [--rules DIR] [--no-default-rules]` prints the loaded scenes; `rules show SCENE` prints one rule's YAML",
  },
  args: {
    command: { type: "positional" as const, description: "check, list or show", required: false },
    path: { type: "positional" as const, description: "Rule files or directories (check)", required: false },
  },
  run: ({ rawArgs }) => runRules(rawArgs),
});
