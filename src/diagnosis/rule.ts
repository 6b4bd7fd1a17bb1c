// A checked diagnosis rule (SPEC §4). rules-load.ts builds these from YAML; nothing else
// constructs them, so every field here has passed its checks.
import type { EventType } from "../events/schema.ts";
import type { FaultScope, FaultScopeEntry } from "../graph/fault-scope.ts";
import type { EdgeKind } from "../graph/nodes.ts";

export const CONDITION_TYPES = ["event", "graph", "metric", "any", "all"] as const;
export const METRIC_OPS = ["gt", "lt", "eq", "gte", "lte", "ne", "contains"] as const;
export const VALUE_TYPES = ["numeric", "string", "auto"] as const;
export const NODE_TYPES = ["process", "resource", "error"] as const;
export const SCOPES = ["host", "process"] as const;
export const SEVERITIES = ["critical", "warning", "info"] as const;

/** `host`: conditions hold anywhere on the host; `process`: for one process and what its edges reach. */
export type RuleScope = (typeof SCOPES)[number];
export type Severity = (typeof SEVERITIES)[number];

/**
 * A rule's severity when it names none: priority 75 and above is critical (the host or a job is
 * broken: device faults, OOM, stalls that need a person now), 40 to 74 a warning (degraded:
 * congestion, slow storage), below 40 info (waste, such as an idle GPU).
 */
export function severityFromPriority(priority: number): Severity {
  return priority >= 75 ? "critical" : priority >= 40 ? "warning" : "info";
}

export type MetricOp = (typeof METRIC_OPS)[number];
export type ValueType = (typeof VALUE_TYPES)[number];
export type NodeType = (typeof NODE_TYPES)[number];

/** The keys a `metric` condition may read, per node type: what the graph records. */
export const METRIC_KEYS: Readonly<Record<NodeType, readonly string[]>> = {
  resource: ["util", "mem", "bw", "drop", "iops", "qdepth"],
  process: ["state", "job_id", "pid"],
  error: ["error_type", "entity_id"],
};

export interface EventCondition {
  type: "event";
  event_type: EventType;
  entity_id_pattern?: string;
  value_pattern?: string;
  /** Beyond SPEC §4: a value containing any of these alternatives does not match (see docs/rules.md). */
  value_exclude?: string;
  value_threshold?: number;
  /**
   * Beyond SPEC §4: each entity's newest numeric reading decides (a state such as a queue depth):
   * a newer one under `value_threshold` takes back what older ones said (see docs/rules.md).
   */
  latest?: boolean;
}

export interface GraphCondition {
  type: "graph";
  edge_type: EdgeKind;
  from_pattern?: string;
  to_pattern?: string;
}

export interface MetricEntry {
  key: string;
  op: MetricOp;
  /** Kept as text; numeric comparisons parse it once when the rule is compiled. */
  target: string;
  value_type: ValueType;
}

export interface MetricCondition {
  type: "metric";
  node_type?: NodeType;
  entity_id_pattern?: string;
  metrics: MetricEntry[];
}

export interface GroupCondition {
  type: "any" | "all";
  conditions: Condition[];
  /**
   * How the file wrote it, when in upstream xctl's form: `{all: [...]}` in a list (`mapping`), or
   * as the rule's whole `conditions:` (`top`). Evidence paths then read as the file does
   * (`conditions.all[1].any[0]`, as `rules check` names them).
   */
  written?: "mapping" | "top";
}

export type Condition = EventCondition | GraphCondition | MetricCondition | GroupCondition;

export interface SolutionStep {
  step: number;
  action: string;
  command?: string;
  manual: boolean;
}

export interface Rule {
  name: string;
  scene: string;
  priority: number;
  scope: RuleScope;
  severity: Severity;
  conditions: Condition[];
  root_cause_pattern: { primary: string; secondary: string[] };
  /** Sorted by `step`. */
  solution_steps: SolutionStep[];
  related_evidences: EventType[];
  applicability: { min_confidence: number; required_events: EventType[] };
  /**
   * Fault-scope entries this rule file adds in front of the built-in table (SPEC §3): error
   * value pattern → device or process. They apply to the whole host, not only to this rule.
   */
  fault_scope?: Record<string, FaultScope>;
  /** Where the rule came from: a file path, or `embedded:<file>`. */
  source: string;
}

export const SCENE_RE = /^[a-z][a-z0-9_]*$/;

/** The fault-scope entries of a rule set, in rule order, for the graph's table. */
export function faultScopeOverrides(rules: readonly Rule[]): FaultScopeEntry[] {
  return rules.flatMap((r) => Object.entries(r.fault_scope ?? {}).map(([pattern, scope]) => ({ pattern, scope, source: r.source })));
}

/** Highest priority first; the scene id breaks ties, so order never depends on file order. */
export function sortRules(rules: Rule[]): Rule[] {
  return rules.sort((a, b) => b.priority - a.priority || (a.scene < b.scene ? -1 : a.scene > b.scene ? 1 : 0));
}

/** JSON with sorted keys: two spellings of one condition (or rule) give one string. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

// A rule does not change once loaded: its canonical forms are kept with it, so that a reload
// (ruleSetChange, the matcher's shared leaves) compares strings made while its files were read,
// not thousands of fresh walks while the event loop waits.
const _ruleForms = new WeakMap<Rule, string>();
const _forms = new WeakMap<object, string>();

/** `canonical` of a rule less its source: what says whether a reload changed it. Kept per rule. */
export function ruleForm(r: Rule): string {
  let f = _ruleForms.get(r);
  if (f === undefined) _ruleForms.set(r, (f = canonical({ ...r, source: undefined })));
  return f;
}

/** `canonical` of a condition (or any loaded object that does not change), kept per object. */
export function canonicalOf(v: object): string {
  let f = _forms.get(v);
  if (f === undefined) _forms.set(v, (f = canonical(v)));
  return f;
}

/** Works out and keeps a loaded rule's forms (its own, and every condition's), ahead of a reload's swap. */
export function prepareForms(r: Rule): void {
  ruleForm(r);
  const visit = (c: Condition): void => {
    if (c.type === "any" || c.type === "all") (c as GroupCondition).conditions.forEach(visit);
    else canonicalOf(c);
  };
  r.conditions.forEach(visit);
}

/** What a new rule set changes, by scene (each list sorted): a rule is changed when anything but its source differs. */
export interface RuleSetChange {
  added: string[];
  removed: string[];
  changed: string[];
  /** Event conditions whose window a new set kept (same canonical form), and those that start empty (the engine's). */
  windowsKept?: number;
  windowsNew?: number;
}

export function ruleSetChange(before: readonly Rule[], after: readonly Rule[]): RuleSetChange {
  const old = new Map(before.map((r) => [r.scene, r]));
  const scenes = new Set(after.map((r) => r.scene));
  return {
    added: after.filter((r) => !old.has(r.scene)).map((r) => r.scene).sort(),
    removed: before.filter((r) => !scenes.has(r.scene)).map((r) => r.scene).sort(),
    changed: after.filter((r) => old.has(r.scene) && ruleForm(old.get(r.scene)!) !== ruleForm(r)).map((r) => r.scene).sort(),
  };
}
