// The query layer: every question the HTTP API, the landing page and the CLI ask of the live
// state, answered from the graph, the diagnosis and the source states. Routes and commands
// use this and nothing beneath it. `QueryInputs` is what the composition root hands over.
import type { DiagnosisEngine, DiagnosisResult } from "../diagnosis/engine.ts";
import { namedProcesses, type SceneMatch } from "../diagnosis/evidence.ts";
import type { Rule } from "../diagnosis/rule.ts";
import type { ReloadOutcome, RulesReloadState } from "../diagnosis/rules-reload.ts";
import type { RejectReason } from "../events/schema.ts";
import type { StateGraph } from "../graph/graph.ts";
import type { ProcessNode } from "../graph/nodes.ts";
import type { DiagnosisState } from "../diagnosis/state.ts";
import type { ProbeState } from "../metrics/registry.ts";
import { graphDot } from "./dot.ts";
import { graphView, type GraphJson } from "./graph-view.ts";
import { DEFAULT_VIEW_LIMIT, processRows, type ProcessList } from "./processes.ts";
import { watchRuns, watchScenes, type RunListener, type SceneListener } from "./scene-watch.ts";
import { SourceTracker, type SourceStatus } from "./sources.ts";
import { activeScenes, unexplainedErrors, type ActiveScene, type UnexplainedError } from "./status.ts";
import type { EndedAnswer } from "./ended.ts";
import { whyView, type WhyAnswer } from "./why.ts";

export interface QueryInputs {
  readonly graph: StateGraph;
  readonly engine: DiagnosisEngine;
  readonly diagnosis: DiagnosisState;
  readonly probes: ReadonlyMap<string, ProbeState>;
  /** Events accepted and rejected so far (the ingest pipeline). */
  readonly ingest: { readonly accepted: number; rejected(reason?: RejectReason): number };
  /** Why the exporter is not ready; null once rules are loaded and sources started. */
  readonly notReadyReason: string | null;
  /** Reads the rules again (SIGHUP, POST /-/reload); serialised, a bad set keeps the rules in force. */
  reloadRules(): Promise<ReloadOutcome>;
  /** The last answers about processes that left the graph (absent: an unknown pid is only unknown). */
  readonly ended?: { get(pid: number): EndedAnswer | undefined };
  /** How rule loads and reloads went (absent where nothing reloads). */
  readonly rulesReload?: RulesReloadState;
}

/** How the rule set's reloads went, as status and the landing page say it. */
export interface RulesStatus {
  /** Rules in force. */
  loaded: number;
  /** False after a refused reload, until one succeeds: the rules in force are older than the files. */
  last_reload_successful: boolean;
  /** When the rules in force were loaded (start-up or the last good reload), ISO. */
  loaded_at: string;
  /** The last refused reload: when (ISO) and why; null when none was refused. Kept after a later success. */
  last_failure: { at: string; error: string } | null;
  reloads: { success: number; failure: number };
}

/** What a reload asked through the API did. */
export type ReloadAnswer =
  | { ok: true; rules: number; added: string[]; removed: string[]; changed: string[]; event_windows: { kept: number; new: number }; warnings: string[] }
  | { ok: false; error: string };

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason: string | null;
  rules: number;
  sources: SourceStatus[];
}

export interface Status {
  version: string;
  ready: boolean;
  scenes: ActiveScene[];
  /** Errors inside the window that no active scene names (at most 8, newest first). */
  unexplained_errors: UnexplainedError[];
  /** How many there are in all: more than `unexplained_errors` lists when it is cut. */
  unexplained_errors_total: number;
  sources: SourceStatus[];
  /**
   * The host collectors `--collectors auto` left out, with why (`nvidia-smi not on PATH`): what
   * the start log said, for as long as the exporter runs. Absent when the choice was not auto.
   */
  collectors_skipped?: SkippedCollector[];
  /** The rule set and its reloads (absent from an exporter older than this field, or one that cannot reload). */
  rules?: RulesStatus;
  counts: {
    processes: number;
    active_processes: number;
    resources: number;
    errors: number;
    edges: { consumes: number; waits_on: number; blocked_by: number };
    events_accepted: number;
    events_rejected: number;
    diagnosis_runs: number;
    rules: number;
  };
}

export { DEFAULT_VIEW_LIMIT };
export type { Rule };

export interface SkippedCollector {
  name: string;
  reason: string;
}

export class Queries {
  readonly sources: SourceTracker;
  /** Set by `serve` under `--collectors auto`: the collectors it did not start, and why. */
  collectorsSkipped: SkippedCollector[] | undefined;

  constructor(
    private readonly _in: QueryInputs,
    private readonly _version = "",
  ) {
    this.sources = new SourceTracker(_in.probes);
  }

  /** Processes by pid, at most `limit`, each with the active scenes that name it. */
  processes(limit = DEFAULT_VIEW_LIMIT, now = Date.now()): ProcessList {
    const settling = new Set(this.activeScenes().flatMap((s) => (s.matching ? [] : [s.scene])));
    return processRows(this._in.graph, limit, this._scenesByPid(limit), now, settling);
  }

  /**
   * Root causes and matching scenes of one process; for a pid no process holds, the last answer
   * about the one that left the graph lately (`ended: true`); undefined for an unknown pid. A
   * live process's answer names an earlier one on its pid that left lately (`ended_before`).
   */
  why(pid: number): WhyAnswer | EndedAnswer | undefined {
    const last = this._in.ended?.get(pid);
    const live = whyView(this._in.graph, pid, (p) => this._in.engine.scenesFor(p));
    if (live === undefined) return last;
    // Scenes that only settle and named this process when last found (ps shows them): said
    // apart, since they match it no longer and `scenes` is what matches now.
    const settling = this.activeScenes().filter((s) => !s.matching && s.affected_pids.includes(pid) && !live.scenes.some((m) => m.scene === s.scene));
    const named = settling.length === 0 ? [] : (this._scenesByPid(DEFAULT_VIEW_LIMIT).get(pid) ?? []);
    const held = settling.filter((s) => named.includes(s.scene));
    if (held.length > 0) live.settling = held.map((s) => ({ scene: s.scene, rule: s.rule, matched_at: s.matched_at }));
    // The live process wins; an earlier one on the pid that ended lately is named, for `--ended`.
    if (last !== undefined) live.ended_before = { job_id: last.job_id, state: last.state, left_at: last.left_at };
    return live;
  }

  /** The last answer about the process on `pid` that left the graph lately, whoever holds the pid now. */
  endedWhy(pid: number): EndedAnswer | undefined {
    return this._in.ended?.get(pid);
  }

  graph(limit = DEFAULT_VIEW_LIMIT): GraphJson {
    return graphView(this._in.graph, limit);
  }

  graphDot(limit = DEFAULT_VIEW_LIMIT): string {
    return graphDot(graphView(this._in.graph, limit));
  }

  /** Recent diagnosis results, newest first. */
  diagnoses(limit: number): DiagnosisResult[] {
    return this._in.engine.results(Math.min(limit, this._in.engine.kept));
  }

  /** Results kept at most (automatic and on-demand runs). */
  get diagnosesKept(): number {
    return this._in.engine.kept;
  }

  /** Runs the rule set now over the host (asked through the API, or at the end of a replay). */
  runNow(trigger: "api" | "replay" = "api"): DiagnosisResult {
    return this._in.engine.runNow(trigger);
  }

  /** Reloads the rule set as SIGHUP does, and says what changed or why nothing did. */
  async reloadRules(): Promise<ReloadAnswer> {
    const out = await this._in.reloadRules();
    if (!out.ok) return { ok: false, error: out.error };
    const c = out.change;
    const windows = { kept: c.windowsKept ?? 0, new: c.windowsNew ?? 0 };
    return { ok: true, rules: out.rules.length, added: c.added, removed: c.removed, changed: c.changed, event_windows: windows, warnings: out.warnings };
  }

  /** The rule set in force and how its reloads went; undefined where nothing reloads. */
  rulesStatus(): RulesStatus | undefined {
    const r = this._in.rulesReload;
    if (r === undefined) return undefined;
    return {
      loaded: this._in.engine.rules.length,
      last_reload_successful: r.successful,
      loaded_at: new Date(r.lastSuccessMs).toISOString(),
      last_failure: r.lastFailureMs === null || r.lastError === null ? null : { at: new Date(r.lastFailureMs).toISOString(), error: r.lastError },
      reloads: { success: r.reloads.get("success") ?? 0, failure: r.reloads.get("failure") ?? 0 },
    };
  }

  /** Diagnosis runs so far. */
  get diagnosisRuns(): number {
    return this._in.diagnosis.runs;
  }

  /** Runs the rule set now over one process; undefined for an unknown pid. */
  runForPid(pid: number): DiagnosisResult | undefined {
    return this._in.engine.runForPid(pid, "api");
  }

  /** The scenes that match one process now, with their evidence (no run recorded). */
  scenesFor(pid: number): SceneMatch[] | undefined {
    return this._in.engine.scenesFor(pid);
  }

  get rules(): readonly Rule[] {
    return this._in.engine.rules;
  }

  readiness(now = Date.now()): Readiness {
    const reason = this._in.notReadyReason;
    return { ready: reason === null, reason, rules: this._in.engine.rules.length, sources: this.sources.list(now) };
  }

  /** Scenes active now, with their root cause and the pids and jobs they affect. */
  activeScenes(): ActiveScene[] {
    return activeScenes(this._in.diagnosis.active, this._in.engine.rules, this._hostRuns(), this._in.graph);
  }

  status(now = Date.now()): Status {
    const g = this._in.graph;
    const scenes = this.activeScenes();
    const unexplained = unexplainedErrors(g, scenes);
    return {
      version: this._version,
      ready: this._in.notReadyReason === null,
      scenes,
      unexplained_errors: unexplained.shown,
      unexplained_errors_total: unexplained.total,
      sources: this.sources.list(now),
      ...(this.collectorsSkipped === undefined ? {} : { collectors_skipped: this.collectorsSkipped }),
      ...(this._in.rulesReload === undefined ? {} : { rules: this.rulesStatus()! }),
      counts: {
        processes: g.processes.size,
        active_processes: g.activeProcesses,
        resources: g.resources.size,
        errors: g.errors.size,
        edges: { ...g.edges },
        events_accepted: this._in.ingest.accepted,
        events_rejected: this._in.ingest.rejected(),
        diagnosis_runs: this._in.diagnosis.runs,
        rules: this._in.engine.rules.length,
      },
    };
  }

  /** Graph evictions so far (nodes dropped to stay within --max-nodes). */
  get evictions(): number {
    let n = 0;
    for (const v of this._in.graph.evictions.values()) n += v;
    return n;
  }

  /** Calls `listener` when a scene becomes active or clears; returns the unsubscribe. */
  onSceneChange(listener: SceneListener): () => void {
    return watchScenes(this._in.diagnosis, () => this._in.graph.eventNow, listener);
  }

  /** Calls `listener` after every diagnosis run; returns the unsubscribe. */
  onRun(listener: RunListener): () => void {
    return watchRuns(this._in.diagnosis, () => this._in.graph.eventNow, listener);
  }

  /** The kept host-wide results, newest first. */
  private _hostRuns(): DiagnosisResult[] {
    return this._in.engine.results().filter((r) => r.pid === null);
  }

  /** pid → active scenes that the newest host-wide run naming each scene names it in (activeScenes). */
  private _scenesByPid(limit: number): Map<number, string[]> {
    const out = new Map<number, string[]>();
    const active = this._in.diagnosis.active;
    if (active.size === 0) return out;
    const graph = this._in.graph;
    const runs = this._hostRuns();
    let pids: number[] | undefined;
    for (const s of this.activeScenes()) {
      // The processes the run named (activeScenes' run for the scene): a pid held now by another
      // process (the one named ended, an OOM kill, a crash, and the pid was reused) is not named.
      const named = _namedIn(runs, s.scene);
      for (const pid of s.affected_pids) {
        const p = graph.processes.get(pid);
        if (p !== undefined && named !== undefined && !named.has(p)) continue;
        // A pid now held by a process of a job the run did not name is another process (reused).
        const job = p?.jobId ?? null;
        if (job !== null && s.affected_jobs.length > 0 && !s.affected_jobs.includes(job)) continue;
        const list = out.get(pid);
        if (list === undefined) out.set(pid, [s.scene]);
        else list.push(s.scene);
      }
      // The run named the first 32 it found: each other process the rows show is asked (a GPU
      // fallen off the bus under 40 tenants: the 33rd is blocked by it as the first is).
      if (s.affected_pids_cut && s.matching) {
        const wall = Date.now();
        for (const pid of (pids ??= _firstPids(graph, limit))) {
          const list = out.get(pid);
          if (list?.includes(s.scene)) continue;
          if ((this._in.engine.scenesFor(pid, wall, s.scene)?.length ?? 0) === 0) continue;
          if (list === undefined) out.set(pid, [s.scene]);
          else list.push(s.scene);
        }
      }
    }
    return out;
  }
}

/** The pids `processRows` shows: the first `limit` by pid. */
function _firstPids(graph: StateGraph, limit: number): number[] {
  const pids = [...graph.processes.keys()].sort((a, b) => a - b);
  return pids.length > limit ? pids.slice(0, limit) : pids;
}

/** The processes the newest of `runs` that found `scene` named for it (see activeScenes). */
function _namedIn(runs: readonly DiagnosisResult[], scene: string): ReadonlySet<ProcessNode> | undefined {
  for (const r of runs) {
    const m = r.matches.find((x) => x.scene === scene);
    if (m !== undefined) return namedProcesses(m);
  }
  return undefined;
}
