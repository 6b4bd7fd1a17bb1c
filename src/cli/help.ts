// --help, `help [COMMAND]` and `version`: one help per command, rendered from the same flag
// tables that parse the flags, wrapped to the terminal's width (80 columns when not a
// terminal), bold headings only on a terminal without NO_COLOR.
import { arch, platform } from "node:os";
import { runtimeName, runtimeVersion } from "../runtime-name.ts";
import { VERSION } from "../version.ts";
import { envName, type FlagDefs } from "./flags.ts";
import { isTerminal } from "../stdio.ts";

export interface CommandHelp {
  name: string;
  usage: string;
  description: string;
  flags: FlagDefs;
  /** Extra paragraphs after the flags. */
  notes?: string[];
}

export interface HelpStyle {
  width: number;
  colour: boolean;
}

export function terminalStyle(env: Record<string, string | undefined> = process.env): HelpStyle {
  const tty = isTerminal(1);
  const cols = tty ? (process.stdout.columns ?? 80) : 80;
  return { width: Math.max(40, Math.min(cols, 120)), colour: tty && !env.NO_COLOR && env.TERM !== "dumb" };
}

/** Words of `text` in lines of at most `width`, each after `indent` spaces (the first after `first`). */
export function wrap(text: string, width: number, indent: number, first = ""): string {
  // A word too long for a line (a comma-separated list) may break after its commas: its
  // pieces join without a space when they share a line.
  const room = Math.max(10, width - indent);
  const pieces: { text: string; glue: boolean }[] = [];
  for (const w of text.split(/\s+/).filter(Boolean)) {
    const parts = w.length > room ? w.split(/(?<=,)/) : [w];
    parts.forEach((p, i) => pieces.push({ text: p, glue: i > 0 }));
  }
  const lines: string[] = [];
  let line = first.padEnd(indent);
  let empty = true;
  for (const { text: word, glue } of pieces) {
    const sep = empty || glue ? "" : " ";
    if (!empty && line.length + sep.length + word.length > width) {
      lines.push(line.trimEnd());
      line = " ".repeat(indent);
      empty = true;
    }
    line += (empty ? "" : sep) + word;
    empty = false;
  }
  lines.push(line.trimEnd());
  return lines.join("\n");
}

function _bold(s: string, style: HelpStyle): string {
  return style.colour ? `\x1b[1m${s}\x1b[22m` : s;
}

/** The flags of a table as help lines. */
export function flagLines(flags: FlagDefs, style: HelpStyle): string[] {
  const rows = Object.entries(flags).map(([name, def]) => {
    const value = def.type === "string" ? ` ${(def.valueHint ?? "value").toUpperCase()}` : "";
    const left = `${def.short ? `-${def.short}, ` : "    "}--${name}${value}`;
    const env = envName(name, def);
    const dflt = def.type === "string" && def.default !== undefined && def.default !== "" ? ` (default ${def.default})` : "";
    return [left, `${def.description}${dflt}${env ? ` [${env}]` : ""}`];
  });
  const col = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 4);
  return rows.map(([left, text]) => (left.length + 2 > col ? `  ${left}\n${wrap(text, style.width, col + 2)}` : wrap(text, style.width, col + 2, `  ${left}`)));
}

export function renderHelp(cmd: CommandHelp, style: HelpStyle): string {
  const out = [`${_bold("Usage:", style)} ${cmd.usage}`, "", wrap(cmd.description, style.width, 0)];
  if (Object.keys(cmd.flags).length > 0) out.push("", _bold("Flags:", style), ...flagLines(cmd.flags, style));
  for (const n of cmd.notes ?? []) out.push("", wrap(n, style.width, 0));
  return out.join("\n") + "\n";
}

export function renderRootHelp(commands: readonly Pick<CommandHelp, "name" | "description">[], serve: CommandHelp, style: HelpStyle): string {
  const out = [
    `${_bold("Usage:", style)} xctl-exporter [serve] [FLAGS]      run the exporter (the default command)`,
    `       xctl-exporter COMMAND [ARGS] [FLAGS]`,
    "",
    wrap("Prometheus exporter for the causal diagnosis graph of AI compute hosts.", style.width, 0),
    "",
    _bold("Commands:", style),
  ];
  const col = Math.max(...commands.map((c) => c.name.length)) + 4;
  for (const c of commands) out.push(wrap(c.description, style.width, col + 2, `  ${c.name}`));
  out.push("", _bold("Flags of serve:", style), ...flagLines(serve.flags, style));
  out.push("", wrap("`xctl-exporter help COMMAND` or `xctl-exporter COMMAND --help` shows one command's flags. A flag with an [XCTL_*] variable can also be set by it; a flag on the command line wins.", style.width, 0));
  return out.join("\n") + "\n";
}

/** `version`: the version, then the runtime and how this program was built. */
export function versionText(): string {
  const compiled = import.meta.url.includes("$bunfs") || import.meta.url.includes("~BUN");
  return [
    VERSION,
    `  runtime: ${runtimeName} ${runtimeVersion} on ${platform()}/${arch()}`,
    `  build:   ${compiled ? "single-file executable (bun build --compile)" : `from source (${import.meta.url.replace(/\/cli\/help\.[jt]s$/, "")})`}`,
  ].join("\n") + "\n";
}
