// --watch for the client commands: redraw every --interval until Ctrl-C (exit 0) or --count
// frames. On a terminal each frame replaces the last; piped, frames follow each other with a
// header line, except JSON: piped, each frame is one JSON document and nothing else, so `jq`
// reads the stream. A failed fetch shows in the frame (piped JSON: on stderr) and the watch goes on.
import { XctlError } from "../errors.ts";
import type { FlagDefs, FlagValues } from "./flags.ts";
import { parseDuration, parseInteger } from "./parse-values.ts";
import { flagLabel, flagSource } from "./flags.ts";
import { isTerminal, writeErr, writeOut } from "../stdio.ts";

export const WATCH_FLAGS: FlagDefs = {
  watch: { type: "boolean", short: "w", default: false, description: "Redraw every --interval until Ctrl-C", env: false },
  interval: { type: "string", default: "2s", description: "Time between redraws with --watch", valueHint: "duration", env: false },
  count: { type: "string", default: "0", description: "With --watch, stop after this many redraws (0: until Ctrl-C)", valueHint: "n", env: false },
};

/** Writes `frame()` once, or with --watch again and again; `json`: each frame is a JSON document. */
export async function watchLoop(v: FlagValues, frame: () => Promise<string>, opts: { json?: boolean } = {}): Promise<void> {
  // Checked whether or not --watch is given: a bad value is a usage error, never ignored.
  const intervalMs = parseDuration(flagLabel(v, "interval"), v.interval as string);
  if (intervalMs < 100) throw new XctlError(`${flagLabel(v, "interval")}: "${v.interval}" is too short (at least 100ms)`, 2);
  const count = parseInteger(flagLabel(v, "count"), v.count as string, 0, 1_000_000_000);
  if (v.watch !== true) {
    // Given without --watch they would do nothing: one frame printed as if they had.
    for (const name of ["count", "interval"]) {
      if (flagSource(v, name) === "flag") throw new XctlError(`${flagLabel(v, name)} redraws only with --watch (-w): add -w, or leave ${flagLabel(v, name)} out`, 2);
    }
    writeOut(await frame());
    return;
  }
  const tty = isTerminal(1);
  const bare = opts.json === true && !tty;
  let stop = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (let n = 1; !stop; n++) {
      let text: string | undefined;
      try {
        text = await frame();
      } catch (e) {
        if (e instanceof XctlError && e.exitCode === 2) throw e;
        const msg = `xctl-exporter: ${(e as Error).message}\n`;
        if (bare) writeErr(msg);
        else text = msg;
      }
      if (stop) break;
      const header = `Every ${v.interval}: ${new Date().toISOString()}\n\n`;
      // (text is undefined when piped JSON's failure went to stderr)
      if (text !== undefined) writeOut(bare ? text : tty ? `\x1b[H\x1b[2J${header}${text}` : `${n > 1 ? "\n" : ""}${header}${text}`);
      if (count > 0 && n >= count) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
