// The exporter's metrics: one prom-client Registry per exporter. Hot-path state stays in
// plain counters and the graph's live counts; every family reads it in collect() at scrape
// time, so an event never touches prom-client, and a scrape costs the same whatever the size
// of the graph.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RulesReloadState } from "../diagnosis/rules-reload.ts";
import type { DiagnosisState } from "../diagnosis/state.ts";
import type { EventCounters } from "../events/counters.ts";
import { EVENT_TYPES, REJECT_REASONS } from "../events/schema.ts";
import type { StateGraph } from "../graph/graph.ts";
import { FAMILIES, type MetricFamily } from "./names.ts";
import { ProcessMetrics } from "./process.ts";
import { CONTENT_TYPE, TextFormat } from "./text-format.ts";

/** Per-source state shown as xctl_probe_* (label `probe` = the source's name). */
export interface ProbeState {
  up: boolean;
  restarts: number;
  /** Why the source is down when it cannot run at all (a probe that cannot be started). */
  reason?: string | null;
  /** How its last run ended (`exited with status 3`), null before the first end. */
  lastExit?: string | null;
  /** Wall-clock ms of the last accepted event, 0 before the first. */
  lastEventMs: number;
}

export interface IngestState {
  queueBytes: number;
  queueFull: Map<string, number>;
}

export interface StreamState {
  clients: number;
  dropped: Map<string, number>;
}

/** The last why answers kept for processes that left the graph (query/ended.ts). */
export interface EndedState {
  readonly size: number;
  readonly dropped: number;
  readonly scenesSkipped: number;
}

export interface MetricsInputs {
  counters: EventCounters;
  graph: StateGraph;
  probes: Map<string, ProbeState>;
  diagnosis: DiagnosisState;
  /** Rule loads and reloads (rules-reload.ts); none for replay, which never reloads. */
  rules?: RulesReloadState;
  ingest: IngestState;
  stream: StreamState;
  /** Absent: no such answers are kept, and the families are not served. */
  ended?: EndedState;
  version: string;
  runtime: string;
  /** Runtime process metrics (process_*, nodejs_heap_*); off for replay's page. */
  processMetrics?: boolean;
}

/** Buckets from 100 µs to 10 s: a rule run is usually well under a millisecond. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly diagnosisLatency: Histogram;
  private readonly _process: ProcessMetrics | undefined;
  private readonly _text = new TextFormat(this.registry);

  constructor(inputs: MetricsInputs) {
    const { counters, graph, probes, diagnosis, rules, ingest, stream } = inputs;
    const r = [this.registry];

    const F = FAMILIES;

    _counter(r, F.eventsTotal, () => [[{}, counters.accepted]]);
    _counter(r, F.eventsByType, _fixed("event_type", EVENT_TYPES, (i) => counters.byType[i]));
    _counter(r, F.eventsRejected, _fixed("reason", REJECT_REASONS, (i) => counters.rejected[i]));

    _gauge(r, F.waitsOnEdges, () => [[{}, graph.edges.waits_on]]);
    _gauge(r, F.blockedByEdges, () => [[{}, graph.edges.blocked_by]]);
    _gauge(r, F.consumesEdges, () => [[{}, graph.edges.consumes]]);
    _gauge(r, F.activeProcesses, () => [[{}, graph.activeProcesses]]);
    _gauge(r, F.activeResources, () => [[{}, graph.resources.size]]);
    _gauge(r, F.errorNodes, () => [[{}, graph.errors.size]]);
    _counter(r, F.graphEvictions, () => _entries("kind", graph.evictions));
    const ended = inputs.ended;
    if (ended !== undefined) {
      _gauge(r, F.endedAnswers, () => [[{}, ended.size]]);
      _counter(r, F.endedAnswersDropped, () => [[{}, ended.dropped]]);
      _counter(r, F.endedScenesSkipped, () => [[{}, ended.scenesSkipped]]);
    }

    // Scene state (src/diagnosis/state.ts): automatic runs only; on-demand runs count apart.
    _counter(r, F.diagnosesTotal, () => [[{}, diagnosis.runs]]);
    _counter(r, F.diagnosesOnDemand, () => [[{}, diagnosis.onDemandRuns]]);
    _counter(r, F.diagnosesByScene, () => _entries("scene", diagnosis.byScene));
    _gauge(r, F.sceneActive, function* () {
      for (const scene of diagnosis.byScene.keys()) yield [{ scene }, diagnosis.active.has(scene) ? 1 : 0];
    });
    _counter(r, F.sceneActivations, () => _entries("scene", diagnosis.activations));
    _sceneInfo(r, F.sceneInfo, diagnosis.severity);
    this.diagnosisLatency = new Histogram({ ..._declared(F.diagnosisLatency), buckets: LATENCY_BUCKETS, registers: r });

    if (rules !== undefined) {
      _gauge(r, F.rulesReloadSuccessful, () => [[{}, rules.successful ? 1 : 0]]);
      _gauge(r, F.rulesReloadSuccessTime, () => [[{}, rules.lastSuccessMs / 1000]]);
      _counter(r, F.rulesReloads, () => _entries("result", rules.reloads));
    }

    _gauge(r, F.probeUp, () => _probes(probes, (s) => (s.up ? 1 : 0)));
    _counter(r, F.probeRestarts, () => _probes(probes, (s) => s.restarts));
    _gauge(r, F.probeLastEvent, () => _probes(probes, (s) => s.lastEventMs / 1000));

    _gauge(r, F.ingestQueueBytes, () => [[{}, ingest.queueBytes]]);
    _counter(r, F.ingestQueueFull, () => _entries("source_kind", ingest.queueFull));
    _gauge(r, F.sseClients, () => [[{}, stream.clients]]);
    _counter(r, F.sseDropped, () => _entries("reason", stream.dropped));

    new Gauge({ ..._declared(F.buildInfo), registers: r }).set({ version: inputs.version, runtime: inputs.runtime }, 1);

    if (inputs.processMetrics !== false) this._process = new ProcessMetrics(this.registry);
  }

  get contentType(): string {
    return CONTENT_TYPE;
  }

  render(): Promise<string> {
    this._process?.refresh();
    return this._text.render();
  }
}

type Labels = Record<string, string>;
type Samples = Iterable<readonly [Labels, number]>;

function _fixed(label: string, values: readonly string[], read: (i: number) => number): () => Samples {
  const labels = values.map((v) => ({ [label]: v }));
  return () => labels.map((l, i) => [l, read(i)] as const);
}

function* _entries(label: string, map: ReadonlyMap<string, number>): Samples {
  for (const [k, v] of map) yield [{ [label]: k }, v];
}

function* _probes(probes: ReadonlyMap<string, ProbeState>, read: (s: ProbeState) => number): Samples {
  for (const [probe, s] of probes) yield [{ probe }, read(s)];
}

/**
 * xctl_scene_info{scene,severity} = 1 per loaded scene, for alerts to join on. Two labels, so
 * not the one-label helpers: the series of a scene no longer loaded are dropped.
 */
function _sceneInfo(registers: Registry[], family: MetricFamily, severity: ReadonlyMap<string, string>): void {
  let shown = "";
  new Gauge({
    ..._declared(family),
    registers,
    collect() {
      const key = [...severity].join(",");
      if (key === shown) return;
      this.reset();
      for (const [scene, sev] of severity) this.set({ scene, severity: sev }, 1);
      shown = key;
    },
  });
}

/** Names one series of a family: the value of its only label (families here have at most one). */
function _seriesKey(labelNames: string[], labels: Labels): string {
  return labelNames.length === 0 ? "" : labels[labelNames[0]];
}

/**
 * Removes the series `read` no longer yields (a scene a reload removed), so they leave the page
 * rather than stay at their last value. Only labelled families lose series.
 */
function _dropUnread(metric: { remove(labels: Labels): void }, labelNames: string[], shown: Map<string, number>, read: () => Samples): void {
  const keys = new Set<string>();
  for (const [labels] of read()) keys.add(_seriesKey(labelNames, labels));
  for (const key of shown.keys()) {
    if (keys.has(key)) continue;
    metric.remove({ [labelNames[0]]: key });
    shown.delete(key);
  }
}

/** A family's declaration in prom-client's terms. */
function _declared(f: MetricFamily): { name: string; help: string; labelNames: string[] } {
  return { name: f.name, help: f.help, labelNames: [...f.labels] };
}

function _gauge(registers: Registry[], family: MetricFamily, read: () => Samples): void {
  const declared = _declared(family);
  const labelNames = declared.labelNames;
  // prom-client keeps each series' last value, and a set() with labels costs a label hash:
  // only a changed value is set.
  const shown = new Map<string, number>();
  new Gauge({
    ...declared,
    registers,
    collect() {
      let n = 0;
      for (const [labels, v] of read()) {
        n++;
        const key = _seriesKey(labelNames, labels);
        if (shown.get(key) === v) continue;
        this.set(labels, v);
        shown.set(key, v);
      }
      if (n < shown.size) _dropUnread(this, labelNames, shown, read);
    },
  });
}

/** A counter whose total lives elsewhere: each scrape adds what was counted since the last. */
function _counter(registers: Registry[], family: MetricFamily, read: () => Samples): void {
  const declared = _declared(family);
  const labelNames = declared.labelNames;
  const reported = new Map<string, number>();
  new Counter({
    ...declared,
    registers,
    collect() {
      let n = 0;
      for (const [labels, v] of read()) {
        n++;
        const key = _seriesKey(labelNames, labels);
        const last = reported.get(key);
        // Below what was reported: the total started again (a scene removed and added back by
        // reloads between two scrapes), and so does the series.
        if (last !== undefined && v < last) this.remove(labels);
        if (last === undefined || v !== last) {
          this.inc(labels, last === undefined || v < last ? v : v - last);
          reported.set(key, v);
        }
      }
      if (n < reported.size) _dropUnread(this, labelNames, reported, read);
    },
  });
}
