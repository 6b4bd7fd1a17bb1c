// `xctl-exporter replay FILE|-`, once its flags hold (replay.ts): feeds a recorded event file
// (plain or gzip) through the graph and the diagnosis exactly as a live source would, then
// prints the final exposition on stdout and a summary on stderr (or, with --json, a summary with
// the timeline of scenes on stdout). Rejected lines are warned with their line number; it exits
// 1 when no event was accepted, 2 when the file cannot be opened. This is the benchmark path, so
// the file is read synchronously in large chunks into one reused buffer, straight into one
// framed input.
import { statSync } from "node:fs";
import { Exporter } from "../exporter.ts";
import { REJECT_REASONS } from "../events/schema.ts";
import { createLogger, type LogFormat, type LogLevelName } from "../log.ts";
import { XctlError } from "./errors.ts";
import { Queries } from "../query/queries.ts";
import { VERSION } from "../version.ts";
import { escapeControl } from "../escape.ts";
import { isTerminal, writeErr, writeOut } from "../stdio.ts";
import { LineLocator, Progress, readInto } from "./replay-input.ts";
import { SceneTimeline } from "./replay-timeline.ts";
import type { RuleFlags } from "./rule-flags.ts";
import { loadRules } from "./rules.ts";
import type { GraphConfig, IngestConfig } from "./graph-flags.ts";

export interface ReplaySummary {
  accepted: number;
  rejected: Map<string, number>;
  seconds: number;
}

/** Rejections named one by one with their line; past this, one line says how many more. */
const MAX_WARNINGS = 20;

/** What replay knows once its flags are read (replay.ts), before anything else is loaded. */
export interface ReplayStart {
  file: string;
  json: boolean;
  logLevel: LogLevelName;
  logFormat: LogFormat;
  rules: RuleFlags;
  graph: GraphConfig;
  ingest: IngestConfig;
}

export async function replayFile({ file, json, logLevel, logFormat, rules, graph, ingest }: ReplayStart): Promise<void> {
  // A bad rule file stops replay before it reads anything, as it stops serve.
  const diagnosis = loadRules(rules);
  const log = createLogger(logLevel, logFormat);
  // What would not stop the rules from loading (a rule without solution steps, a condition that
  // can never hold) is said, as serve says it at start-up.
  for (const w of diagnosis.warnings) log.warn(w);
  const exporter = new Exporter({
    rules: diagnosis.rules,
    diagnosisIntervalMs: rules.diagnosisIntervalMs,
    sceneSettleMs: rules.sceneSettleMs,
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
  const progress = isTerminal(2) && logLevel !== "silent" && !json ? new Progress(_sizeOf(file)) : undefined;
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
  if (json) {
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
