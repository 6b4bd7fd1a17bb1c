// consola, configured once from --log-level and --log-format. JSON logs are one object per
// line on stderr, for journald and log shippers.
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola";

export const LOG_LEVELS = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;
export type LogFormat = "pretty" | "json";

const _jsonReporter: ConsolaReporter = {
  log(obj: LogObject) {
    const [first, ...rest] = obj.args;
    const line: Record<string, unknown> = {
      time: obj.date.toISOString(),
      level: obj.type,
      msg: first instanceof Error ? first.message : String(first ?? ""),
    };
    if (obj.tag) line.tag = obj.tag;
    for (const extra of rest) {
      if (extra && typeof extra === "object" && !(extra instanceof Error)) Object.assign(line, extra);
      else if (extra !== undefined) line.detail = extra instanceof Error ? extra.message : String(extra);
    }
    process.stderr.write(JSON.stringify(line) + "\n");
  },
};

export function createLogger(level: LogLevelName = "info", format: LogFormat = "pretty"): ConsolaInstance {
  return createConsola({
    level: LOG_LEVELS[level],
    ...(format === "json" ? { reporters: [_jsonReporter] } : { fancy: false, formatOptions: { date: true, colors: false } }),
    stdout: process.stderr,
    stderr: process.stderr,
  });
}
