// `xctl-exporter replay FILE|-`: feeds a recorded event file (plain or gzip) through the graph
// and the diagnosis exactly as a live source would, then prints the final exposition on
// stdout and a summary on stderr (or, with --json, a summary with the timeline of scenes on
// stdout). Rejected lines are warned with their line number; it exits 1 when no event was
// accepted, 2 when the file cannot be opened. This is the benchmark path, so the file is read
// synchronously in large chunks into one reused buffer, straight into one framed input.
import { defineCommand } from "citty";
import { statSync } from "node:fs";
import { Exporter } from "../exporter.ts";
import { REJECT_REASONS } from "../events/schema.ts";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogLevelName } from "../log.ts";
import { UsageError, XctlError } from "./errors.ts";
import { Queries } from "../query/queries.ts";
import { VERSION } from "../version.ts";
import { escapeControl } from "../escape.ts";
import { isTerminal, writeErr, writeOut } from "../stdio.ts";
import { LineLocator, Progress, readInto } from "./replay-input.ts";
import { SceneTimeline } from "./replay-timeline.ts";
import { RULE_FLAGS } from "./rule-flags.ts";
import { resolveRuleConfig } from "./rules.ts";
import { cittyArgs, flagLabel, parseFlags, type FlagDefs } from "./flags.ts";
import { GRAPH_FLAGS, INGEST_FLAGS, resolveGraphConfig, resolveIngestConfig } from "./graph-flags.ts";
import { parseChoice } from "./parse-values.ts";

export const REPLAY_FLAGS: FlagDefs = {
  ...GRAPH_FLAGS,
  ...INGEST_FLAGS,
  ...RULE_FLAGS,
  "log-level": { type: "string", default: "warn", description: "silent, error, warn, info, debug or trace", valueHint: "level" },
  "log-format": { type: "string", default: "pretty", description: "pretty, logfmt or json (warnings on stderr: rejected lines, rule warnings)", valueHint: "format" },
  json: { type: "boolean", default: false, description: "Print a JSON summary on stdout (counts, the timeline of scenes by event time) instead of the exposition", env: false },
};

export interface ReplaySummary {
  accepted: number;
  rejected: Map<string, number>;
  seconds: number;
}

/** Rejections named one by one with their line; past this, one line says how many more. */
const MAX_WARNINGS = 20;

export async function runReplay(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(REPLAY_FLAGS, argv);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "replay: give an event file, or - for standard input" : `replay: unexpected argument "${positionals[1]}"`);
  }
  const file = positionals[0];
  // A bad rule file stops replay before it reads anything, as it stops serve.
  const diagnosis = resolveRuleConfig(values);
  const logLevel = parseChoice(flagLabel(values, "log-level"), values["log-level"] as string, Object.keys(LOG_LEVELS) as LogLevelName[]);
  const log = createLogger(logLevel, parseChoice(flagLabel(values, "log-format"), values["log-format"] as string, LOG_FORMATS));
  // What would not stop the rules from loading (a rule without solution steps, a condition that
  // can never hold) is said, as serve says it at start-up.
  for (const w of diagnosis.warnings) log.warn(w);
  const graph = resolveGraphConfig(values);
  const ingest = resolveIngestConfig(values);
  const exporter = new Exporter({
    rules: diagnosis.rules,
    diagnosisIntervalMs: diagnosis.diagnosisIntervalMs,
    sceneSettleMs: diagnosis.sceneSettleMs,
    // Rejections are reported here, with their line numbers.
    log: createLogger("silent"),
    ...graph,
    ...ingest,
    processMetrics: false,
    liveClock: false,
    // Only the final run is read; the runs on the way only count.
    describeAutoRuns: false,
    // Nobody asks a replay `why`: no last answers of the processes that leave.
    keepEnded: false,
  });
  const queries = new Queries(exporter, VERSION);
  const timeline = new SceneTimeline();
  const unwatch = queries.onSceneChange((c) => timeline.add(c));

  const locator = new LineLocator(ingest.maxLineBytes);
  let warned = 0;
  // Where the event the stream clock holds back is, marked while its chunk is being read: it is
  // confirmed or rejected only when a later line (perhaps in a later chunk) is read, and its
  // line number is counted only if it is rejected.
  let heldLine: () => number = () => 0;
  const input = exporter.ingest.feed("replay", {
    streamClock: true,
    onHold: (sample) => {
      heldLine = locator.mark(sample);
    },
    onReject: (reason, sample, late) => {
      const line = late !== undefined ? heldLine() : locator.locate(reason, sample);
      if (warned++ < MAX_WARNINGS) {
        const detail = late ?? exporter.ingest.describe(reason, sample);
        log.warn(`${_shown(file)}:${line}: rejected: ${escapeControl(detail)}${sample ? `: ${escapeControl(sample.slice(0, 120))}` : ""}`);
      }
    },
  });
  const started = performance.now();
  const progress = isTerminal(2) && logLevel !== "silent" && values.json !== true ? new Progress(_sizeOf(file)) : undefined;
  const read = await readInto(file, input, locator, progress);
  if (warned > MAX_WARNINGS) log.warn(`${_shown(file)}: ${(warned - MAX_WARNINGS).toLocaleString("en-US")} more rejected lines not shown`);
  // What a live exporter shows a moment after the stream ends: its wall-clock cleanup would
  // have removed exited processes and expired errors by then.
  exporter.cleanup(Date.now());
  // During the replay the engine ran by event time; one last run concludes on the final graph.
  // A scene it makes active (the end of a file shorter than the debounce) is in the timeline,
  // as in xctl_scene_active; the timeline ends with it: a scene still active stays open.
  const final = queries.runNow("replay");
  unwatch();
  const seconds = (performance.now() - started) / 1000;

  const rejected = new Map<string, number>();
  for (const r of REJECT_REASONS) {
    const n = exporter.ingest.rejected(r);
    if (n > 0) rejected.set(r, n);
  }
  const accepted = exporter.ingest.accepted;
  const scenes = final.matches.map((m) => m.scene);
  if (values.json === true) {
    const summary = {
      file: _shown(file),
      gzip: read.gzip,
      bytes: read.bytes,
      lines: read.lines,
      accepted,
      rejected: Object.fromEntries(rejected),
      seconds: Math.round(seconds * 1000) / 1000,
      diagnosis_runs: queries.diagnosisRuns,
      final_scene: final.scene,
      matching: scenes,
      timeline: timeline.entries(),
    };
    writeOut(JSON.stringify(summary, null, 2) + "\n");
  } else {
    writeOut(await exporter.metrics.render());
    writeErr(
      `replay: ${_count(queries.diagnosisRuns, "diagnosis run")}; final: ${final.scene ?? "no scene"}` +
        (scenes.length > 1 ? ` (matching: ${scenes.join(", ")})` : "") +
        "\n",
    );
    writeErr(formatSummary({ accepted, rejected, seconds }) + "\n");
  }
  if (accepted === 0) {
    const total = [...rejected.values()].reduce((a, b) => a + b, 0);
    throw new XctlError(`replay: no event accepted from ${_shown(file)}${total > 0 ? ` (${_count(total, "line")} rejected)` : " (it holds no event)"}`, 1);
  }
}

function _sizeOf(file: string): number {
  try {
    return file === "-" ? 0 : statSync(file).size;
  } catch {
    return 0;
  }
}

function _shown(file: string): string {
  return file === "-" ? "<stdin>" : file;
}

export function formatSummary(s: ReplaySummary): string {
  const total = [...s.rejected.values()].reduce((a, b) => a + b, 0);
  const reasons = [...s.rejected].map(([r, n]) => `${r} ${_n(n)}`).join(", ");
  const rate = s.seconds > 0 ? Math.round(s.accepted / s.seconds) : 0;
  return (
    `replay: ${_count(s.accepted, "event")} accepted, ${_n(total)} rejected${total > 0 ? ` (${reasons})` : ""}` +
    ` in ${s.seconds.toFixed(3)} s: ${_n(rate)} events/s`
  );
}

function _n(n: number): string {
  return n.toLocaleString("en-US");
}

/** `1 event`, `2,000 events`. */
function _count(n: number, one: string): string {
  return `${_n(n)} ${n === 1 ? one : `${one}s`}`;
}

export const replayCommand = defineCommand({
  meta: { name: "replay", description: "Feed a recorded event file through the graph; print the final exposition and a summary" },
  args: { ...cittyArgs(REPLAY_FLAGS), file: { type: "positional" as const, description: "Event file (NDJSON), or - for standard input", required: false } },
  run: ({ rawArgs }) => runReplay(rawArgs),
});
