// Flag definitions: one table drives parsing (strict: an unknown flag is an error), the
// XCTL_* environment fallback and the --help text.
import type { ArgsDef } from "citty";
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

export interface FlagDef {
  type: "string" | "boolean";
  description: string;
  default?: string | boolean;
  /** May be given more than once (values collect in order). */
  multiple?: boolean;
  valueHint?: string;
  /** Environment variable read when the flag is absent; default XCTL_<NAME>. */
  env?: string | false;
}

export type FlagDefs = Record<string, FlagDef>;
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

export function envName(flag: string, def: FlagDef): string | undefined {
  if (def.env === false) return undefined;
  return def.env ?? "XCTL_" + flag.toUpperCase().replace(/-/g, "_");
}

/**
 * Parses `argv` against `defs`: flags first, then XCTL_* variables, then defaults.
 * Returns the values and the positionals. Throws UsageError on anything unknown or malformed.
 */
export function parseFlags(defs: FlagDefs, argv: string[], env: Record<string, string | undefined> = process.env): { values: FlagValues; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, def] of Object.entries(defs)) options[name] = def.multiple ? { type: def.type, multiple: true } : { type: def.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(_describeParseError(e, defs));
  }
  const values: FlagValues = {};
  for (const [name, def] of Object.entries(defs)) {
    let v = parsed.values[name] as string | string[] | boolean | undefined;
    const envVar = envName(name, def);
    const fromEnv = envVar === undefined ? undefined : env[envVar];
    if (v === undefined && fromEnv !== undefined && fromEnv !== "") {
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

/** The definitions in citty's format, for its usage renderer. */
export function cittyArgs(defs: FlagDefs): ArgsDef {
  const out: ArgsDef = {};
  for (const [name, def] of Object.entries(defs)) {
    const envVar = envName(name, def);
    const description = def.description + (envVar ? ` [${envVar}]` : "");
    out[name] =
      def.type === "boolean"
        ? { type: "boolean", description }
        : { type: "string", description, default: def.default as string | undefined, valueHint: def.valueHint };
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
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag.split("=")[0]} (see --help)`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = flag.replace(/^--?/, "").split(" ")[0].split("=")[0];
      return defs[name]?.type === "boolean" ? `--${name} takes no value` : `--${name} needs a value`;
    }
    default:
      return err.message ?? String(e);
  }
}
