// YAML rule files to checked Rules. Every field is checked for presence, type and range;
// the first problem is thrown as one ConfigError naming the file, the field path
// (`conditions[2].metrics[0].op`) and the reason.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigError } from "../config-error.ts";
import { EVENT_TYPES, type EventType } from "../events/schema.ts";
import { EDGE_KINDS, type EdgeKind } from "../graph/nodes.ts";
import { EMBEDDED_RULES } from "./embedded.ts";
import { patternProblem } from "./pattern.ts";
import {
  CONDITION_TYPES,
  METRIC_KEYS,
  METRIC_OPS,
  NODE_TYPES,
  parseNumber,
  SCENE_RE,
  sortRules,
  VALUE_TYPES,
  type Condition,
  type MetricEntry,
  type NodeType,
  type Rule,
  type SolutionStep,
} from "./rule.ts";

const MAX_FILE_BYTES = 1024 * 1024;
const MAX_DEPTH = 8;
const MAX_LEAVES = 64;
const RULE_FIELDS = [
  "name",
  "scene",
  "priority",
  "conditions",
  "root_cause_pattern",
  "solution_steps",
  "related_evidences",
  "applicability",
];

type Obj = Record<string, unknown>;

/** Parses and checks one rule file's text. `file` is only used in error messages. */
export function parseRule(text: string, file: string): Rule {
  if (text.includes("\u0000")) throw new ConfigError(file, "", "not a YAML file (binary content)");
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { uniqueKeys: true });
  } catch (e) {
    throw new ConfigError(file, "", `not valid YAML: ${_firstLine(e)}`);
  }
  if (!Array.isArray(docs) || docs.length === 0) throw new ConfigError(file, "", "empty file (expected one rule)");
  if (docs.length > 1) throw new ConfigError(file, "", `${docs.length} YAML documents (expected one rule per file)`);
  const doc = docs[0];
  if (doc.errors.length > 0) throw new ConfigError(file, "", `not valid YAML: ${_firstLine(doc.errors[0])}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(file, "", `not valid YAML: ${_firstLine(e)}`);
  }
  return new _Checker(file).rule(value);
}

/** Reads and checks one rule file. */
export function loadRuleFile(path: string): Rule {
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES) throw new ConfigError(path, "", `larger than ${MAX_FILE_BYTES} bytes`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(path, "", `cannot read: ${_errno(e)}`);
  }
  return parseRule(text, path);
}

/**
 * Every `*.yaml` / `*.yml` file of a directory (not its sub-directories; hidden entries such
 * as a Kubernetes ConfigMap's `..data` are skipped). An empty directory gives no rules.
 * Two files with one scene are refused.
 */
export function loadRulesDir(dir: string): Rule[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError(dir, "", "not a directory");
    names = readdirSync(dir);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(dir, "", `cannot read rules directory: ${_errno(e)}`);
  }
  const rules: Rule[] = [];
  const byScene = new Map<string, string>();
  for (const name of names.sort()) {
    if (name.startsWith(".") || !/\.ya?ml$/i.test(name)) continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
    } catch (e) {
      throw new ConfigError(path, "", `cannot read: ${_errno(e)}`);
    }
    const rule = loadRuleFile(path);
    const other = byScene.get(rule.scene);
    if (other !== undefined) throw new ConfigError(path, "scene", `scene "${rule.scene}" is also defined in ${other}`);
    byScene.set(rule.scene, path);
    rules.push(rule);
  }
  return rules;
}

let _defaults: readonly Rule[] | undefined;

/** The rule set embedded in the binary (rules/*.yaml, parsed at build time). */
export function defaultRules(): Rule[] {
  _defaults ??= EMBEDDED_RULES.map((r) => r.rule);
  return [..._defaults];
}

export interface RuleSetOptions {
  /** Add the rules of this directory; a scene already loaded is replaced. */
  dir?: string;
  /** Start from the embedded set (default true). */
  defaults?: boolean;
}

/** The rules a serve or replay run uses, highest priority first. */
export function loadRuleSet(opts: RuleSetOptions = {}): Rule[] {
  const byScene = new Map<string, Rule>();
  if (opts.defaults !== false) for (const r of defaultRules()) byScene.set(r.scene, r);
  if (opts.dir !== undefined) for (const r of loadRulesDir(opts.dir)) byScene.set(r.scene, r);
  return sortRules([...byScene.values()]);
}

class _Checker {
  private _leaves = 0;
  constructor(private readonly file: string) {}

  rule(value: unknown): Rule {
    const o = this._obj(value, "");
    this._known(o, "", RULE_FIELDS);
    const name = this._str(o, "name", "");
    const scene = this._str(o, "scene", "");
    if (!SCENE_RE.test(scene) || scene.length > 64) {
      this._fail("scene", `"${scene}" is not a scene id ([a-z][a-z0-9_]*, at most 64 characters)`);
    }
    const priority = this._int(o, "priority", "");
    const list = this._list(o, "conditions", "", true);
    const conditions = list.map((c, i) => this._condition(c, `conditions[${i}]`, 1));
    const rcp = this._obj(this._need(o, "root_cause_pattern", ""), "root_cause_pattern");
    this._known(rcp, "root_cause_pattern", ["primary", "secondary"]);
    const root_cause_pattern = {
      primary: this._str(rcp, "primary", "root_cause_pattern"),
      secondary: rcp.secondary === undefined ? [] : this._strings(rcp, "secondary", "root_cause_pattern"),
    };
    const solution_steps = this._list(o, "solution_steps", "", false).map((s, i) => this._step(s, `solution_steps[${i}]`));
    const seen = new Set<number>();
    solution_steps.forEach((s, i) => {
      if (seen.has(s.step)) this._fail(`solution_steps[${i}].step`, `step ${s.step} appears twice`);
      seen.add(s.step);
    });
    solution_steps.sort((a, b) => a.step - b.step);
    const related_evidences = this._eventTypes(o, "related_evidences", "");
    const applicability = { min_confidence: 0.8, required_events: [] as EventType[] };
    if (o.applicability !== undefined && o.applicability !== null) {
      const a = this._obj(o.applicability, "applicability");
      this._known(a, "applicability", ["min_confidence", "required_events"]);
      if (a.min_confidence !== undefined) {
        const m = a.min_confidence;
        if (typeof m !== "number" || !Number.isFinite(m)) this._fail("applicability.min_confidence", `must be a number from 0 to 1 (got ${_kind(m)})`);
        if (m < 0 || m > 1) this._fail("applicability.min_confidence", `${m} is outside 0..1`);
        applicability.min_confidence = m;
      }
      if (a.required_events !== undefined) applicability.required_events = this._eventTypes(a, "required_events", "applicability");
    }
    return { name, scene, priority, conditions, root_cause_pattern, solution_steps, related_evidences, applicability, source: this.file };
  }

  private _condition(value: unknown, path: string, depth: number): Condition {
    const o = this._obj(value, path);
    const type = this._str(o, "type", path);
    const at = (f: string) => `${path}.${f}`;
    switch (type) {
      case "event": {
        this._known(o, path, ["type", "event_type", "entity_id_pattern", "value_pattern", "value_threshold"]);
        this._leaf(path);
        const event_type = this._eventType(this._str(o, "event_type", path), at("event_type"));
        const c: Condition = { type, event_type };
        const entity = this._pattern(o, "entity_id_pattern", path);
        if (entity !== undefined) c.entity_id_pattern = entity;
        const vp = this._pattern(o, "value_pattern", path);
        if (vp !== undefined) c.value_pattern = vp;
        if (o.value_threshold !== undefined) {
          const t = o.value_threshold;
          if (typeof t !== "number" || !Number.isFinite(t)) this._fail(at("value_threshold"), `must be a number (got ${_kind(t)})`);
          c.value_threshold = t;
        }
        return c;
      }
      case "graph": {
        this._known(o, path, ["type", "edge_type", "from_pattern", "to_pattern"]);
        this._leaf(path);
        const edge = this._str(o, "edge_type", path);
        if (!(EDGE_KINDS as readonly string[]).includes(edge)) {
          this._fail(at("edge_type"), `unknown edge type "${edge}" (expected ${_or(EDGE_KINDS)})`);
        }
        const c: Condition = { type, edge_type: edge as EdgeKind };
        const from = this._pattern(o, "from_pattern", path);
        if (from !== undefined) c.from_pattern = from;
        const to = this._pattern(o, "to_pattern", path);
        if (to !== undefined) c.to_pattern = to;
        return c;
      }
      case "metric": {
        this._known(o, path, ["type", "node_type", "entity_id_pattern", "metrics"]);
        this._leaf(path);
        let node_type: NodeType | undefined;
        if (o.node_type !== undefined) {
          const nt = this._str(o, "node_type", path);
          if (!(NODE_TYPES as readonly string[]).includes(nt)) this._fail(at("node_type"), `unknown node type "${nt}" (expected ${_or(NODE_TYPES)})`);
          node_type = nt as NodeType;
        }
        const metrics = this._list(o, "metrics", path, true).map((m, i) => this._entry(m, `${at("metrics")}[${i}]`, node_type));
        const c: Condition = { type, metrics };
        if (node_type !== undefined) c.node_type = node_type;
        const entity = this._pattern(o, "entity_id_pattern", path);
        if (entity !== undefined) c.entity_id_pattern = entity;
        return c;
      }
      case "any":
      case "all": {
        this._known(o, path, ["type", "conditions"]);
        if (depth >= MAX_DEPTH) this._fail(path, `conditions nested deeper than ${MAX_DEPTH}`);
        const list = this._list(o, "conditions", path, true);
        return { type, conditions: list.map((c, i) => this._condition(c, `${at("conditions")}[${i}]`, depth + 1)) };
      }
      default:
        return this._fail(at("type"), `unknown condition type "${type}" (expected ${_or(CONDITION_TYPES)})`);
    }
  }

  private _entry(value: unknown, path: string, nodeType: NodeType | undefined): MetricEntry {
    const o = this._obj(value, path);
    this._known(o, path, ["key", "op", "target", "value_type"]);
    const key = this._str(o, "key", path);
    const keys = nodeType === undefined ? Object.values(METRIC_KEYS).flat() : METRIC_KEYS[nodeType];
    if (!keys.includes(key)) {
      this._fail(`${path}.key`, `unknown key "${key}"${nodeType ? ` for ${nodeType} nodes` : ""} (expected ${_or(keys)})`);
    }
    const op = this._str(o, "op", path);
    if (!(METRIC_OPS as readonly string[]).includes(op)) this._fail(`${path}.op`, `unknown operator "${op}" (expected ${_or(METRIC_OPS)})`);
    const raw = this._need(o, "target", path);
    if (typeof raw !== "string" && (typeof raw !== "number" || !Number.isFinite(raw))) {
      this._fail(`${path}.target`, `must be a string or a number (got ${_kind(raw)})`);
    }
    const target = String(raw);
    let value_type: MetricEntry["value_type"] = "auto";
    if (o.value_type !== undefined) {
      const vt = this._str(o, "value_type", path);
      if (!(VALUE_TYPES as readonly string[]).includes(vt)) this._fail(`${path}.value_type`, `unknown value type "${vt}" (expected ${_or(VALUE_TYPES)})`);
      value_type = vt as MetricEntry["value_type"];
    }
    if (op === "contains") {
      if (value_type === "numeric") this._fail(`${path}.value_type`, `contains compares text, not numeric`);
      const p = patternProblem(target);
      if (p) this._fail(`${path}.target`, p);
    } else if (value_type === "numeric" && parseNumber(target) === undefined) {
      this._fail(`${path}.target`, `"${target}" is not a number (value_type is numeric)`);
    }
    return { key, op: op as MetricEntry["op"], target, value_type };
  }

  private _step(value: unknown, path: string): SolutionStep {
    const o = this._obj(value, path);
    this._known(o, path, ["step", "action", "command", "manual"]);
    const step = this._int(o, "step", path);
    if (step < 1) this._fail(`${path}.step`, `must be 1 or more (got ${step})`);
    const action = this._str(o, "action", path);
    const manual = this._need(o, "manual", path);
    if (typeof manual !== "boolean") this._fail(`${path}.manual`, `must be true or false (got ${_kind(manual)})`);
    const s: SolutionStep = { step, action, manual: manual as boolean };
    if (o.command !== undefined && o.command !== null) s.command = this._str(o, "command", path);
    return s;
  }

  private _leaf(path: string): void {
    if (++this._leaves > MAX_LEAVES) this._fail(path, `more than ${MAX_LEAVES} conditions in one rule`);
  }

  private _pattern(o: Obj, key: string, path: string): string | undefined {
    if (o[key] === undefined) return undefined;
    const text = this._str(o, key, path);
    const p = patternProblem(text);
    if (p) this._fail(_join(path, key), p);
    return text;
  }

  private _eventTypes(o: Obj, key: string, path: string): EventType[] {
    const list = this._list(o, key, path, false);
    return list.map((v, i) => {
      const at = `${_join(path, key)}[${i}]`;
      if (typeof v !== "string") this._fail(at, `must be an event type (got ${_kind(v)})`);
      return this._eventType(v as string, at);
    });
  }

  private _eventType(text: string, at: string): EventType {
    if (!(EVENT_TYPES as readonly string[]).includes(text)) this._fail(at, `unknown event type "${text}"`);
    return text as EventType;
  }

  private _need(o: Obj, key: string, path: string): unknown {
    const v = o[key];
    if (v === undefined || v === null) this._fail(_join(path, key), "missing");
    return v;
  }

  private _str(o: Obj, key: string, path: string): string {
    const v = this._need(o, key, path);
    if (typeof v !== "string") this._fail(_join(path, key), `must be a string (got ${_kind(v)})`);
    if ((v as string).trim() === "") this._fail(_join(path, key), "must not be empty");
    return v as string;
  }

  private _strings(o: Obj, key: string, path: string): string[] {
    return this._list(o, key, path, false).map((v, i) => {
      if (typeof v !== "string" || v.trim() === "") this._fail(`${_join(path, key)}[${i}]`, `must be a non-empty string (got ${_kind(v)})`);
      return v as string;
    });
  }

  private _int(o: Obj, key: string, path: string): number {
    const v = this._need(o, key, path);
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this._fail(_join(path, key), `must be an integer (got ${_kind(v)})`);
    return v as number;
  }

  private _list(o: Obj, key: string, path: string, nonEmpty: boolean): unknown[] {
    const v = this._need(o, key, path);
    if (!Array.isArray(v)) this._fail(_join(path, key), `must be a list (got ${_kind(v)})`);
    if (nonEmpty && (v as unknown[]).length === 0) this._fail(_join(path, key), "must not be empty");
    return v as unknown[];
  }

  private _obj(v: unknown, path: string): Obj {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      if (path === "") this._fail("", `not a rule: expected a YAML mapping (got ${_kind(v)})`);
      this._fail(path, `must be a mapping (got ${_kind(v)})`);
    }
    return v as Obj;
  }

  private _known(o: Obj, path: string, fields: string[]): void {
    for (const k of Object.keys(o)) {
      if (!fields.includes(k)) this._fail(_join(path, k), `unknown field (expected ${_or(fields)})`);
    }
  }

  private _fail(field: string, reason: string): never {
    throw new ConfigError(this.file, field, reason);
  }
}

function _join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function _or(items: readonly string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

function _kind(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v.length > 40 ? v.slice(0, 40) + "…" : v}"`;
  return `${typeof v} ${String(v)}`;
}

function _firstLine(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  return msg.split("\n")[0].replace(/:$/, "");
}

function _errno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code === "ENOENT" ? "no such file or directory" : err?.code === "EACCES" ? "permission denied" : (err?.message ?? String(e));
}
