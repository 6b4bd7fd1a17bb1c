// Writes what the operator reads about each default scene from the rules themselves
// (rules/*.yaml, loaded by the exporter's own loader): deploy/runbooks/<scene>.md, their index
// deploy/runbooks/README.md, the generated tables of docs/rules.md (default rules, fault
// scope), and the scene alerts of deploy/prometheus/alerts.yml (title, root cause, runbook_url). `--check` writes nothing and exits 1 when a file is stale (test/docs/rules-doc.test.ts
// runs the same check).
//   node --import tsx scripts/gen-runbooks.ts [--check]
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadRulesDir } from "../src/diagnosis/rules-load.ts";
import type { Condition, Rule, RuleScope, Severity } from "../src/diagnosis/rule.ts";
import { DEFAULT_FAULT_SCOPE } from "../src/graph/fault-scope.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RUNBOOKS = join(ROOT, "deploy/runbooks");
export const RULES_DOC = join(ROOT, "docs/rules.md");
export const ALERTS = join(ROOT, "deploy/prometheus/alerts.yml");
/** Where the alerts' runbook_url points: replace it with where your copy of deploy/runbooks is served (deploy/README.md). */
export const RUNBOOK_BASE = "https://runbooks.example/xctl-exporter";
/** A scene alerts when it was active at least this share of the window, for `for`. */
export const SCENE_WINDOW = "5m";
export const SCENE_SHARE = 0.4;
export const SCENE_FOR = "1m";
/**
 * Scenes that are events rather than states: what they are about leaves right after (a
 * process that ended is gone from the graph at the next cleanup), so the scene is active for
 * little more than --scene-settle and could never be active 40% of the window. They alert
 * while active and for `OCCURRED_WINDOW` after, and on an activation Prometheus saw begin even
 * if no scrape found the scene active. Not on activations alone: a crash found before the first
 * scrape starts the counter at 1 (no increase), and crashes that keep coming keep the scene
 * active without a new activation (a real Prometheus never fired on the demo host's 20 minutes
 * of process_crash).
 */
export const EVENT_SCENES: ReadonlySet<string> = new Set(["process_crash", "host_oom_kill"]);
/**
 * Host scenes about a device no process uses (an NVSwitch: no event puts it under a pid), so
 * they name no pid and `why PID` never lists them: `status` and the landing page show them,
 * with the errors and the steps.
 */
export const HOST_DEVICE_SCENES: ReadonlySet<string> = new Set(["nvswitch_error"]);
export const OCCURRED_WINDOW = "5m";

/** The rule's severity: its own, or the default from its priority (the loader fills it in). */
export function severityOf(r: Rule): Severity {
  return r.severity;
}

export function scopeOf(r: Rule): RuleScope {
  return r.scope;
}

/** The default rules, highest priority first, each with the comment that opens its file. */
export function loadDefaults(): { rule: Rule; about: string }[] {
  const dir = join(ROOT, "rules");
  return loadRulesDir(dir)
    .sort((a, b) => b.priority - a.priority || (a.scene < b.scene ? -1 : 1))
    .map((rule) => ({ rule, about: _leadingComment(readFileSync(rule.source, "utf8")) }));
}

function _leadingComment(text: string): string {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("#")) break;
    out.push(line.replace(/^#\s?/, ""));
  }
  return out.join(" ").trim();
}

const _code = (s: string) => "`" + s.replace(/`/g, "'") + "`";
/** "a" or "an" before a word as it is read aloud (error.hw: an; compute.mem: a). */
const _a = (word: string) => (/^[aeio]/i.test(word) ? "an" : "a");

/** A pattern's alternatives in words: `a`, `b` or `c`. */
function _alts(pattern: string): string {
  const parts = pattern.split("|").map(_code);
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}`;
}

const _OPS: Record<string, string> = { gt: ">", lt: "<", eq: "=", gte: "≥", lte: "≤", ne: "≠", contains: "contains" };

/** One condition in words, as the engine evaluates it. */
export function describeCondition(c: Condition): string {
  switch (c.type) {
    case "event": {
      let s = `${_a(c.event_type)} ${_code(c.event_type)} event`;
      if (c.entity_id_pattern) s += ` on ${_alts(c.entity_id_pattern)}`;
      if (c.value_pattern) s += ` whose value contains ${_alts(c.value_pattern)}`;
      if (c.value_exclude) s += `${c.value_pattern ? " and" : " whose value contains"} none of ${_alts(c.value_exclude)}`;
      if (c.value_threshold !== undefined) s += ` with a value of at least ${c.value_threshold}`;
      if (c.latest) s += ", the newest reading of its entity (a later one under it takes it back)";
      return s + " within the error window";
    }
    case "graph": {
      let s = `a ${_code(c.edge_type)} edge`;
      if (c.from_pattern) s += ` from ${_alts(c.from_pattern)}`;
      if (c.to_pattern) s += ` to ${_alts(c.to_pattern)}`;
      return s;
    }
    case "metric": {
      const node = c.node_type ?? "node";
      const where = c.entity_id_pattern ? ` ${_alts(c.entity_id_pattern)}` : "";
      const tests = c.metrics.map((m) => `${m.key} ${_OPS[m.op] ?? m.op} ${m.op === "contains" ? _alts(String(m.target)) : _code(String(m.target))}`);
      return `a ${node}${where} with ${tests.join(" and ")}`;
    }
    case "any":
    case "all":
      return `${c.type === "any" ? "any" : "all"} of: ${c.conditions.map(describeCondition).join("; ")}`;
  }
}

/** How many of the conditions must hold, from min_confidence. */
function _howMany(r: Rule): string {
  const c = r.applicability.min_confidence;
  return c >= 1 ? "all of these" : `at least ${Math.round(c * 100)}% of these (confidence ${c})`;
}

function _when(r: Rule): string[] {
  const conds = r.conditions.map((c) => `- ${describeCondition(c)}`);
  const gates = r.applicability.required_events.map((t) => `- and, required: ${_a(t)} ${_code(t)} event seen within the window`);
  return [...conds, ...gates];
}

export function renderRunbook(rule: Rule, about: string): string {
  const sev = severityOf(rule);
  const scope = scopeOf(rule);
  const out: string[] = [
    `<!-- GENERATED by scripts/gen-runbooks.ts from rules/${basename(rule.source)}: edit the rule, then run the script. -->`,
    `# ${rule.name} (\`${rule.scene}\`)`,
    "",
    `Severity **${sev}** · priority ${rule.priority} · scope ${scope} · alert \`${EVENT_SCENES.has(rule.scene) ? "XctlSceneOccurred" : "XctlSceneActive"}{scene="${rule.scene}"}\``,
    "",
    "## What it means",
    "",
    about || rule.root_cause_pattern.primary,
    "",
    `The exporter reports this scene when ${scope === "process" ? "one process's edges and the nodes they reach show" : "it finds"} ${_howMany(rule)}:`,
    "",
    ..._when(rule),
    "",
    scope === "process"
      ? "Each condition is about the same process: its own state, the resources it consumes or waits on, and the errors that concern it (a device fault of a device it used at the time, or a fault of its own pid)."
      : HOST_DEVICE_SCENES.has(rule.scene)
        ? "The conditions are read host-wide. They are about a device no process uses, so the scene names no pid and `xctl-exporter why <pid>` does not list it."
        : "The conditions are read host-wide; `xctl-exporter why <pid>` asks them about one process and the nodes its edges reach.",
    "",
    "## Root cause",
    "",
    rule.root_cause_pattern.primary + ".",
  ];
  if (rule.root_cause_pattern.secondary.length > 0) {
    out.push("", "Usual causes:", "", ...rule.root_cause_pattern.secondary.map((s) => `- ${s}`));
  }
  out.push(
    "",
    "## Confirm",
    "",
    "```sh",
    "xctl-exporter status                  # active scenes, their root causes, affected pids and jobs",
    "xctl-exporter why <pid>               # the scenes of one process, with the evidence of each",
    `curl -s localhost:9091/metrics | grep 'scene="${rule.scene}"'`,
    ...(EVENT_SCENES.has(rule.scene) ? [`curl -s localhost:9091/api/v1/diagnoses | jq '.[] | select(any(.matches[]; .scene == "${rule.scene}"))'`] : []),
    "```",
    "",
    ...(EVENT_SCENES.has(rule.scene)
      ? [
          "The process this scene is about has ended and leaves the graph a second later; `why <pid>` then gives its last answer, as it stood just before it left " +
            "(state, job, root causes, scenes with their evidence), for `--error-window` (default 5m; `--scene-settle` when longer), and 404 after. " +
            "While the scene settles (`--scene-settle`), `xctl-exporter status` still shows the pids and jobs of the last run that found it; " +
            "that automatic run, kept in `GET /api/v1/diagnoses` (the last 100 runs), names its pid, job, evidence and steps, " +
            "and `why` on the other processes of the job shows what still concerns them.",
          "",
        ]
      : []),
    (HOST_DEVICE_SCENES.has(rule.scene)
      ? `\`status\` lists \`${rule.scene}\` with its root cause and the errors behind it; \`GET /api/v1/diagnoses\` keeps each automatic run with the events that made each condition hold and the steps. `
      : `\`why\` lists \`${rule.scene}\` under scenes with the events, edges and node values that made each condition hold, and the errors under root causes. `) +
      `The scene is active (\`xctl_scene_active{scene="${rule.scene}"} 1\`) while the rule matches and for \`--scene-settle\` (default 1m) after it last did; ` +
      `\`xctl_scene_activations_total{scene="${rule.scene}"}\` counts the times it became active.`,
    "",
    "## Steps",
    "",
  );
  for (const s of rule.solution_steps) {
    out.push(`${s.step}. ${s.action}${s.manual ? " (manual)" : ""}`);
    if (s.command) out.push("", "   ```sh", `   ${s.command}`, "   ```", "");
  }
  if (out.at(-1) !== "") out.push("");
  out.push(
    "## Evidence it reads",
    "",
    rule.related_evidences.length > 0 ? `Event types: ${rule.related_evidences.map(_code).join(", ")}.` : "No event type in particular.",
    "",
  );
  return out.join("\n");
}

export function renderIndex(rules: { rule: Rule }[]): string {
  return [
    "<!-- GENERATED by scripts/gen-runbooks.ts from rules/*.yaml: edit the rules, then run the script. -->",
    "# Runbooks",
    "",
    "One page per default scene: what it means, its root causes, the steps with their commands, and how to confirm it with",
    "`xctl-exporter why <pid>` and `xctl-exporter status`. The alerts of `deploy/prometheus/alerts.yml` link here through",
    "their `runbook_url` annotation (see deploy/README.md for the base URL).",
    "",
    "| scene | title | severity | priority |",
    "| --- | --- | --- | --- |",
    ...rules.map(({ rule }) => `| [\`${rule.scene}\`](${rule.scene}.md) | ${rule.name} | ${severityOf(rule)} | ${rule.priority} |`),
    "",
  ].join("\n");
}

/** The generated table of default rules in docs/rules.md. */
export function renderRulesTable(rules: { rule: Rule }[]): string {
  const lines = ["| scene | title | priority | severity | scope | fires when |", "| --- | --- | --- | --- | --- | --- |"];
  for (const { rule } of rules) {
    const conds = rule.conditions.map(describeCondition).join("; ");
    const gates = rule.applicability.required_events.map((t) => `; required: ${_a(t)} ${_code(t)} event seen`).join("");
    const when = `${rule.applicability.min_confidence >= 1 ? "all of" : `confidence ≥ ${rule.applicability.min_confidence} of`}: ${conds}${gates}`;
    lines.push(`| [\`${rule.scene}\`](../deploy/runbooks/${rule.scene}.md) | ${rule.name} | ${rule.priority} | ${severityOf(rule)} | ${scopeOf(rule)} | ${when.replace(/\|/g, "\\|")} |`);
  }
  return lines.join("\n");
}

export function renderFaultScopeTable(): string {
  const lines = ["| error value (glob, case-blind, first word then whole value) | scope |", "| --- | --- |"];
  for (const e of DEFAULT_FAULT_SCOPE) lines.push(`| ${e.pattern.split("|").map(_code).join(" ")} | ${e.scope} |`);
  lines.push("| anything else | device |");
  return lines.join("\n");
}

/** YAML double-quoted scalar (JSON's string syntax is YAML's). */
const _q = (s: string) => JSON.stringify(s);

function _sceneAlert(comment: string, selector: string, summary: string, description: string, runbook: string, scene?: string, rootCause?: string, occurred = false): string[] {
  const out = [
    `      # ${comment}`,
    `      - alert: ${occurred ? "XctlSceneOccurred" : "XctlSceneActive"}`,
    "        expr: >-",
    ...(occurred
      ? [
          `          ((max_over_time(xctl_scene_active{${selector}}[${OCCURRED_WINDOW}]) > 0)`,
          `          or (increase(xctl_scene_activations_total{${selector}}[${OCCURRED_WINDOW}]) > 0))`,
        ]
      : [`          (avg_over_time(xctl_scene_active{${selector}}[${SCENE_WINDOW}]) >= ${SCENE_SHARE})`]),
    "          * on (job, instance, scene) group_left (severity)",
    // The rule's severity: the last known within the window, so a scrape gap (the exporter
    // restarted, its pod replaced) resolves no alert only to fire it again a minute later.
    `          max by (job, instance, scene, severity) (xctl_scene_info or on (job, instance, scene) last_over_time(xctl_scene_info[${SCENE_WINDOW}]))`,
    ...(occurred ? [] : [`        for: ${SCENE_FOR}`]),
    // The scene again as a static label: one rule per scene, told apart by promtool's lint.
    ...(scene !== undefined ? ["        labels:", `          scene: ${scene}`] : []),
    "        annotations:",
    `          summary: ${_q(summary)}`,
    `          description: ${_q(description)}`,
  ];
  if (rootCause !== undefined) out.push(`          root_cause: ${_q(rootCause)}`);
  out.push(`          runbook_url: ${_q(runbook)}`);
  return out;
}

/** The scene alerts of deploy/prometheus/alerts.yml: one per default scene, one for every other scene. */
export function renderSceneAlerts(rules: { rule: Rule }[]): string {
  const lines: string[] = [];
  const active = `Active {{ $value | humanizePercentage }} of the last ${SCENE_WINDOW}.`;
  const ask = "On the host, `xctl-exporter status` lists the affected pids and jobs and `xctl-exporter why PID` the evidence and the steps.";
  const askHost = "It names no pid (no process uses the device): on the host, `xctl-exporter status` shows the errors and GET /api/v1/diagnoses the evidence and the steps.";
  const occurred =
    `It was active within the last ${OCCURRED_WINDOW}. The process has left the graph, but \`xctl-exporter why PID\` on the host gives its last answer ` +
    "(state, job, root causes, scenes with their evidence) for --error-window (5m) after it ended, and GET /api/v1/diagnoses keeps the run with its pids, jobs, evidence and steps.";
  for (const { rule } of rules) {
    const event = EVENT_SCENES.has(rule.scene);
    lines.push(
      ..._sceneAlert(
        `${rule.scene}: from rules/${basename(rule.source)}${event ? ` (an event: alerts while active and ${OCCURRED_WINDOW} after)` : ""}`,
        `scene="${rule.scene}"`,
        `${rule.name} on {{ $labels.instance }}`,
        `${rule.root_cause_pattern.primary}. ${event ? occurred : `${active} ${HOST_DEVICE_SCENES.has(rule.scene) ? askHost : ask}`}`,
        `${RUNBOOK_BASE}/${rule.scene}.md`,
        rule.scene,
        rule.root_cause_pattern.primary,
        event,
      ),
    );
  }
  const known = rules.map(({ rule }) => rule.scene).join("|");
  lines.push(
    ..._sceneAlert(
      "Every other scene (site rules from --rules): severity from the rule all the same.",
      `scene!~"${known}"`,
      "Scene {{ $labels.scene }} on {{ $labels.instance }}",
      `xctl diagnosed {{ $labels.scene }} on {{ $labels.instance }}. ${active} ${ask}`,
      `${RUNBOOK_BASE}/{{ $labels.scene }}.md`,
    ),
  );
  return lines.join("\n");
}

/** Replaces the lines between `# BEGIN name` and `# END name` of a YAML file. */
export function fillYamlBlock(text: string, name: string, body: string): string {
  const begin = text.search(new RegExp(`^ *# BEGIN ${name}\\b.*$`, "m"));
  const endMatch = new RegExp(`^ *# END ${name}$`, "m").exec(text);
  if (begin < 0 || endMatch === null || endMatch.index < begin) throw new Error(`alerts.yml: markers for ${name} missing`);
  const lineEnd = text.indexOf("\n", begin);
  return text.slice(0, lineEnd + 1) + body + "\n" + text.slice(endMatch.index);
}

/** Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->`. */
export function fillBlock(text: string, name: string, body: string): string {
  const begin = `<!-- BEGIN ${name} (generated by scripts/gen-runbooks.ts) -->`;
  const end = `<!-- END ${name} -->`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`docs/rules.md: markers for ${name} missing`);
  return text.slice(0, a + begin.length) + "\n" + body + "\n" + text.slice(b);
}

/** Every generated file: path -> content. */
export function generated(): Map<string, string> {
  const rules = loadDefaults();
  const out = new Map<string, string>();
  for (const { rule, about } of rules) out.set(join(RUNBOOKS, `${rule.scene}.md`), renderRunbook(rule, about));
  out.set(join(RUNBOOKS, "README.md"), renderIndex(rules));
  let doc = readFileSync(RULES_DOC, "utf8");
  doc = fillBlock(doc, "default-rules", renderRulesTable(rules));
  doc = fillBlock(doc, "fault-scope", renderFaultScopeTable());
  out.set(RULES_DOC, doc);
  out.set(ALERTS, fillYamlBlock(readFileSync(ALERTS, "utf8"), "scene-alerts", renderSceneAlerts(rules)));
  return out;
}

/** Files that differ from what the script writes, and runbooks of scenes that no longer exist. */
export function stale(): string[] {
  const files = generated();
  const bad: string[] = [];
  for (const [path, text] of files) if (!existsSync(path) || readFileSync(path, "utf8") !== text) bad.push(path);
  for (const f of readdirSync(RUNBOOKS)) if (f.endsWith(".md") && !files.has(join(RUNBOOKS, f))) bad.push(join(RUNBOOKS, f));
  return bad.map((p) => p.slice(ROOT.length));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes("--check")) {
    const bad = stale();
    if (bad.length > 0) {
      process.stderr.write(`stale (run node --import tsx scripts/gen-runbooks.ts): ${bad.join(", ")}\n`);
      process.exit(1);
    }
    process.stdout.write("runbooks and docs/rules.md tables are current\n");
  } else {
    const files = generated();
    for (const f of readdirSync(RUNBOOKS)) if (f.endsWith(".md") && !files.has(join(RUNBOOKS, f))) unlinkSync(join(RUNBOOKS, f));
    for (const [path, text] of files) writeFileSync(path, text);
    process.stdout.write(`wrote ${files.size} files (${files.size - 3} runbooks, their index, docs/rules.md tables, the scene alerts)\n`);
  }
}
