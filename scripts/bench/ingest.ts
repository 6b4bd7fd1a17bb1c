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
  /** Extra replay flags (`--no-default-rules`); absent: none. */
  args?: string[];
  /** JIT compile work of one more run of each, on Bun (absent on V8 runtimes). */
  jit?: { replay: JitWork; floor: JitWork };
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

/** What JavaScriptCore's JIT compiled in one run: compiles and milliseconds, per tier. */
export interface JitWork {
  compiles: number;
  ms: number;
  tiers: Record<string, { compiles: number; ms: number }>;
}

/** Sums JavaScriptCore's compile report (`BUN_JSC_reportCompileTimes`) from a run's stderr. */
export function jitWork(stderr: string): JitWork {
  const work: JitWork = { compiles: 0, ms: 0, tiers: {} };
  for (const m of stderr.matchAll(/^Optimized .* using (\w+) with .* in ([\d.]+) ms/gm)) {
    const t = (work.tiers[m[1]] ??= { compiles: 0, ms: 0 });
    const ms = Number(m[2]);
    t.compiles++;
    t.ms += ms;
    work.compiles++;
    work.ms += ms;
  }
  return work;
}

/**
 * `replay FILE` against the floor, alternately, `runs` times. With `jit` (a target on Bun), one
 * more untimed run of each reports what the JIT compiled: the work a short process pays and a
 * long-running exporter pays once.
 */
export async function benchIngest(target: Target, file: string, events: number, runs: number, opts: { args?: string[]; jit?: boolean } = {}): Promise<IngestResult> {
  const out: IngestRun[] = [];
  const args = opts.args ?? [];
  const floorArgv = [...scriptArgv(target, "scripts/bench/floor.ts"), file];
  const replayArgv = [...exporterArgv(target), "replay", ...args, file];
  let exposition = "";
  // One untimed run of each first: the file and both programs are then in the page cache
  // for every timed run, not only for the later ones.
  await timed(floorArgv);
  await timed(replayArgv);
  for (let i = 0; i < runs; i++) {
    const floor = await timed(floorArgv);
    const f = JSON.parse(floor.stdout.trim().split("\n").pop()!) as { events: number };
    if (f.events !== events) throw new Error(`floor on ${target} counted ${f.events} events, expected ${events}`);
    const replay = await timed(replayArgv);
    exposition = replay.stdout;
    const m = /events accepted.* in ([\d.]+) s/.exec(replay.stderr);
    const accepted = sample(exposition, "xctl_events_total");
    if (accepted !== events) throw new Error(`replay on ${target} accepted ${accepted} events, expected ${events}`);
    out.push({ floor, replay, replayInnerS: m ? Number(m[1]) : NaN });
  }
  const cpu = (t: Timed) => t.userS + t.sysS;
  let jit: IngestResult["jit"];
  if (opts.jit) {
    const report = { BUN_JSC_reportCompileTimes: "1" };
    jit = { replay: jitWork((await timed(replayArgv, report)).stderr), floor: jitWork((await timed(floorArgv, report)).stderr) };
    if (jit.replay.compiles === 0) throw new Error(`${replayArgv[0]} reported no JIT compiles: not JavaScriptCore?`);
  }
  return {
    target,
    ...(args.length > 0 ? { args } : {}),
    ...(jit ? { jit } : {}),
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
