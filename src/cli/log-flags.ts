// The values of the log flags serve and replay share (--log-level, --log-format): read first,
// so that a bad value of any other flag is said in the chosen format.
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevelName } from "../log.ts";
import { flagLabel, type FlagValues } from "./flags.ts";
import { parseChoice } from "./parse-values.ts";

export function resolveLogFlags(v: FlagValues): { level: LogLevelName; format: LogFormat } {
  const format = parseChoice(flagLabel(v, "log-format"), v["log-format"] as string, LOG_FORMATS);
  return { level: parseChoice(flagLabel(v, "log-level"), v["log-level"] as string, Object.keys(LOG_LEVELS) as LogLevelName[]), format };
}
