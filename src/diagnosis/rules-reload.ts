// Reloading the rule set (SIGHUP), as Prometheus reloads its configuration: the same --rules
// directory (and the embedded set unless --no-default-rules) is read again, without blocking the
// event loop, and checked exactly as at start-up (rules-load.ts: the same errors `rules check`
// gives). A bad set changes nothing: the rules in force stay, one line names the file, line,
// field and reason, and xctl_rules_last_reload_successful says 0. A good one goes to the engine,
// which keeps what it knows for what did not change (DiagnosisEngine.setRules), and an automatic
// run follows. Reloads run one at a time: a request during one runs once more after it.
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { prepareForms, type Rule, type RuleSetChange } from "./rule.ts";
import {
  checkDirRules,
  checkRuleFileStat,
  decodeRuleFile,
  dirError,
  formatProblem,
  isRemovedProjectedKey,
  mergeRuleSet,
  parseRule,
  PROJECTION_LINK,
  readError,
  ruleFileCandidates,
  type RuleProblem,
  type RuleSetOptions,
} from "./rules-load.ts";
import { ConfigError } from "../config-error.ts";

/** What the metrics show of reloads (xctl_rules_last_reload_*, xctl_rules_reloads_total). */
export interface RulesReloadState {
  /** Whether the last load (start-up, or the last reload) succeeded. */
  successful: boolean;
  /** Wall-clock ms of the last load that succeeded (start-up counts). */
  lastSuccessMs: number;
  /** Reloads tried, by result. */
  reloads: Map<"success" | "failure", number>;
  /** Wall-clock ms of the last reload that failed, or null when none has. */
  lastFailureMs: number | null;
  /** Why the last failed reload failed (file, line, field, reason), or null when none has; kept after a later success. */
  lastError: string | null;
}

export function newRulesReloadState(now = Date.now()): RulesReloadState {
  return { successful: true, lastSuccessMs: now, reloads: new Map([["success", 0], ["failure", 0]]), lastFailureMs: null, lastError: null };
}

/**
 * `loadRuleSet`, reading the files asynchronously (a reload runs beside the server). A directory
 * that a Kubernetes ConfigMap volume projects (a `..data` link) is read as one version: when the
 * kubelet swapped `..data` while the files were read (some old, some new, a removed key's link
 * dangling), it is read again, up to three times. `listed` is for tests: it runs once the files
 * of each reading are listed, before they are read.
 */
export async function loadRuleSetAsync(opts: RuleSetOptions = {}, listed?: () => Promise<void> | void): Promise<Rule[]> {
  const dir = opts.dir;
  if (dir === undefined) return mergeRuleSet(opts.defaults !== false, []);
  for (let attempt = 1; ; attempt++) {
    const version = await _projectedVersion(dir);
    const warnings: RuleProblem[] = [];
    let rules: Rule[] | undefined;
    let error: unknown;
    try {
      rules = await _readDirRules(dir, warnings, listed);
    } catch (e) {
      error = e;
    }
    const swapped = version !== undefined && (await _projectedVersion(dir)) !== version;
    if (swapped && attempt < _MAX_READS) continue;
    if (rules === undefined) throw error;
    opts.warnings?.push(...warnings);
    return mergeRuleSet(opts.defaults !== false, rules);
  }
}

/** Readings of a directory whose `..data` keeps being swapped before the last one is taken. */
const _MAX_READS = 3;

/** Where the `..data` link of a ConfigMap volume points (its version), or undefined when there is none. */
async function _projectedVersion(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, PROJECTION_LINK));
  } catch {
    return undefined;
  }
}

async function _readDirRules(dir: string, warnings: RuleProblem[], listed?: () => Promise<void> | void): Promise<Rule[]> {
  const rules: Rule[] = [];
  const files = await _ruleFilesAsync(dir);
  await listed?.();
  // Each file read then parsed before the next, as `loadRulesDir` does: the same first error.
  for (const path of files) {
    const rule = parseRule(await _readTextAsync(path), path, warnings);
    // Its forms now, between two reads, rather than all at once in the swap (setRules).
    prepareForms(rule);
    rules.push(rule);
  }
  return checkDirRules(dir, rules, warnings);
}

async function _ruleFilesAsync(dir: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new ConfigError(dir, "", "not a directory");
    names = await readdir(dir);
  } catch (e) {
    throw dirError(dir, e);
  }
  const out: string[] = [];
  for (const path of ruleFileCandidates(dir, names)) {
    try {
      if (!(await stat(path)).isFile()) continue;
    } catch (e) {
      if (isRemovedProjectedKey(e, await readlink(path).catch(() => undefined))) continue;
      throw readError(path, e);
    }
    out.push(path);
  }
  return out;
}

async function _readTextAsync(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    checkRuleFileStat(path, await stat(path));
    bytes = await readFile(path);
  } catch (e) {
    throw readError(path, e);
  }
  return decodeRuleFile(path, bytes);
}

/** What one reload did: the new set and its change, or the error that left the old set in force. */
export type ReloadOutcome = { ok: true; rules: readonly Rule[]; change: RuleSetChange; warnings: string[] } | { ok: false; error: string };

export interface ReloaderOptions {
  /** Where the rules come from: the flags serve started with. */
  source: { dir?: string; defaults: boolean };
  state: RulesReloadState;
  /** The rules in force now. */
  current(): readonly Rule[];
  /** Puts a checked set in force (the engine's setRules and a run); says what changed. */
  apply(rules: readonly Rule[]): RuleSetChange;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

/** Serialised reloads: at most one runs; requests during it make one more run after it. */
export class RulesReloader {
  private _running: Promise<ReloadOutcome> | undefined;
  private _again = false;

  constructor(private readonly _opts: ReloaderOptions) {}

  /** Reloads now, or once more after the reload in progress; resolves with the last reload's outcome. */
  request(): Promise<ReloadOutcome> {
    if (this._running !== undefined) {
      this._again = true;
      return this._running;
    }
    const run = async (): Promise<ReloadOutcome> => {
      let out: ReloadOutcome;
      try {
        do {
          this._again = false;
          out = await this._once();
        } while (this._again);
      } finally {
        this._running = undefined;
      }
      return out;
    };
    this._running = run();
    return this._running;
  }

  private async _once(): Promise<ReloadOutcome> {
    const { source, state, log } = this._opts;
    const problems: RuleProblem[] = [];
    let rules: Rule[];
    try {
      rules = await loadRuleSetAsync({ dir: source.dir, defaults: source.defaults, warnings: problems });
    } catch (e) {
      const error = e instanceof ConfigError ? e.message : `cannot load rules: ${(e as Error)?.message ?? String(e)}`;
      return this._failed(`the ${this._opts.current().length} rules loaded before stay in force: ${error}`, error);
    }
    const warnings = problems.map(formatProblem);
    for (const w of warnings) log.warn(w);
    let change: RuleSetChange;
    try {
      change = this._opts.apply(rules);
    } catch (e) {
      // Not a rule problem (those were all found above): said, and never a crash of the server.
      const error = `applying the rules: ${(e as Error)?.message ?? String(e)}`;
      return this._failed(error, error);
    }
    state.successful = true;
    state.lastSuccessMs = Date.now();
    state.reloads.set("success", (state.reloads.get("success") ?? 0) + 1);
    log.info(describeReload(rules, change, source.dir));
    return { ok: true, rules, change, warnings };
  }

  private _failed(line: string, error: string): ReloadOutcome {
    const state = this._opts.state;
    state.successful = false;
    state.lastFailureMs = Date.now();
    state.lastError = error;
    state.reloads.set("failure", (state.reloads.get("failure") ?? 0) + 1);
    this._opts.log.error(`rules reload failed, ${line}`);
    return { ok: false, error };
  }
}

/** `rules reloaded: N loaded (M embedded, K from DIR); added a, b; removed c; changed d`. */
export function describeReload(rules: readonly Rule[], change: RuleSetChange, dir: string | undefined): string {
  const embedded = rules.filter((r) => r.source.startsWith("embedded:")).length;
  const parts: string[] = [];
  if (embedded > 0) parts.push(`${embedded} embedded`);
  if (rules.length > embedded) parts.push(`${rules.length - embedded} from ${dir ?? "a directory"}`);
  const what: string[] = [];
  if (change.added.length > 0) what.push(`added ${change.added.join(", ")}`);
  if (change.removed.length > 0) what.push(`removed ${change.removed.join(", ")}`);
  if (change.changed.length > 0) what.push(`changed ${change.changed.join(", ")}`);
  const counts = parts.length > 0 ? ` (${parts.join(", ")})` : "";
  return `rules reloaded: ${rules.length} loaded${counts}; ${what.length > 0 ? what.join("; ") : "nothing changed"}`;
}
