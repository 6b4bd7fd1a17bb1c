// The checks a rule file's parsed YAML goes through (SPEC §4): every field for presence, type
// and range. Problems are collected, not thrown, so `rules check` can name all of them at once:
// each names the field path (`conditions[2].metrics[0].op`) and the reason, listing the valid
// values where there is a list. A condition that can never hold (a metric key no event sets,
// such as upstream xctl's `temperature`) is a warning: the rule loads, that condition stays false.
//
// Required: name, scene, priority, conditions. The rest has defaults, so that a quick site rule
// loads: root_cause_pattern {primary: <name>, secondary: []}, no solution_steps (a warning: a
// match would carry none), related_evidences the event types its conditions and
// required_events name, applicability {min_confidence: 0.8, required_events: []}. A field
// that is given is checked in full all the same.
import { EVENT_TYPES, type EventType } from "../events/schema.ts";
import { FAULT_SCOPES, faultPatternProblem, type FaultScope } from "../graph/fault-scope.ts";
import { EDGE_KINDS, type EdgeKind } from "../graph/nodes.ts";
import { parseNumber } from "../events/number.ts";
import { patternProblem } from "./pattern.ts";
import { edgeEndProblem, foreignSyntax, processIdProblem, type PatternUse } from "./rules-patterns.ts";
import { FieldChecker, joinPath as _join, kindOf as _kind, Stop, type Obj, type RuleProblem } from "./rules-fields.ts";
import {
  CONDITION_TYPES,
  METRIC_KEYS,
  METRIC_OPS,
  NODE_TYPES,
  SCENE_RE,
  SCOPES,
  SEVERITIES,
  severityFromPriority,
  VALUE_TYPES,
  type Condition,
  type GroupCondition,
  type MetricEntry,
  type NodeType,
  type Rule,
  type RuleScope,
  type Severity,
  type SolutionStep,
} from "./rule.ts";

const MAX_DEPTH = 8;
const MAX_LEAVES = 64;
export const RULE_FIELDS = [
  "name",
  "scene",
  "priority",
  "scope",
  "severity",
  "conditions",
  "root_cause_pattern",
  "solution_steps",
  "related_evidences",
  "applicability",
  "fault_scope",
];

export type { RuleProblem } from "./rules-fields.ts";

/** Checks one parsed rule document; the rule is undefined when any problem is an error. */
export function checkRule(value: unknown, file: string): { rule: Rule | undefined; problems: RuleProblem[] } {
  const c = new _Checker(file);
  let rule: Rule | undefined;
  try {
    rule = c.rule(value);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  const failed = c.problems.some((p) => !p.warning);
  return { rule: failed ? undefined : rule, problems: c.problems };
}

class _Checker extends FieldChecker {
  private _leaves = 0;

  rule(value: unknown): Rule {
    const o = this._obj(value, "");
    this._try(() => this._known(o, "", RULE_FIELDS));
    const name = this._try(() => _prose(this._str(o, "name", "")));
    const scene = this._try(() => {
      const s = this._str(o, "scene", "");
      if (!SCENE_RE.test(s) || s.length > 64) this._fail("scene", `"${s}" is not a scene id ([a-z][a-z0-9_]*, at most 64 characters)`);
      return s;
    });
    const priority = this._try(() => this._int(o, "priority", ""));
    const scope = this._try(() => (o.scope === undefined ? "host" : (this._choice(o, "scope", "", SCOPES) as RuleScope)));
    const severity = this._try(() => (o.severity === undefined ? undefined : (this._choice(o, "severity", "", SEVERITIES) as Severity)));
    const conditions = this._try(() => this._conditions(o)) ?? [];
    const root_cause_pattern = this._try(() => {
      if (_absent(o.root_cause_pattern)) return { primary: name ?? "", secondary: [] };
      const rcp = this._obj(o.root_cause_pattern, "root_cause_pattern");
      this._known(rcp, "root_cause_pattern", ["primary", "secondary"]);
      return {
        primary: _prose(this._str(rcp, "primary", "root_cause_pattern")),
        secondary: rcp.secondary === undefined ? [] : this._strings(rcp, "secondary", "root_cause_pattern").map(_prose),
      };
    });
    const solution_steps = this._try(() => this._steps(o)) ?? [];
    const applicability = this._try(() => this._applicability(o)) ?? { min_confidence: 0.8, required_events: [] };
    const related_evidences =
      this._try(() =>
        _absent(o.related_evidences) ? _namedEventTypes(conditions, applicability.required_events) : this._eventTypes(o, "related_evidences", ""),
      ) ?? [];
    const fault_scope = this._try(() => this._faultScope(o));
    const rule: Rule = {
      name: name ?? "",
      scene: scene ?? "",
      priority: priority ?? 0,
      scope: scope ?? "host",
      severity: severity ?? severityFromPriority(priority ?? 0),
      conditions,
      root_cause_pattern: root_cause_pattern ?? { primary: "", secondary: [] },
      solution_steps,
      related_evidences,
      applicability,
      source: this.file,
    };
    if (fault_scope !== undefined) rule.fault_scope = fault_scope;
    return rule;
  }

  /** A list of conditions, or upstream xctl's mapping `{all: [...]}` / `{any: [...]}`, which is that one condition. */
  private _conditions(o: Obj): Condition[] {
    const v = this._need(o, "conditions", "");
    if (!Array.isArray(v) && _groupKey(v) !== undefined) return [{ ...(this._condition(v, "conditions", 1) as GroupCondition), written: "top" }];
    if (!Array.isArray(v)) this._fail("conditions", `must be a list, or a mapping {all: [...]} or {any: [...]} (got ${_kind(v)})`);
    const list = v as unknown[];
    if (list.length === 0) this._fail("conditions", "must not be empty");
    const out = list.map((c, i) => this._try(() => this._condition(c, `conditions[${i}]`, 1)));
    if (out.some((c) => c === undefined)) throw new Stop();
    return out as Condition[];
  }

  private _condition(value: unknown, path: string, depth: number): Condition {
    const o = this._obj(value, path);
    const at = (f: string) => `${path}.${f}`;
    const group = o.type === undefined ? _groupKey(o) : undefined;
    if (group !== undefined) {
      // Upstream's `{all: [...]}` inside a list of conditions: the same as {type: all, conditions: [...]}.
      return { ...this._group(group, o[group], `${path}.${group}`, depth), written: "mapping" };
    }
    const type = this._str(o, "type", path);
    switch (type) {
      case "event": {
        this._known(o, path, ["type", "event_type", "entity_id_pattern", "value_pattern", "value_exclude", "value_threshold", "latest"]);
        this._leaf(path);
        const event_type = this._eventType(this._str(o, "event_type", path), at("event_type"));
        const c: Condition = { type, event_type };
        const entity = this._pattern(o, "entity_id_pattern", path, "id");
        if (entity !== undefined) c.entity_id_pattern = entity;
        const vp = this._pattern(o, "value_pattern", path, "value");
        if (vp !== undefined) c.value_pattern = vp;
        const vx = this._pattern(o, "value_exclude", path, "value");
        if (vx !== undefined) c.value_exclude = vx;
        if (o.value_threshold !== undefined) {
          const t = o.value_threshold;
          if (typeof t !== "number" || !Number.isFinite(t)) this._fail(at("value_threshold"), `must be a number (got ${_kind(t)})`);
          c.value_threshold = t;
        }
        if (o.latest !== undefined) {
          if (typeof o.latest !== "boolean") this._fail(at("latest"), `must be true or false (got ${_kind(o.latest)})`);
          if (o.latest && c.value_threshold === undefined) this._fail(at("latest"), "needs value_threshold: the newest reading under it takes back older ones");
          if (o.latest) c.latest = true;
        }
        return c;
      }
      case "graph": {
        this._known(o, path, ["type", "edge_type", "from_pattern", "to_pattern"]);
        this._leaf(path);
        const edge = this._choice(o, "edge_type", path, EDGE_KINDS, "edge type");
        const c: Condition = { type, edge_type: edge as EdgeKind };
        const from = this._pattern(o, "from_pattern", path, "id");
        if (from !== undefined) c.from_pattern = from;
        const to = this._pattern(o, "to_pattern", path, "id");
        if (to !== undefined) c.to_pattern = to;
        for (const [end, text] of [["from", from], ["to", to]] as const) {
          const p = text === undefined ? undefined : edgeEndProblem(text, end, edge);
          if (p !== undefined) this._warn(at(`${end}_pattern`), `${p}: this condition can never hold`);
        }
        return c;
      }
      case "metric": {
        this._known(o, path, ["type", "node_type", "entity_id_pattern", "metrics"]);
        this._leaf(path);
        const node_type = o.node_type === undefined ? undefined : (this._choice(o, "node_type", path, NODE_TYPES, "node type") as NodeType);
        const list = this._list(o, "metrics", path, true);
        const metrics = list.map((m, i) => this._try(() => this._entry(m, `${at("metrics")}[${i}]`, node_type)));
        const entity = this._try(() => this._pattern(o, "entity_id_pattern", path, "id"));
        if (metrics.some((m) => m === undefined) || this.problems.some((p) => !p.warning && p.field === at("entity_id_pattern"))) throw new Stop();
        const notPid = node_type === "process" && entity !== undefined ? processIdProblem(entity) : undefined;
        if (notPid !== undefined) this._warn(at("entity_id_pattern"), `${notPid}: this condition can never hold`);
        const c: Condition = { type, metrics: metrics as MetricEntry[] };
        if (node_type !== undefined) c.node_type = node_type;
        if (entity !== undefined) c.entity_id_pattern = entity;
        return c;
      }
      case "any":
      case "all":
        this._known(o, path, ["type", "conditions"]);
        return this._group(type, this._need(o, "conditions", path), at("conditions"), depth);
      default:
        return this._fail(at("type"), `unknown condition type "${type}" (one of ${CONDITION_TYPES.join(", ")})`);
    }
  }

  private _group(type: "any" | "all", value: unknown, path: string, depth: number): GroupCondition {
    if (depth >= MAX_DEPTH) this._fail(path, `conditions nested deeper than ${MAX_DEPTH}`);
    if (!Array.isArray(value)) this._fail(path, `must be a list (got ${_kind(value)})`);
    const list = value as unknown[];
    if (list.length === 0) this._fail(path, "must not be empty");
    const out = list.map((c, i) => this._try(() => this._condition(c, `${path}[${i}]`, depth + 1)));
    if (out.some((c) => c === undefined)) throw new Stop();
    return { type, conditions: out as Condition[] };
  }

  private _entry(value: unknown, path: string, nodeType: NodeType | undefined): MetricEntry {
    const o = this._obj(value, path);
    this._known(o, path, ["key", "op", "target", "value_type"]);
    const key = this._str(o, "key", path);
    const keys = nodeType === undefined ? [...new Set(Object.values(METRIC_KEYS).flat())] : METRIC_KEYS[nodeType];
    if (!keys.includes(key)) {
      this._warn(
        `${path}.key`,
        `no event sets "${key}"${nodeType ? ` on ${nodeType} nodes` : ""} (known keys: ${keys.join(", ")}): this condition can never hold`,
      );
    }
    const symbol = typeof o.op === "string" ? _SYMBOLS[o.op.trim()] : undefined;
    if (symbol !== undefined) this._fail(`${path}.op`, `unknown operator "${o.op}" (write ${symbol}; one of ${METRIC_OPS.join(", ")})`);
    const op = this._choice(o, "op", path, METRIC_OPS, "operator");
    const raw = this._need(o, "target", path);
    if (typeof raw !== "string" && (typeof raw !== "number" || !Number.isFinite(raw))) {
      this._fail(`${path}.target`, `must be a string or a number (got ${_kind(raw)})`);
    }
    const target = String(raw);
    const value_type = o.value_type === undefined ? "auto" : (this._choice(o, "value_type", path, VALUE_TYPES, "value type") as MetricEntry["value_type"]);
    if (op === "contains") {
      if (value_type === "numeric") this._fail(`${path}.value_type`, `contains compares text, not numeric`);
      const p = patternProblem(target);
      if (p) this._fail(`${path}.target`, p);
      const foreign = foreignSyntax(target, "value");
      if (foreign !== undefined) this._warn(`${path}.target`, foreign);
    } else if (value_type === "numeric" && parseNumber(target) === undefined) {
      this._fail(`${path}.target`, `"${target}" is not a number (value_type is numeric)`);
    }
    return { key, op: op as MetricEntry["op"], target, value_type };
  }

  private _steps(o: Obj): SolutionStep[] {
    if (_absent(o.solution_steps) || (Array.isArray(o.solution_steps) && o.solution_steps.length === 0)) {
      this._warn("solution_steps", "none given: a match of this rule will carry no solution steps");
      return [];
    }
    const steps = this._list(o, "solution_steps", "", false).map((s, i) => this._try(() => this._step(s, `solution_steps[${i}]`)));
    const seen = new Set<number>();
    steps.forEach((s, i) => {
      if (s === undefined) return;
      if (seen.has(s.step)) this._try(() => this._fail(`solution_steps[${i}].step`, `step ${s.step} appears twice`));
      seen.add(s.step);
    });
    if (steps.some((s) => s === undefined)) throw new Stop();
    return (steps as SolutionStep[]).sort((a, b) => a.step - b.step);
  }

  private _step(value: unknown, path: string): SolutionStep {
    const o = this._obj(value, path);
    this._known(o, path, ["step", "action", "command", "manual"]);
    const step = this._int(o, "step", path);
    if (step < 1) this._fail(`${path}.step`, `must be 1 or more (got ${step})`);
    const action = _prose(this._str(o, "action", path));
    const manual = this._need(o, "manual", path);
    if (typeof manual !== "boolean") this._fail(`${path}.manual`, `must be true or false (got ${_kind(manual)})`);
    const s: SolutionStep = { step, action, manual: manual as boolean };
    // A block scalar (`command: |`) ends in a newline; lines inside stay, one command each.
    if (o.command !== undefined && o.command !== null) s.command = this._str(o, "command", path).trim();
    return s;
  }

  private _applicability(o: Obj): Rule["applicability"] {
    const applicability = { min_confidence: 0.8, required_events: [] as EventType[] };
    if (o.applicability === undefined || o.applicability === null) return applicability;
    const a = this._obj(o.applicability, "applicability");
    this._known(a, "applicability", ["min_confidence", "required_events"]);
    if (a.min_confidence !== undefined) {
      const m = a.min_confidence;
      if (typeof m !== "number" || !Number.isFinite(m)) this._fail("applicability.min_confidence", `must be a number from 0 to 1 (got ${_kind(m)})`);
      if (m < 0 || m > 1) this._fail("applicability.min_confidence", `${m} is outside 0..1`);
      applicability.min_confidence = m;
    }
    if (a.required_events !== undefined) applicability.required_events = this._eventTypes(a, "required_events", "applicability");
    return applicability;
  }

  /** `fault_scope: {XID_99: process, "*my fault*": device}`: error value pattern → scope. */
  private _faultScope(o: Obj): Record<string, FaultScope> | undefined {
    if (o.fault_scope === undefined || o.fault_scope === null) return undefined;
    const m = this._obj(o.fault_scope, "fault_scope");
    const out: Record<string, FaultScope> = {};
    for (const [pattern, scope] of Object.entries(m)) {
      const at = `fault_scope.${pattern}`;
      this._try(() => {
        const p = faultPatternProblem(pattern);
        if (p) this._fail(at, p);
        if (typeof scope !== "string" || !(FAULT_SCOPES as readonly string[]).includes(scope)) {
          this._fail(at, `unknown fault scope ${_kind(scope)} (one of ${FAULT_SCOPES.join(", ")})`);
        }
        out[pattern] = scope as FaultScope;
      });
    }
    return out;
  }

  /** Counts a leaf condition; past the bound, the first one over it names the problem and the rest stop quietly. */
  private _leaf(path: string): void {
    if (++this._leaves <= MAX_LEAVES) return;
    if (this._leaves === MAX_LEAVES + 1) this._fail(path, `more than ${MAX_LEAVES} conditions in one rule`);
    throw new Stop();
  }

  private _pattern(o: Obj, key: string, path: string, use: PatternUse): string | undefined {
    if (o[key] === undefined) return undefined;
    const text = this._str(o, key, path);
    const p = patternProblem(text);
    if (p) this._fail(_join(path, key), p);
    const foreign = foreignSyntax(text, use);
    if (foreign !== undefined) this._warn(_join(path, key), foreign);
    return text;
  }

  private _eventTypes(o: Obj, key: string, path: string): EventType[] {
    const list = this._list(o, key, path, false);
    const out = list.map((v, i) =>
      this._try(() => {
        const at = `${_join(path, key)}[${i}]`;
        if (typeof v !== "string") this._fail(at, `must be an event type (got ${_kind(v)})`);
        return this._eventType(v as string, at);
      }),
    );
    if (out.some((t) => t === undefined)) throw new Stop();
    return out as EventType[];
  }

  private _eventType(text: string, at: string): EventType {
    if (!(EVENT_TYPES as readonly string[]).includes(text)) this._fail(at, `unknown event type "${text}" (one of ${EVENT_TYPES.join(", ")})`);
    return text as EventType;
  }
}

/**
 * A title, cause or action as one line: YAML's block scalars (`primary: >`, `action: |`), which
 * authors use for long text, end in a newline and may hold more, which `why` and `status` would
 * print as `\n`.
 */
function _prose(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, " ");
}

/** Operators as PromQL and code write them, for the reason that refuses them. */
const _SYMBOLS: Readonly<Record<string, string>> = { ">": "gt", "<": "lt", "==": "eq", "=": "eq", ">=": "gte", "<=": "lte", "!=": "ne", "=~": "contains" };

/** An optional field left out (or written empty: `field:` is YAML's null). */
function _absent(v: unknown): boolean {
  return v === undefined || v === null;
}

/** The event types a rule's conditions (at any depth) and its required_events name, first seen first. */
function _namedEventTypes(conditions: readonly Condition[], required: readonly EventType[]): EventType[] {
  const out = new Set<EventType>();
  const walk = (c: Condition): void => {
    if (c.type === "event") out.add(c.event_type);
    else if (c.type === "any" || c.type === "all") c.conditions.forEach(walk);
  };
  conditions.forEach(walk);
  for (const t of required) out.add(t);
  return [...out];
}

/** `all` or `any` when `v` is upstream's one-key group mapping. */
function _groupKey(v: unknown): "all" | "any" | undefined {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === "all" || keys[0] === "any") ? keys[0] : undefined;
}
