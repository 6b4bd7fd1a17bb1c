// consola, configured once from --log-level and --log-format, writing to stderr:
//   pretty  `2026-12-01T14:15:00.123Z info  [tag] message key=value`, the level coloured only
//           on a terminal without NO_COLOR;
//   logfmt  as node_exporter writes it: `ts=... level=info msg="..." key=value`;
//   json    one object per line: {"time","level","msg",...}, for journald and log shippers.
// Extra fields come as objects after the message: log.info("scene active", { scene: "x" }).
// Every value is escaped, so text from events cannot forge a line.
// consola/core: the package root also builds a default instance and probes the terminal when
// it loads, which costs a CLI start more than all its own work.
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola/core";
import { escapeControl } from "./escape.ts";
import { isTerminal, writeErr } from "./stdio.ts";

export const LOG_LEVELS = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;
export const LOG_FORMATS = ["pretty", "logfmt", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

type _Fields = Record<string, unknown>;

/** consola's types to the level words the formats print. */
function _level(type: string): string {
  switch (type) {
    case "fatal":
    case "error":
      return "error";
    case "warn":
      return "warn";
    case "debug":
      return "debug";
    case "trace":
    case "verbose":
      return "trace";
    default:
      return "info";
  }
}

/** The message and the fields of one call. */
function _split(obj: LogObject): { msg: string; fields: _Fields } {
  const [first, ...rest] = obj.args;
  const fields: _Fields = {};
  const extra: string[] = [];
  for (const x of rest) {
    if (x && typeof x === "object" && !(x instanceof Error) && !Array.isArray(x)) Object.assign(fields, x);
    else if (x !== undefined) extra.push(x instanceof Error ? x.message : String(x));
  }
  let msg = first instanceof Error ? first.message : typeof first === "string" ? first : first === undefined ? "" : JSON.stringify(first);
  if (extra.length > 0) msg += " " + extra.join(" ");
  return { msg, fields };
}

const _jsonReporter: ConsolaReporter = {
  log(obj: LogObject) {
    const { msg, fields } = _split(obj);
    const line: _Fields = { time: obj.date.toISOString(), level: _level(obj.type), msg };
    if (obj.tag) line.source = obj.tag;
    Object.assign(line, fields);
    writeErr(JSON.stringify(line) + "\n");
  },
};

/** One logfmt value: bare when it can be, else quoted with `"` and `\` escaped, controls made visible. */
export function logfmtValue(v: unknown): string {
  const s = escapeControl(Array.isArray(v) ? v.join(",") : v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));
  return s !== "" && /^[^\s"=\\]+$/.test(s) ? s : `"${s.replace(/["\\]/g, (c) => "\\" + c)}"`;
}

function _pairs(fields: _Fields): string {
  let out = "";
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out += ` ${k.replace(/[^\w.-]/g, "_")}=${logfmtValue(v)}`;
  return out;
}

const _logfmtReporter: ConsolaReporter = {
  log(obj: LogObject) {
    const { msg, fields } = _split(obj);
    const source = obj.tag ? ` source=${logfmtValue(obj.tag)}` : "";
    writeErr(`ts=${obj.date.toISOString()} level=${_level(obj.type)}${source} msg=${logfmtValue(msg)}${_pairs(fields)}\n`);
  },
};

const _COLOURS: Record<string, string> = { error: "31", warn: "33", info: "36", debug: "90", trace: "90" };

function _prettyReporter(colour: boolean): ConsolaReporter {
  return {
    log(obj: LogObject) {
      const { msg, fields } = _split(obj);
      const level = _level(obj.type);
      const word = level.padEnd(5);
      const shown = colour ? `\x1b[${_COLOURS[level]}m${word}\x1b[0m` : word;
      const tag = obj.tag ? `[${escapeControl(obj.tag)}] ` : "";
      writeErr(`${obj.date.toISOString()} ${shown} ${tag}${escapeControl(msg)}${_pairs(fields)}\n`);
    },
  };
}

/** Colour on stderr only for a terminal, and never with NO_COLOR set (https://no-color.org). */
export function stderrColour(env: Record<string, string | undefined> = process.env): boolean {
  return isTerminal(2) && !env.NO_COLOR && env.TERM !== "dumb";
}

export function createLogger(level: LogLevelName = "info", format: LogFormat = "pretty"): ConsolaInstance {
  const reporter = format === "json" ? _jsonReporter : format === "logfmt" ? _logfmtReporter : _prettyReporter(stderrColour());
  return createConsola({ level: LOG_LEVELS[level], reporters: [reporter] });
}

let _current: ConsolaInstance | undefined;

/**
 * The service's logger, for a structured format: the error that stops the process goes
 * through it too, as one logfmt or JSON line. In the pretty format the fatal line stays
 * `xctl-exporter: ...`, the same line every command prints for a usage error.
 */
export function setProcessLogger(log: ConsolaInstance, format: LogFormat): void {
  _current = format === "pretty" ? undefined : log;
}

/** The logger set by setProcessLogger, if any. */
export function currentLogger(): ConsolaInstance | undefined {
  return _current;
}
