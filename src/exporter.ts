// The composition root: owns the graph, the diagnosis, the metrics and the sources. HTTP and
// the CLI sit on top of this; nothing here knows how it is served.
import type { ConsolaInstance } from "consola";
import { EventHub } from "./events/hub.ts";
import type { XEvent } from "./events/schema.ts";
import { DiagnosisEngine } from "./diagnosis/engine.ts";
import type { Rule } from "./diagnosis/rule.ts";
import { defaultRules } from "./diagnosis/rules-load.ts";
import { StateGraph } from "./graph/graph.ts";
import { newDiagnosisState, type DiagnosisState } from "./diagnosis/state.ts";
import { newRulesReloadState, RulesReloader, type ReloadOutcome, type RulesReloadState } from "./diagnosis/rules-reload.ts";
import { IngestPipeline } from "./ingest/pipeline.ts";
import { EndedProcesses } from "./query/ended.ts";
import { Metrics, type ProbeState } from "./metrics/registry.ts";
import { runtimeName } from "./runtime-name.ts";
import type { Source, SourceContext } from "./sources/source.ts";
import { VERSION } from "./version.ts";

export interface ExporterOptions {
  log: ConsolaInstance;
  errorWindowMs?: number;
  maxNodes?: number;
  resourceTtlMs?: number;
  maxLineBytes?: number;
  maxSseClients?: number;
  /** Events buffered per event-stream client before it counts as slow and is cut off. */
  sseBuffer?: number;
  /** Serve the runtime's process_* metrics too (default true). */
  processMetrics?: boolean;
  /** Run the wall-clock cleanup timer (off for replay, which follows event time only). */
  liveClock?: boolean;
  /** How far an event's ts may run ahead of the clock (default 5 minutes): SPEC §2's future_ts. */
  maxClockSkewMs?: number;
  /** Feeds yield to the event loop between slices of work (default: as liveClock). */
  fairIngest?: boolean;
  /** Diagnosis rules (default: the embedded set). */
  rules?: readonly Rule[];
  /** Where `reloadRules` reads the rules again; without it (replay) no reload metrics are served. */
  ruleSource?: { dir?: string; defaults: boolean };
  /** Debounce of automatic diagnosis runs (default 1000 ms; event time when liveClock is off). */
  diagnosisIntervalMs?: number;
  /** A scene clears only after it has not held for this long (default 60 s). */
  sceneSettleMs?: number;
  /** Event-time automatic runs describe their scenes and keep results (default true; replay: false). */
  describeAutoRuns?: boolean;
  /** Last `why` answers kept for processes that left the graph (default 500; query/ended.ts). */
  maxEndedAnswers?: number;
  /** Keep them at all (default true; replay, which nobody asks `why`, does not). */
  keepEnded?: boolean;
}

export class Exporter {
  readonly log: ConsolaInstance;
  /** The one way events get in: framing, parsing, counters, the rejection log, the push queue. */
  readonly ingest: IngestPipeline;
  readonly graph: StateGraph;
  readonly hub: EventHub;
  readonly probes = new Map<string, ProbeState>();
  readonly diagnosis: DiagnosisState = newDiagnosisState();
  readonly metrics: Metrics;
  /** Rule loads and reloads, for the metrics. */
  readonly rulesReload: RulesReloadState = newRulesReloadState();
  /** Runs the rules over the graph and the event window; keeps `diagnosis` up to date. */
  readonly engine: DiagnosisEngine;
  /**
   * The last `why` answer about each process that left the graph, kept for the error window
   * (or --scene-settle, if longer): "why did my job die" outlives the job's node (query/ended.ts).
   * None in a replay.
   */
  readonly ended: EndedProcesses | undefined;
  /** Why /readyz says 503; null once rules are loaded and sources started. */
  notReadyReason: string | null = "starting";

  private readonly _sources: Source[] = [];
  private readonly _reloader: RulesReloader;
  private _timer: ReturnType<typeof setInterval> | undefined;
  private readonly _liveClock: boolean;

  constructor(opts: ExporterOptions) {
    this.log = opts.log;
    this.graph = new StateGraph({
      errorWindowMs: opts.errorWindowMs,
      maxNodes: opts.maxNodes,
      resourceTtlMs: opts.resourceTtlMs,
    });
    if (opts.keepEnded ?? true) {
      const ended = new EndedProcesses({
        keepMs: Math.max(this.graph.errorWindowMs, opts.sceneSettleMs ?? 60_000),
        max: opts.maxEndedAnswers,
        scenesFor: (pid) => this.engine.scenesFor(pid),
        now: (opts.liveClock ?? true) ? Date.now : () => this.graph.eventNow,
        faultClock: this.graph,
      });
      this.graph.onLeave((p, reason) => ended.keep(p, reason));
      this.ended = ended;
    }
    this.hub = new EventHub({ maxClients: opts.maxSseClients, maxBuffered: opts.sseBuffer });
    this._liveClock = opts.liveClock ?? true;
    this.ingest = new IngestPipeline({
      log: this.log,
      maxLineBytes: opts.maxLineBytes,
      fair: opts.fairIngest ?? this._liveClock,
      clock: { maxSkewMs: opts.maxClockSkewMs },
      sink: (ev, wall) => this._accepted(ev, wall),
    });
    const hub = this.hub;
    this.metrics = new Metrics({
      counters: this.ingest.counters,
      graph: this.graph,
      probes: this.probes,
      diagnosis: this.diagnosis,
      rules: opts.ruleSource === undefined ? undefined : this.rulesReload,
      ingest: this.ingest.pushQueue,
      stream: {
        get clients() {
          return hub.clients;
        },
        dropped: hub.dropped,
      },
      ended: this.ended,
      version: VERSION,
      runtime: runtimeName,
      processMetrics: opts.processMetrics,
    });
    this.engine = new DiagnosisEngine({
      graph: this.graph,
      state: this.diagnosis,
      latency: this.metrics.diagnosisLatency,
      intervalMs: opts.diagnosisIntervalMs,
      liveClock: this._liveClock,
      describeAutoRuns: opts.describeAutoRuns,
      sceneSettleMs: opts.sceneSettleMs,
    });
    this.engine.setRules(opts.rules ?? defaultRules());
    const engine = this.engine;
    this._reloader = new RulesReloader({
      source: opts.ruleSource ?? { defaults: true },
      state: this.rulesReload,
      current: () => engine.rules,
      apply: (rules) => {
        const change = engine.setRules(rules);
        // The verdict of the new rules now, not at the next change.
        engine.runNow("auto");
        return change;
      },
      log: this.log,
    });
  }

  /** Reads the rules again (SIGHUP); a bad set leaves the rules in force. Serialised (rules-reload.ts). */
  reloadRules(): Promise<ReloadOutcome> {
    return this._reloader.request();
  }

  /** An accepted event (the pipeline's sink) through graph, diagnosis and the live stream. */
  private _accepted(ev: XEvent, wall: number): void {
    this.graph.apply(ev, wall);
    this.engine.accept(ev, wall);
    this.hub.publish(ev);
  }

  addSource(source: Source): void {
    if (this.probes.has(source.name)) throw new Error(`two sources named ${source.name}`);
    this._sources.push(source);
    this.probes.set(source.name, { up: false, restarts: 0, lastEventMs: 0 });
    source.registerMetrics?.(this.metrics.registry);
  }

  start(): void {
    for (const source of this._sources) source.start(this._context(source));
    if (this._liveClock) {
      this._timer = setInterval(() => this.cleanup(Date.now()), 1000);
      (this._timer as { unref?: () => void }).unref?.();
    }
    this.notReadyReason = null;
  }

  /**
   * The wall-clock cleanup: exited processes and expired errors leave the graph. A live
   * exporter runs it every second; replay, which follows event time, once at the end.
   */
  cleanup(wall: number): void {
    this.graph.cleanup(wall);
  }

  async stop(): Promise<void> {
    this.notReadyReason = "shutting down";
    this.engine.stop();
    if (this._timer !== undefined) clearInterval(this._timer);
    await Promise.all(this._sources.map((s) => s.stop().catch((e) => this.log.warn(`stopping ${s.name}: ${e}`))));
    this.hub.closeAll();
  }

  private _context(source: Source): SourceContext {
    const probe = this.probes.get(source.name)!;
    const feed = this.ingest.feed(source.name, { mark: probe });
    return {
      push: (chunk) => feed.push(chunk),
      end: () => void feed.end(),
      emit: (event) => void this.ingest.object(event, source.name, probe),
      setUp: (up, reason) => {
        probe.up = up;
        probe.reason = up ? null : (reason ?? null);
      },
      restarted: () => {
        probe.restarts++;
      },
      exited: (how) => {
        probe.lastExit = how;
      },
      processes: () => {
        const out = [];
        for (const p of this.graph.processes.values()) out.push({ pid: p.pid, jobId: p.jobId ?? null, state: p.state, startKnown: p.bornTs !== -Infinity });
        return out;
      },
      errorWindowMs: this.graph.errorWindowMs,
      log: this.log.withTag(source.name),
    };
  }
}
