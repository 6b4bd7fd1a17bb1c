// Ingest: `replay FILE` against the parse floor on the same runtime, run alternately so both
// see the same machine. Times are of the whole process (start to exit, GNU time), so the
// exporter's start-up counts against it; peak memory is GNU time's maximum resident size.
import type { Shape } from "./gen.ts";
import { exporterArgv, median, sample, scriptArgv, timed, type Target, type Timed } from "./util.ts";

export interface IngestRun {
  floor: Timed;
  replay: Timed;
  /** The replay's own measure, start of reading to end of the last event (its summary line). */
  replayInnerS: number;
}

export interface IngestResult {
  target: Target;
  /** The event file's placement (gen.ts); absent: jobs. */
  shape?: Shape;
  events: number;
  runs: IngestRun[];
  /** Medians over runs. */
  floorWallS: number;
  replayWallS: number;
  floorCpuS: number;
  replayCpuS: number;
  replayInnerS: number;
  /** Median of the per-run ratios replay / floor (wall and CPU). */
  ratioWall: number;
  ratioCpu: number;
  peakRssBytes: number;
  floorPeakRssBytes: number;
  /** The graph the replay ended with (from its exposition). */
  graph: GraphFigures;
}

export interface GraphFigures {
  events: number;
  processes: number;
  resources: number;
  errors: number;
  consumes: number;
  waitsOn: number;
  blockedBy: number;
  edges: number;
}

export function graphFigures(exposition: string): GraphFigures {
  const consumes = sample(exposition, "xctl_consumes_edges");
  const waitsOn = sample(exposition, "xctl_waitson_edges");
  const blockedBy = sample(exposition, "xctl_blockedby_edges");
  return {
    events: sample(exposition, "xctl_events_total"),
    processes: sample(exposition, "xctl_active_processes"),
    resources: sample(exposition, "xctl_active_resources"),
    errors: sample(exposition, "xctl_error_nodes"),
    consumes,
    waitsOn,
    blockedBy,
    edges: consumes + waitsOn + blockedBy,
  };
}

export async function benchIngest(target: Target, file: string, events: number, runs: number): Promise<IngestResult> {
  const out: IngestRun[] = [];
  let exposition = "";
  // One untimed run of each first: the file and both programs are then in the page cache
  // for every timed run, not only for the later ones.
  await timed([...scriptArgv(target, "scripts/bench/floor.ts"), file]);
  await timed([...exporterArgv(target), "replay", file]);
  for (let i = 0; i < runs; i++) {
    const floor = await timed([...scriptArgv(target, "scripts/bench/floor.ts"), file]);
    const f = JSON.parse(floor.stdout.trim().split("\n").pop()!) as { events: number };
    if (f.events !== events) throw new Error(`floor on ${target} counted ${f.events} events, expected ${events}`);
    const replay = await timed([...exporterArgv(target), "replay", file]);
    exposition = replay.stdout;
    const m = /events accepted.* in ([\d.]+) s/.exec(replay.stderr);
    const accepted = sample(exposition, "xctl_events_total");
    if (accepted !== events) throw new Error(`replay on ${target} accepted ${accepted} events, expected ${events}`);
    out.push({ floor, replay, replayInnerS: m ? Number(m[1]) : NaN });
  }
  const cpu = (t: Timed) => t.userS + t.sysS;
  return {
    target,
    events,
    runs: out,
    floorWallS: median(out.map((r) => r.floor.wallS)),
    replayWallS: median(out.map((r) => r.replay.wallS)),
    floorCpuS: median(out.map((r) => cpu(r.floor))),
    replayCpuS: median(out.map((r) => cpu(r.replay))),
    replayInnerS: median(out.map((r) => r.replayInnerS)),
    ratioWall: median(out.map((r) => r.replay.wallS / r.floor.wallS)),
    ratioCpu: median(out.map((r) => cpu(r.replay) / cpu(r.floor))),
    peakRssBytes: Math.max(...out.map((r) => r.replay.maxRssBytes)),
    floorPeakRssBytes: Math.max(...out.map((r) => r.floor.maxRssBytes)),
    graph: graphFigures(exposition),
  };
}
