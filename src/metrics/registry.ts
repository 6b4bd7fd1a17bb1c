// The exporter's metrics: one prom-client Registry per exporter. Hot-path state stays in
// plain counters and the graph's live counts; every family reads it in collect() at scrape
// time, so an event never touches prom-client, and a scrape costs the same whatever the size
// of the graph.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DiagnosisState } from "../diagnosis/state.ts";
import type { EventCounters } from "../events/counters.ts";
import { EVENT_TYPES, REJECT_REASONS } from "../events/schema.ts";
import type { StateGraph } from "../graph/graph.ts";
import { ProcessMetrics } from "./process.ts";
import { CONTENT_TYPE, TextFormat } from "./text-format.ts";

/** Per-source state shown as xctl_probe_* (label `probe` = the source's name). */
export interface ProbeState {
  up: boolean;
  restarts: number;
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

export interface MetricsInputs {
  counters: EventCounters;
  graph: StateGraph;
  probes: Map<string, ProbeState>;
  diagnosis: DiagnosisState;
  ingest: IngestState;
  stream: StreamState;
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
    const { counters, graph, probes, diagnosis, ingest, stream } = inputs;
    const r = [this.registry];

    _counter(r, "xctl_events_total", "Events accepted.", [], () => [[{}, counters.accepted]]);
    _counter(r, "xctl_events_by_type", "Events accepted, per event type.", ["event_type"], _fixed("event_type", EVENT_TYPES, (i) => counters.byType[i]));
    _counter(r, "xctl_events_rejected_total", "Lines or objects rejected, per reason.", ["reason"], _fixed("reason", REJECT_REASONS, (i) => counters.rejected[i]));

    _gauge(r, "xctl_waitson_edges", "Current waits_on edges.", [], () => [[{}, graph.edges.waits_on]]);
    _gauge(r, "xctl_blockedby_edges", "Current blocked_by edges.", [], () => [[{}, graph.edges.blocked_by]]);
    _gauge(r, "xctl_consumes_edges", "Current consumes edges.", [], () => [[{}, graph.edges.consumes]]);
    _gauge(r, "xctl_active_processes", "Processes not exited.", [], () => [[{}, graph.activeProcesses]]);
    _gauge(r, "xctl_active_resources", "Resource nodes.", [], () => [[{}, graph.resources.size]]);
    _gauge(r, "xctl_error_nodes", "Error nodes inside the error window.", [], () => [[{}, graph.errors.size]]);
    _counter(r, "xctl_graph_evictions_total", "Nodes evicted to stay within --max-nodes, per node kind.", ["kind"], () => _entries("kind", graph.evictions));

    // Scene state (src/diagnosis/state.ts): automatic runs only; on-demand runs count apart.
    _counter(r, "xctl_diagnoses_total", "Automatic diagnosis runs (the runs scene state follows).", [], () => [[{}, diagnosis.runs]]);
    _counter(r, "xctl_diagnoses_on_demand_total", "Diagnosis runs asked for through the API or why; they change no scene state.", [], () => [
      [{}, diagnosis.onDemandRuns],
    ]);
    _counter(r, "xctl_diagnoses_by_scene", "Automatic diagnosis runs that concluded with each scene.", ["scene"], () => _entries("scene", diagnosis.byScene));
    _gauge(r, "xctl_scene_active", "1 while a scene is active (it held within --scene-settle), else 0.", ["scene"], function* () {
      for (const scene of diagnosis.byScene.keys()) yield [{ scene }, diagnosis.active.has(scene) ? 1 : 0];
    });
    _counter(r, "xctl_scene_activations_total", "Times each scene became active.", ["scene"], () => _entries("scene", diagnosis.activations));
    _sceneInfo(r, diagnosis.severity);
    this.diagnosisLatency = new Histogram({
      name: "xctl_diagnosis_latency_seconds",
      help: "Duration of a diagnosis run.",
      buckets: LATENCY_BUCKETS,
      registers: r,
    });

    _gauge(r, "xctl_probe_up", "1 while the probe's process runs, else 0.", ["probe"], () => _probes(probes, (s) => (s.up ? 1 : 0)));
    _counter(r, "xctl_probe_restarts_total", "Probe restarts after it exited.", ["probe"], () => _probes(probes, (s) => s.restarts));
    _gauge(r, "xctl_probe_last_event_timestamp_seconds", "Wall-clock time of the probe's last accepted event.", ["probe"], () =>
      _probes(probes, (s) => s.lastEventMs / 1000),
    );

    _gauge(r, "xctl_ingest_queue_bytes", "Bytes of pushed event bodies being ingested.", [], () => [[{}, ingest.queueBytes]]);
    _counter(r, "xctl_ingest_queue_full_total", "Ingest refused at the queue bound, per source kind.", ["source_kind"], () =>
      _entries("source_kind", ingest.queueFull),
    );
    _gauge(r, "xctl_sse_clients", "Connected event-stream clients.", [], () => [[{}, stream.clients]]);
    _counter(r, "xctl_sse_dropped_total", "Event-stream clients cut off, per reason.", ["reason"], () => _entries("reason", stream.dropped));

    new Gauge({ name: "xctl_build_info", help: "Build information; the value is always 1.", labelNames: ["version", "runtime"], registers: r }).set(
      { version: inputs.version, runtime: inputs.runtime },
      1,
    );

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
function _sceneInfo(registers: Registry[], severity: ReadonlyMap<string, string>): void {
  let shown = "";
  new Gauge({
    name: "xctl_scene_info",
    help: "Each loaded scene with its severity; the value is always 1.",
    labelNames: ["scene", "severity"],
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

function _gauge(registers: Registry[], name: string, help: string, labelNames: string[], read: () => Samples): void {
  // prom-client keeps each series' last value, and a set() with labels costs a label hash:
  // only a changed value is set.
  const shown = new Map<string, number>();
  new Gauge({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, v] of read()) {
        const key = _seriesKey(labelNames, labels);
        if (shown.get(key) === v) continue;
        this.set(labels, v);
        shown.set(key, v);
      }
    },
  });
}

/** A counter whose total lives elsewhere: each scrape adds what was counted since the last. */
function _counter(registers: Registry[], name: string, help: string, labelNames: string[], read: () => Samples): void {
  const reported = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, v] of read()) {
        const key = _seriesKey(labelNames, labels);
        const last = reported.get(key);
        if (last === undefined || v > last) {
          this.inc(labels, last === undefined ? v : v - last);
          reported.set(key, v);
        }
      }
    },
  });
}
