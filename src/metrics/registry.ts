// The exporter's metrics page. Hot-path state stays in plain counters and the graph's live
// counts; every family reads it at scrape time, so an event never touches this module, and a
// scrape costs the same whatever the size of the graph. The text is written directly
// (exposition.ts): prom-client's registry cost several times the rest of a scrape.
import { escapeLabelValue, family, formatValue, Histogram, line, Page, type Collect } from "./exposition.ts";
import { processMetrics } from "./process.ts";
import type { EventCounters } from "../events/counters.ts";
import { EVENT_TYPES, REJECT_REASONS } from "../events/schema.ts";
import type { StateGraph } from "../graph/graph.ts";

/** Per-source state shown as xctl_probe_* (label `probe` = the source's name). */
export interface ProbeState {
  up: boolean;
  restarts: number;
  /** Wall-clock ms of the last accepted event, 0 before the first. */
  lastEventMs: number;
}

/** What the diagnosis engine reports; the engine itself is not imported here. */
export interface DiagnosisState {
  runs: number;
  /** Runs that concluded with each scene, every loaded scene present. */
  byScene: Map<string, number>;
  /** Scenes matching right now. */
  active: Set<string>;
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
  /** Runtime process metrics (process_*, nodejs_*); off for tests that want a small page. */
  processMetrics?: boolean;
}

/** Buckets from 100 µs to 10 s: a rule run is usually well under a millisecond. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  /** The page; `registry.metrics()` renders it (prom-client's call, kept for callers). */
  readonly registry = new Page();
  readonly diagnosisLatency: Histogram;

  constructor(inputs: MetricsInputs) {
    const { counters, graph, probes, diagnosis, ingest, stream } = inputs;
    const page = this.registry;

    page.add(_single("xctl_events_total", "Events accepted.", "counter", () => counters.accepted));
    page.add(_fixed("xctl_events_by_type", "Events accepted, per event type.", "counter", "event_type", EVENT_TYPES, (i) => counters.byType[i]));
    page.add(_fixed("xctl_events_rejected_total", "Lines or objects rejected, per reason.", "counter", "reason", REJECT_REASONS, (i) => counters.rejected[i]));

    page.add(_single("xctl_waitson_edges", "Current waits_on edges.", "gauge", () => graph.edges.waits_on));
    page.add(_single("xctl_blockedby_edges", "Current blocked_by edges.", "gauge", () => graph.edges.blocked_by));
    page.add(_single("xctl_consumes_edges", "Current consumes edges.", "gauge", () => graph.edges.consumes));
    page.add(_single("xctl_active_processes", "Processes not exited.", "gauge", () => graph.activeProcesses));
    page.add(_single("xctl_active_resources", "Resource nodes.", "gauge", () => graph.resources.size));
    page.add(_single("xctl_error_nodes", "Error nodes inside the error window.", "gauge", () => graph.errors.size));
    page.add(_single("xctl_graph_evictions_total", "Nodes evicted to stay within --max-nodes.", "counter", () => graph.evictions));

    page.add(_single("xctl_diagnoses_total", "Diagnosis runs.", "counter", () => diagnosis.runs));
    page.add(_map("xctl_diagnoses_by_scene", "Diagnosis runs that concluded with each scene.", "counter", "scene", () => diagnosis.byScene));
    page.add(
      family("xctl_scene_active", "1 while a scene's rule matches, else 0.", "gauge", (out, labels) => {
        for (const scene of diagnosis.byScene.keys()) line(out, "xctl_scene_active", labels.one("scene", scene), diagnosis.active.has(scene) ? 1 : 0);
      }),
    );
    this.diagnosisLatency = new Histogram("xctl_diagnosis_latency_seconds", "Duration of a diagnosis run.", LATENCY_BUCKETS);
    page.add(this.diagnosisLatency.collect);

    page.add(_probes("xctl_probe_up", "1 while the probe's process runs, else 0.", "gauge", probes, (s) => (s.up ? 1 : 0)));
    page.add(_probes("xctl_probe_restarts_total", "Probe restarts after it exited.", "counter", probes, (s) => s.restarts));
    page.add(
      _probes("xctl_probe_last_event_timestamp_seconds", "Wall-clock time of the probe's last accepted event.", "gauge", probes, (s) => s.lastEventMs / 1000),
    );

    page.add(_single("xctl_ingest_queue_bytes", "Bytes of pushed event bodies being ingested.", "gauge", () => ingest.queueBytes));
    page.add(_map("xctl_ingest_queue_full_total", "Ingest refused or paused at the queue bound, per source kind.", "counter", "source_kind", () => ingest.queueFull));
    page.add(_single("xctl_sse_clients", "Connected event-stream clients.", "gauge", () => stream.clients));
    page.add(_map("xctl_sse_dropped_total", "Event-stream clients cut off, per reason.", "counter", "reason", () => stream.dropped));

    const info = `xctl_build_info{version="${escapeLabelValue(inputs.version)}",runtime="${escapeLabelValue(inputs.runtime)}"} 1\n`;
    page.add(family("xctl_build_info", "Build information; the value is always 1.", "gauge", (out) => out.push(info)));

    if (inputs.processMetrics !== false) page.add(processMetrics());
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

type Type = "counter" | "gauge";

function _single(name: string, help: string, type: Type, read: () => number): Collect {
  return family(name, help, type, (out) => line(out, name, "", read()));
}

/** A family over a fixed list of label values (event types, reasons): label strings made once. */
function _fixed(name: string, help: string, type: Type, label: string, values: readonly string[], read: (i: number) => number): Collect {
  const prefixes = values.map((v) => `${name}{${label}="${escapeLabelValue(v)}"} `);
  return family(name, help, type, (out) => {
    for (let i = 0; i < prefixes.length; i++) out.push(prefixes[i] + formatValue(read(i)) + "\n");
  });
}

function _map(name: string, help: string, type: Type, label: string, read: () => ReadonlyMap<string, number>): Collect {
  return family(name, help, type, (out, labels) => {
    for (const [k, v] of read()) line(out, name, labels.one(label, k), v);
  });
}

function _probes(name: string, help: string, type: Type, probes: ReadonlyMap<string, ProbeState>, read: (s: ProbeState) => number): Collect {
  return family(name, help, type, (out, labels) => {
    for (const [probe, s] of probes) line(out, name, labels.one("probe", probe), read(s));
  });
}
