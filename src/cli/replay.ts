// `xctl-exporter replay FILE|-`: feeds a recorded event file through the graph and the
// diagnosis exactly as a live source would, then prints the final exposition on
// stdout and a summary on stderr. This is the benchmark path, so the file is read
// synchronously in large chunks into one reused buffer, straight into one framed input.
import { defineCommand } from "citty";
import { closeSync, openSync, readSync } from "node:fs";
import { Exporter } from "../exporter.ts";
import { REJECT_REASONS } from "../events/schema.ts";
import { createLogger, LOG_LEVELS, type LogLevelName } from "../log.ts";
import { UsageError } from "./errors.ts";
import { RULE_FLAGS, resolveRuleConfig } from "./rules.ts";
import { cittyArgs, parseFlags, type FlagDefs } from "./flags.ts";
import { parseChoice, parseDuration, parseInteger, parseSize } from "./parse-values.ts";

export const REPLAY_FLAGS: FlagDefs = {
  "error-window": { type: "string", default: "5m", description: "How long an error node lives after its last event", valueHint: "duration" },
  "max-nodes": { type: "string", default: "100000", description: "Bound on graph nodes", valueHint: "n" },
  "resource-ttl": { type: "string", default: "0s", description: "Drop resources not updated for this long (0s keeps them)", valueHint: "duration" },
  "max-line-bytes": { type: "string", default: "64KiB", description: "Longest accepted event line", valueHint: "size" },
  ...RULE_FLAGS,
  "log-level": { type: "string", default: "warn", description: "silent, error, warn, info, debug or trace", valueHint: "level" },
};

const CHUNK_BYTES = 1024 * 1024;

export interface ReplaySummary {
  accepted: number;
  rejected: Map<string, number>;
  seconds: number;
}

export async function runReplay(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(REPLAY_FLAGS, argv);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "replay: give an event file, or - for standard input" : `replay: unexpected argument "${positionals[1]}"`);
  }
  const file = positionals[0];
  // A bad rule file stops replay before it reads anything, as it stops serve.
  const diagnosis = resolveRuleConfig(values);
  const exporter = new Exporter({
    rules: diagnosis.rules,
    diagnosisIntervalMs: diagnosis.diagnosisIntervalMs,
    sceneSettleMs: diagnosis.sceneSettleMs,
    log: createLogger(parseChoice("log-level", values["log-level"] as string, Object.keys(LOG_LEVELS) as LogLevelName[])),
    errorWindowMs: parseDuration("error-window", values["error-window"] as string),
    maxNodes: parseInteger("max-nodes", values["max-nodes"] as string, 100, 100_000_000),
    resourceTtlMs: parseDuration("resource-ttl", values["resource-ttl"] as string),
    maxLineBytes: parseSize("max-line-bytes", values["max-line-bytes"] as string),
    processMetrics: false,
    liveClock: false,
    // Only the final run is read; the runs on the way only count.
    describeAutoRuns: false,
  });

  const started = performance.now();
  await replayInto(exporter, file);
  // What a live exporter shows a moment after the stream ends: its wall-clock cleanup would
  // have removed exited processes and expired errors by then.
  exporter.graph.cleanup(Date.now());
  // During the replay the engine ran by event time; one last run concludes on the final graph.
  const final = exporter.engine.runNow("replay");
  const seconds = (performance.now() - started) / 1000;

  await _write(process.stdout, await exporter.metrics.render());
  const rejected = new Map<string, number>();
  REJECT_REASONS.forEach((r, i) => {
    if (exporter.counters.rejected[i] > 0) rejected.set(r, exporter.counters.rejected[i]);
  });
  const scenes = final.matches.map((m) => m.scene);
  await _write(
    process.stderr,
    `replay: ${_n(exporter.diagnosis.runs)} diagnosis runs; final: ${final.scene ?? "no scene"}` +
      (scenes.length > 1 ? ` (matching: ${scenes.join(", ")})` : "") +
      "\n",
  );
  await _write(process.stderr, formatSummary({ accepted: exporter.counters.accepted, rejected, seconds }) + "\n");
}

/** Reads `file` ("-": standard input) to the end into the exporter as one source. */
export async function replayInto(exporter: Exporter, file: string): Promise<void> {
  const input = exporter.lineInput("replay");
  let fd: number;
  try {
    fd = file === "-" ? 0 : openSync(file, "r");
  } catch (e) {
    throw new Error(`cannot read ${file}: ${_reason(e)}`);
  }
  const buf = new Uint8Array(CHUNK_BYTES);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // A non-blocking standard input (a terminal, some pipes) cannot be read synchronously.
        if (fd === 0 && (e as { code?: string }).code === "EAGAIN") {
          for await (const chunk of process.stdin) input.push(chunk as Uint8Array);
          break;
        }
        throw new Error(`cannot read ${file}: ${_reason(e)}`);
      }
      if (n === 0) break;
      input.push(buf.subarray(0, n));
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  input.end();
}

export function formatSummary(s: ReplaySummary): string {
  const total = [...s.rejected.values()].reduce((a, b) => a + b, 0);
  const reasons = [...s.rejected].map(([r, n]) => `${r} ${_n(n)}`).join(", ");
  const rate = s.seconds > 0 ? Math.round(s.accepted / s.seconds) : 0;
  return (
    `replay: ${_n(s.accepted)} events accepted, ${_n(total)} rejected${total > 0 ? ` (${reasons})` : ""}` +
    ` in ${s.seconds.toFixed(3)} s: ${_n(rate)} events/s`
  );
}

function _n(n: number): string {
  return n.toLocaleString("en-US");
}

function _reason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return (e as Error).message ?? String(e);
}

/** Resolves once the text is handed to the OS, so exiting right after loses nothing. */
function _write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));
}

export const replayCommand = defineCommand({
  meta: { name: "replay", description: "Feed a recorded event file through the graph; print the final exposition and a summary" },
  args: { ...cittyArgs(REPLAY_FLAGS), file: { type: "positional" as const, description: "Event file (NDJSON), or - for standard input", required: false } },
  run: ({ rawArgs }) => runReplay(rawArgs),
});
