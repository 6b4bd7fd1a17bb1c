// Flag definitions: one table drives parsing (strict: an unknown flag is an error, with a
// suggestion), the XCTL_* environment fallback and the --help text. Each value remembers
// where it came from, so an error names what the user actually set: `--max-nodes` or
// `XCTL_MAX_NODES`.
import type { ArgsDef } from "citty";
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";
import { suggest } from "../suggest.ts";

export interface FlagDef {
  type: "string" | "boolean";
  description: string;
  default?: string | boolean;
  /** May be given more than once (values collect in order). */
  multiple?: boolean;
  /**
   * Refused when given twice on the command line (where the last would win and drop the first in
   * silence); the text says what to give instead (`it takes one list: ...`), from the values given.
   */
  once?: (values: string[]) => string;
  valueHint?: string;
  /** One-letter form (`-o`). */
  short?: string;
  /** Environment variable read when the flag is absent; default XCTL_<NAME>. */
  env?: string | false;
}

export type FlagDefs = Record<string, FlagDef>;
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** Where each value came from: `--name`, `-o` or the variable's name. */
const _origins = new WeakMap<FlagValues, Map<string, string>>();

export function envName(flag: string, def: FlagDef): string | undefined {
  if (def.env === false) return undefined;
  return def.env ?? "XCTL_" + flag.toUpperCase().replace(/[-.]/g, "_");
}

/** How the user set `name`: `--name`, or `XCTL_NAME` when it came from the environment. */
export function flagLabel(values: FlagValues, name: string): string {
  return _origins.get(values)?.get(name) ?? `--${name}`;
}

/** Whether `name` was on the command line (`flag`), from its variable (`env`), or neither. */
export function flagSource(values: FlagValues, name: string): "flag" | "env" | "default" {
  const o = _origins.get(values)?.get(name);
  return o === undefined ? "default" : o.startsWith("-") ? "flag" : "env";
}

/** Records that `name` was set by `label` (a flag alias such as --web.listen-address). */
export function setFlagLabel(values: FlagValues, name: string, label: string): void {
  let m = _origins.get(values);
  if (m === undefined) _origins.set(values, (m = new Map()));
  m.set(name, label);
}

/**
 * Parses `argv` against `defs`: flags first, then XCTL_* variables, then defaults.
 * Returns the values and the positionals. Throws UsageError on anything unknown or malformed.
 */
export function parseFlags(defs: FlagDefs, argv: string[], env: Record<string, string | undefined> = process.env): { values: FlagValues; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const [name, def] of Object.entries(defs)) {
    options[name] = { type: def.type, ...(def.multiple ? { multiple: true } : {}), ...(def.short ? { short: def.short } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: _joinDashValues(defs, argv), options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw new UsageError(_describeParseError(e, defs));
  }
  const values: FlagValues = {};
  const origins = new Map<string, string>();
  _origins.set(values, origins);
  // As typed: `-o` when the short form was used.
  const typed = new Map<string, string>();
  const given = new Map<string, string[]>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== "option") continue;
    typed.set(t.name, t.rawName);
    if (t.value !== undefined) given.set(t.name, [...(given.get(t.name) ?? []), t.value]);
  }
  for (const [name, list] of given) {
    const once = defs[name]?.once;
    if (once !== undefined && list.length > 1) throw new UsageError(`--${name}: given ${list.length} times (${list.join("; ")}); ${once(list)}`);
  }
  for (const [name, def] of Object.entries(defs)) {
    let v = parsed.values[name] as string | string[] | boolean | undefined;
    if (v !== undefined) origins.set(name, typed.get(name) ?? `--${name}`);
    const envVar = envName(name, def);
    const fromEnv = envVar === undefined ? undefined : env[envVar];
    if (v === undefined && fromEnv !== undefined && fromEnv !== "") {
      origins.set(name, envVar!);
      if (def.type === "boolean") v = _envBoolean(envVar!, fromEnv);
      else if (def.multiple) v = fromEnv.split("\n").map((s) => s.trim()).filter(Boolean);
      else v = fromEnv;
    }
    if (v === undefined) v = def.default;
    if (typeof v === "string" && def.type === "string" && v === "" && parsed.values[name] !== undefined) {
      throw new UsageError(`--${name} needs a value`);
    }
    values[name] = v;
  }
  return { values, positionals: parsed.positionals };
}

/**
 * `--port -1`: a string flag followed by a negative number takes it as its value. `-o=json`
 * (kubectl's spelling) is `-o json`.
 */
function _joinDashValues(defs: FlagDefs, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const short = /^-([A-Za-z])=/.exec(a);
    const long = short === null ? undefined : Object.entries(defs).find(([, d]) => d.short === short[1] && d.type === "string")?.[0];
    if (long !== undefined) {
      const value = a.slice(3);
      if (value.startsWith("-")) out.push(`--${long}=${value}`);
      else out.push(a.slice(0, 2), value); // as typed, so an error names -o
      continue;
    }
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    if (name !== undefined && defs[name]?.type === "string" && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) {
      out.push(`${a}=${argv[++i]}`);
    } else out.push(a);
  }
  return out;
}

/**
 * Warnings for XCTL_* variables that are set, are none of `tables`' (nor `extra`), and are one
 * typo from one that is (`XCTL_PROT` for `XCTL_PORT`): such a setting would be ignored in silence.
 * Other XCTL_* names are left alone (upstream xctl, or a wrapper, may have its own).
 */
export function misspeltVariables(tables: readonly FlagDefs[], extra: readonly string[], env: Record<string, string | undefined> = process.env): string[] {
  const known = new Set(extra);
  for (const defs of tables) for (const [name, def] of Object.entries(defs)) {
    const v = envName(name, def);
    if (v !== undefined) known.add(v);
  }
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("XCTL_") || known.has(name)) continue;
    const near = suggest(name, known);
    if (near !== undefined) out.push(`${name} is not a variable of xctl-exporter and is ignored (did you mean ${near}?)`);
  }
  return out;
}

/** The definitions in citty's format, for its usage renderer. */
export function cittyArgs(defs: FlagDefs): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, def] of Object.entries(defs)) {
    const envVar = envName(name, def);
    const description = def.description + (envVar ? ` [${envVar}]` : "");
    out[name] =
      def.type === "boolean"
        ? { type: "boolean", description, ...(def.short ? { alias: def.short } : {}) }
        : { type: "string", description, default: def.default as string | undefined, valueHint: def.valueHint, ...(def.short ? { alias: def.short } : {}) };
  }
  return out;
}

function _envBoolean(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off"].includes(t)) return false;
  throw new UsageError(`${name}: "${text}" is not a boolean (true or false)`);
}

function _describeParseError(e: unknown, defs: FlagDefs): string {
  const err = e as { code?: string; message?: string };
  const m = /'(-[^']*)'/.exec(err.message ?? "");
  const flag = m?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const given = flag.split("=")[0];
      if (defs.collectors !== undefined && /^--(no-)?collector\./.test(given)) {
        return `unknown flag ${given} (node_exporter's --collector.NAME and --no-collector.NAME are one list here: --collectors auto, none or names such as kmsg,diskstats)`;
      }
      const near = suggest(given.replace(/^--?/, ""), Object.keys(defs));
      return `unknown flag ${given}${near ? ` (did you mean --${near}?)` : " (see --help)"}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = flag.replace(/^--?/, "").split(" ")[0].split("=")[0];
      const def = defs[name] ?? Object.entries(defs).find(([, d]) => d.short === name)?.[1];
      const label = defs[name] ? `--${name}` : flag;
      return def?.type === "boolean" ? `${label} takes no value` : `${label} needs a value`;
    }
    default:
      return err.message ?? String(e);
  }
}
