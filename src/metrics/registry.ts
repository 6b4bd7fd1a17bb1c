// One prom-client Registry per exporter. Hot-path state stays in plain counters; every
// family here reads it in collect() at scrape time, so an event never touches prom-client.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
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

/**
 * prom-client's default metrics that a runtime answers with made-up values (checked on Bun
 * 1.4 and Deno 2.9): handle counts that are always 0, V8 heap spaces that JavaScriptCore does
 * not have, a GC histogram no GC ever reaches, and a Node version the runtime only imitates. xctl_build_info names the runtime.
 */
const UNTRUTHFUL_DEFAULT_METRICS: Record<string, string[]> = {
  bun: [
    "nodejs_active_handles",
    "nodejs_active_handles_total",
    "nodejs_active_requests",
    "nodejs_active_requests_total",
    "nodejs_active_resources",
    "nodejs_active_resources_total",
    "nodejs_heap_space_size_total_bytes",
    "nodejs_heap_space_size_used_bytes",
    "nodejs_heap_space_size_available_bytes",
    "nodejs_version_info",
    "nodejs_gc_duration_seconds",
  ],
  deno: [
    "nodejs_active_handles",
    "nodejs_active_handles_total",
    "nodejs_active_requests",
    "nodejs_active_requests_total",
    "nodejs_version_info",
    "nodejs_gc_duration_seconds",
  ],
};

/** Buckets from 100 µs to 10 s: a rule run is usually well under a millisecond. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly diagnosisLatency: Histogram;

  constructor(inputs: MetricsInputs) {
    const { counters, graph, probes, diagnosis, ingest, stream } = inputs;
    const registers = [this.registry];

    _counter(registers, "xctl_events_total", "Events accepted.", [], () => [[{}, counters.accepted]]);
    _counter(registers, "xctl_events_by_type", "Events accepted, per event type.", ["event_type"], () =>
      EVENT_TYPES.map((t, i) => [{ event_type: t }, counters.byType[i]]),
    );
    _counter(registers, "xctl_events_rejected_total", "Lines or objects rejected, per reason.", ["reason"], () =>
      REJECT_REASONS.map((r, i) => [{ reason: r }, counters.rejected[i]]),
    );

    _gauge(registers, "xctl_waitson_edges", "Current waits_on edges.", [], () => [[{}, graph.edges.waits_on]]);
    _gauge(registers, "xctl_blockedby_edges", "Current blocked_by edges.", [], () => [[{}, graph.edges.blocked_by]]);
    _gauge(registers, "xctl_consumes_edges", "Current consumes edges.", [], () => [[{}, graph.edges.consumes]]);
    _gauge(registers, "xctl_active_processes", "Processes not exited.", [], () => [[{}, graph.activeProcesses]]);
    _gauge(registers, "xctl_active_resources", "Resource nodes.", [], () => [[{}, graph.resources.size]]);
    _gauge(registers, "xctl_error_nodes", "Error nodes inside the error window.", [], () => [[{}, graph.errors.size]]);
    _counter(registers, "xctl_graph_evictions_total", "Nodes evicted to stay within --max-nodes.", [], () => [[{}, graph.evictions]]);

    _counter(registers, "xctl_diagnoses_total", "Diagnosis runs.", [], () => [[{}, diagnosis.runs]]);
    _counter(registers, "xctl_diagnoses_by_scene", "Diagnosis runs that concluded with each scene.", ["scene"], () =>
      [...diagnosis.byScene].map(([scene, n]) => [{ scene }, n]),
    );
    _gauge(registers, "xctl_scene_active", "1 while a scene's rule matches, else 0.", ["scene"], () =>
      [...diagnosis.byScene.keys()].map((scene) => [{ scene }, diagnosis.active.has(scene) ? 1 : 0]),
    );
    this.diagnosisLatency = new Histogram({
      name: "xctl_diagnosis_latency_seconds",
      help: "Duration of a diagnosis run.",
      buckets: LATENCY_BUCKETS,
      registers,
    });

    _gauge(registers, "xctl_probe_up", "1 while the probe's process runs, else 0.", ["probe"], () =>
      [...probes].map(([probe, s]) => [{ probe }, s.up ? 1 : 0]),
    );
    _counter(registers, "xctl_probe_restarts_total", "Probe restarts after it exited.", ["probe"], () =>
      [...probes].map(([probe, s]) => [{ probe }, s.restarts]),
    );
    _gauge(registers, "xctl_probe_last_event_timestamp_seconds", "Wall-clock time of the probe's last accepted event.", ["probe"], () =>
      [...probes].map(([probe, s]) => [{ probe }, s.lastEventMs / 1000]),
    );

    _gauge(registers, "xctl_ingest_queue_bytes", "Bytes of pushed event bodies being ingested.", [], () => [[{}, ingest.queueBytes]]);
    _counter(registers, "xctl_ingest_queue_full_total", "Ingest refused or paused at the queue bound, per source kind.", ["source_kind"], () =>
      [...ingest.queueFull].map(([kind, n]) => [{ source_kind: kind }, n]),
    );
    _gauge(registers, "xctl_sse_clients", "Connected event-stream clients.", [], () => [[{}, stream.clients]]);
    _counter(registers, "xctl_sse_dropped_total", "Event-stream clients cut off, per reason.", ["reason"], () =>
      [...stream.dropped].map(([reason, n]) => [{ reason }, n]),
    );

    const info = new Gauge({
      name: "xctl_build_info",
      help: "Build information; the value is always 1.",
      labelNames: ["version", "runtime"],
      registers,
    });
    info.set({ version: inputs.version, runtime: inputs.runtime }, 1);

    if (inputs.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of UNTRUTHFUL_DEFAULT_METRICS[inputs.runtime] ?? []) this.registry.removeSingleMetric(name);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

type Labels = Record<string, string>;
type Read = () => Iterable<[Labels, number]>;

function _gauge(registers: Registry[], name: string, help: string, labelNames: string[], read: Read): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, v] of read()) this.set(labels, v);
    },
  });
}

/** A counter whose total lives elsewhere: each scrape adds what was counted since the last. */
function _counter(registers: Registry[], name: string, help: string, labelNames: string[], read: Read): void {
  const reported = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, v] of read()) {
        const key = labelNames.length === 0 ? "" : labelNames.map((l) => labels[l]).join("\u0000");
        const delta = v - (reported.get(key) ?? 0);
        if (delta > 0 || !reported.has(key)) {
          this.inc(labels, Math.max(delta, 0));
          reported.set(key, v);
        }
      }
    },
  });
}
