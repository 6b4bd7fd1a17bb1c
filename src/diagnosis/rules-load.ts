// Rule files to checked Rules: reading files and directories, parsing YAML, and the rule set a
// run uses. The checks themselves are in rules-check.ts. Loading (serve, replay) refuses the
// first error as one ConfigError naming the file, the field path and the reason; `checkRulePaths`
// (rules check) gathers every problem of every file.
//
// A rule directory holds `*.yaml` and `*.yml` files (either extension, any case); sub-directories
// and hidden entries (a Kubernetes ConfigMap's `..data`) are skipped, links followed. In a
// ConfigMap volume a key the kubelet just removed is, for a moment, a link through `..data` to
// nothing (the kubelet swaps `..data` first, then deletes the link): it is skipped, not an error.
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from "yaml";
import { ConfigError } from "../config-error.ts";
import { describeErrno } from "../errno.ts";
import { EMBEDDED_RULES } from "./embedded.ts";
import { sortRules, type Rule } from "./rule.ts";
import { checkRule, type RuleProblem } from "./rules-check.ts";

export type { RuleProblem } from "./rules-check.ts";

const MAX_FILE_BYTES = 1024 * 1024;
export const RULE_FILE_RE = /\.ya?ml$/i;

/** Parses and checks one rule file's text: the rule (undefined on an error) and every problem. */
export function checkRuleText(text: string, file: string): { rule: Rule | undefined; problems: RuleProblem[] } {
  const fail = (reason: string, line?: number) => ({ rule: undefined, problems: [{ file, field: "", reason, warning: false, ...(line !== undefined ? { line } : {}) }] });
  if (text.includes("\u0000")) return fail("not a YAML file (binary content)");
  const lc = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    // `merge`: YAML's `<<: *anchor` merge key, which rule authors use to share a condition's fields.
    docs = parseAllDocuments(text, { uniqueKeys: true, lineCounter: lc, merge: true });
  } catch (e) {
    return fail(`not valid YAML: ${_firstLine(e)}`);
  }
  if (!Array.isArray(docs) || docs.length === 0) return fail("empty file (expected one rule)");
  if (docs.length > 1) return fail(`${docs.length} YAML documents (expected one rule per file)`, docs[1].contents?.range?.[0] === undefined ? undefined : _lineAt(lc, docs[1].contents.range[0]));
  const doc = docs[0];
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    // The line goes in front (`file:7:`), as every other problem's does.
    return fail(`not valid YAML: ${_firstLine(err).replace(/ at line \d+, column \d+$/, "")}`, err.linePos?.[0].line);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail(`not valid YAML: ${_firstLine(e)}`);
  }
  const checked = checkRule(value, file);
  for (const p of checked.problems) {
    const line = _lineOf(doc, lc, p.field);
    if (line !== undefined) p.line = line;
  }
  return checked;
}

/**
 * The line of a problem's field (`conditions[1].metrics[0].op`): of its key, or of the deepest
 * part of the path the file has (a missing field: the mapping it is missing from).
 */
function _lineOf(doc: Document, lc: LineCounter, field: string): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const part of field.match(/\[\d+\]|[^.[\]]+/g) ?? []) {
    if (part.startsWith("[")) {
      const item: unknown = isSeq(node) ? node.items[Number(part.slice(1, -1))] : undefined;
      if (item === undefined) break;
      const at = (item as { range?: [number, number, number] }).range?.[0];
      if (at !== undefined) line = _lineAt(lc, at);
      node = item;
    } else {
      const pair = isMap(node) ? node.items.find((it) => isScalar(it.key) && String(it.key.value) === part) : undefined;
      if (pair === undefined) break;
      const at = (pair.key as { range?: [number, number, number] }).range?.[0];
      if (at !== undefined) line = _lineAt(lc, at);
      node = pair.value;
    }
  }
  return line;
}

function _lineAt(lc: LineCounter, offset: number): number {
  return lc.linePos(offset).line;
}

/** Parses and checks one rule file's text; throws its first error. Warnings go to `warnings` when given. */
export function parseRule(text: string, file: string, warnings?: RuleProblem[]): Rule {
  const { rule, problems } = checkRuleText(text, file);
  const error = problems.find((p) => !p.warning);
  if (error !== undefined || rule === undefined) throw _configError(error ?? { file, field: "", reason: "not a rule", warning: false });
  warnings?.push(...problems);
  return rule;
}

function _readText(path: string): string {
  let bytes: Uint8Array;
  try {
    checkRuleFileStat(path, statSync(path));
    bytes = readFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  return decodeRuleFile(path, bytes);
}

/** Refuses what is no rule file to read: a device or a pipe (/dev/zero, a FIFO) would be read without end. */
export function checkRuleFileStat(path: string, st: { isFile(): boolean; size: number }): void {
  if (!st.isFile()) throw new ConfigError(path, "", "not a regular file");
  if (st.size > MAX_FILE_BYTES) throw new ConfigError(path, "", `${st.size} bytes, larger than the ${MAX_FILE_BYTES} a rule file may have`);
}

/** The error for a rule file that could not be read (a ConfigError passes as it is). */
export function readError(path: string, e: unknown): ConfigError {
  return e instanceof ConfigError ? e : new ConfigError(path, "", `cannot read: ${describeErrno(e)}`);
}

/** A rule file's bytes as its text, or the ConfigError naming its first line that is not UTF-8. */
export function decodeRuleFile(path: string, bytes: Uint8Array): string {
  const { text, badLine } = decodeRuleBytes(bytes);
  if (badLine !== undefined) throw new ConfigError(path, "", "not UTF-8 text (save the file as UTF-8)", badLine);
  return text;
}

/**
 * A rule file's bytes as text, or the first line that is not UTF-8 (a file saved as Latin-1 would
 * otherwise load with U+FFFD in its names and patterns, which then match nothing).
 */
export function decodeRuleBytes(bytes: Uint8Array): { text: string; badLine?: number } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    // Byte 0x0A is never part of a multi-byte sequence, so lines can be tried one by one.
    const strict = new TextDecoder("utf-8", { fatal: true });
    let start = 0;
    for (let line = 1; ; line++) {
      const end = bytes.indexOf(0x0a, start);
      try {
        strict.decode(bytes.subarray(start, end === -1 ? bytes.length : end));
      } catch {
        return { text: "", badLine: line };
      }
      if (end === -1) return { text: "", badLine: line };
      start = end + 1;
    }
  }
}

/** Reads and checks one rule file. */
export function loadRuleFile(path: string, warnings?: RuleProblem[]): Rule {
  return parseRule(_readText(path), path, warnings);
}

/** The rule files of a directory, sorted (see the top of this file). */
function _ruleFiles(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError(dir, "", "not a directory");
    names = readdirSync(dir);
  } catch (e) {
    throw dirError(dir, e);
  }
  const out: string[] = [];
  for (const path of ruleFileCandidates(dir, names)) {
    try {
      if (!statSync(path).isFile()) continue;
    } catch (e) {
      if (isRemovedProjectedKey(e, _linkTarget(path))) continue;
      throw readError(path, e);
    }
    out.push(path);
  }
  return out;
}

/** The link a Kubernetes ConfigMap or Secret volume swaps atomically to update its files. */
export const PROJECTION_LINK = "..data";

/**
 * Whether an entry stat could not follow (`e`) is a key the kubelet has just removed from a
 * ConfigMap volume: a link (`target`, undefined when it is none) through `..data/` to a file the
 * new `..data` no longer has. The kubelet deletes the link next; until then it is no rule file.
 */
export function isRemovedProjectedKey(e: unknown, target: string | undefined): boolean {
  return (e as { code?: unknown })?.code === "ENOENT" && target !== undefined && target.startsWith(`${PROJECTION_LINK}/`);
}

function _linkTarget(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The error for a rules directory that could not be listed (a ConfigError passes as it is). */
export function dirError(dir: string, e: unknown): ConfigError {
  return e instanceof ConfigError ? e : new ConfigError(dir, "", `cannot read rules directory: ${describeErrno(e)}`);
}

/** The paths of a directory's entries that may be rule files, sorted: `*.yaml`, `*.yml`, not hidden. */
export function ruleFileCandidates(dir: string, names: readonly string[]): string[] {
  return [...names].sort().filter((name) => !name.startsWith(".") && RULE_FILE_RE.test(name)).map((name) => join(dir, name));
}

/**
 * Every rule file of a directory; two files with one scene are refused. An empty directory gives
 * no rules, and the warning `rules check` gives for it.
 */
export function loadRulesDir(dir: string, warnings?: RuleProblem[]): Rule[] {
  const files = _ruleFiles(dir);
  return checkDirRules(
    dir,
    files.map((path) => loadRuleFile(path, warnings)),
    warnings,
  );
}

/** A directory's rules, loaded in file order: refused when two share a scene; none is a warning. */
export function checkDirRules(dir: string, rules: Rule[], warnings?: RuleProblem[]): Rule[] {
  if (rules.length === 0) warnings?.push(_noFiles(dir));
  const problem = _crossProblems(rules).find((p) => !p.warning);
  if (problem !== undefined) throw _configError(problem);
  return rules;
}

/**
 * `rules check`: every problem of every rule file under `paths` (files or directories), and
 * the number of rules that loaded. Nothing is thrown for a bad rule; a path that cannot be read
 * is a problem too.
 */
export function checkRulePaths(paths: readonly string[]): { rules: number; problems: RuleProblem[] } {
  const problems: RuleProblem[] = [];
  const rules: Rule[] = [];
  // Each file once, however it is reached (`rules check site site/new.yaml`): a second reading
  // would be "defined in" itself.
  const seen = new Set<string>();
  for (const path of paths) {
    let files: string[];
    try {
      files = statSync(path).isDirectory() ? _ruleFiles(path) : [path];
    } catch (e) {
      problems.push(e instanceof ConfigError ? _problem(e) : { file: path, field: "", reason: `cannot read: ${describeErrno(e)}`, warning: false });
      continue;
    }
    if (files.length === 0) problems.push(_noFiles(path));
    for (const file of files) {
      const id = _identity(file);
      if (seen.has(id)) continue;
      seen.add(id);
      let text: string;
      try {
        text = _readText(file);
      } catch (e) {
        problems.push(_problem(e as ConfigError));
        continue;
      }
      const r = checkRuleText(text, file);
      problems.push(...r.problems);
      if (r.rule !== undefined) rules.push(r.rule);
    }
  }
  problems.push(..._crossProblems(rules));
  return { rules: rules.length, problems };
}

/** A file's identity: its real path (links resolved), or the absolute path when it has none. */
function _identity(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/** A directory with nothing to load: most likely the wrong one, so not "0 rules" in silence. */
function _noFiles(dir: string): RuleProblem {
  return { file: dir, field: "", reason: "no rule files here (*.yaml, *.yml)", warning: true };
}

/** Problems between files: one scene twice, one fault-scope pattern given two scopes. */
function _crossProblems(rules: readonly Rule[]): RuleProblem[] {
  const out: RuleProblem[] = [];
  const byScene = new Map<string, string>();
  const faults = new Map<string, { scope: string; file: string }>();
  for (const r of rules) {
    const other = byScene.get(r.scene);
    if (other !== undefined) out.push({ file: r.source, field: "scene", reason: `scene "${r.scene}" is also defined in ${other}`, warning: false });
    else byScene.set(r.scene, r.source);
    for (const [pattern, scope] of Object.entries(r.fault_scope ?? {})) {
      const seen = faults.get(pattern.toLowerCase());
      if (seen !== undefined && seen.scope !== scope) {
        out.push({ file: r.source, field: `fault_scope.${pattern}`, reason: `${scope} here, ${seen.scope} in ${seen.file}`, warning: false });
      } else faults.set(pattern.toLowerCase(), { scope, file: r.source });
    }
  }
  return out;
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
  /** Collects the warnings of the directory's files. */
  warnings?: RuleProblem[];
}

/**
 * The YAML a rule came from, as written (comments too): an embedded rule's file as the binary was
 * built with it, or the file a directory rule was read from (read again now).
 */
export function ruleText(rule: Rule): string {
  if (rule.source.startsWith("embedded:")) {
    const file = rule.source.slice("embedded:".length);
    const e = EMBEDDED_RULES.find((r) => r.file === file);
    if (e === undefined) throw new ConfigError(rule.source, "", "no such embedded rule");
    return e.text;
  }
  return _readText(rule.source);
}

/** The rules a serve or replay run uses, highest priority first. */
export function loadRuleSet(opts: RuleSetOptions = {}): Rule[] {
  return mergeRuleSet(opts.defaults !== false, opts.dir === undefined ? [] : loadRulesDir(opts.dir, opts.warnings));
}

/** The embedded set (when `defaults`) with a directory's rules over it, highest priority first. */
export function mergeRuleSet(defaults: boolean, dirRules: readonly Rule[]): Rule[] {
  const byScene = new Map<string, Rule>();
  if (defaults) for (const r of defaultRules()) byScene.set(r.scene, r);
  for (const r of dirRules) byScene.set(r.scene, r);
  const rules = sortRules([...byScene.values()]);
  const problem = _crossProblems(rules).find((p) => !p.warning);
  if (problem !== undefined) throw _configError(problem);
  return rules;
}

/** One line for a problem: `file:line: field: reason` (no line when none is known), with `warning: ` in front of a warning's reason. */
export function formatProblem(p: RuleProblem): string {
  const reason = p.warning ? `warning: ${p.reason}` : p.reason;
  const where = p.line !== undefined ? `${p.file}:${p.line}` : p.file;
  return p.field ? `${where}: ${p.field}: ${reason}` : `${where}: ${reason}`;
}

function _configError(p: RuleProblem): ConfigError {
  return new ConfigError(p.file, p.field, p.reason, p.line);
}

function _problem(e: ConfigError): RuleProblem {
  return { file: e.file, field: e.field, reason: e.reason, warning: false, ...(e.line !== undefined ? { line: e.line } : {}) };
}

function _firstLine(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  return msg.split("\n")[0].replace(/:$/, "");
}

