// Every metric family the exporter's registry serves, each declared once: name, type, help and
// label names. src/metrics/registry.ts registers each family from its entry here (no name is
// written there), in the order it serves them; dashboards, alert rules and tests read the
// SEED_METRICS and EXTRA_METRICS lists made from this table. The seed families are the
// contract of SPEC §5. Collectors declare their own families beside their code
// (`Source.registerMetrics`). Labels are bounded: never an entity, pid or job id.

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** One of SPEC §5's seed families. */
  readonly seed: boolean;
}

function _family(name: string, type: MetricType, help: string, labels: readonly string[] = [], seed = false): MetricFamily {
  return { name, type, help, labels, seed };
}

const SEED = true;

export const FAMILIES = {
  eventsTotal: _family("xctl_events_total", "counter", "Events accepted.", [], SEED),
  eventsByType: _family("xctl_events_by_type", "counter", "Events accepted, per event type.", ["event_type"], SEED),
  eventsRejected: _family("xctl_events_rejected_total", "counter", "Lines or objects rejected, per reason.", ["reason"]),

  waitsOnEdges: _family("xctl_waitson_edges", "gauge", "Current waits_on edges.", [], SEED),
  blockedByEdges: _family("xctl_blockedby_edges", "gauge", "Current blocked_by edges.", [], SEED),
  consumesEdges: _family("xctl_consumes_edges", "gauge", "Current consumes edges.", [], SEED),
  activeProcesses: _family("xctl_active_processes", "gauge", "Processes not exited.", [], SEED),
  activeResources: _family("xctl_active_resources", "gauge", "Resource nodes.", [], SEED),
  errorNodes: _family("xctl_error_nodes", "gauge", "Error nodes inside the error window.", [], SEED),
  graphEvictions: _family("xctl_graph_evictions_total", "counter", "Nodes evicted to stay within --max-nodes, per node kind.", ["kind"]),
  endedAnswers: _family("xctl_ended_answers", "gauge", "Last why answers kept for processes that left the graph (GET /api/v1/why/:pid answers them with ended: true)."),
  endedAnswersDropped: _family("xctl_ended_answers_dropped_total", "counter", "Last why answers dropped before their keep time to stay within their bound: the oldest, those with neither scene nor root cause first."),
  endedScenesSkipped: _family("xctl_ended_answers_scenes_skipped_total", "counter", "Processes that left the graph past the budget of rule asks per second: their last answer keeps no scenes."),

  diagnosesTotal: _family("xctl_diagnoses_total", "counter", "Automatic diagnosis runs (the runs scene state follows).", [], SEED),
  diagnosesOnDemand: _family("xctl_diagnoses_on_demand_total", "counter", "Diagnosis runs asked for through POST /api/v1/diagnoses; they change no scene state."),
  diagnosesByScene: _family("xctl_diagnoses_by_scene", "counter", "Automatic diagnosis runs that concluded with each scene.", ["scene"], SEED),
  sceneActive: _family("xctl_scene_active", "gauge", "1 while a scene is active (it held within --scene-settle), else 0.", ["scene"]),
  sceneActivations: _family("xctl_scene_activations_total", "counter", "Times each scene became active.", ["scene"]),
  sceneInfo: _family("xctl_scene_info", "gauge", "Each loaded scene with its severity; the value is always 1.", ["scene", "severity"]),
  diagnosisLatency: _family("xctl_diagnosis_latency_seconds", "histogram", "Duration of a diagnosis run.", [], SEED),

  rulesReloadSuccessful: _family("xctl_rules_last_reload_successful", "gauge", "1 if the last rule load (start-up, or a reload: SIGHUP, POST /-/reload) succeeded, else 0: the rules of the last success stay in force."),
  rulesReloadSuccessTime: _family("xctl_rules_last_reload_success_timestamp_seconds", "gauge", "Wall-clock time of the last rule load that succeeded (start-up counts)."),
  rulesReloads: _family("xctl_rules_reloads_total", "counter", "Rule reloads run (SIGHUP, POST /-/reload; requests during a reload make one more), by result: success or failure.", ["result"]),

  probeUp: _family("xctl_probe_up", "gauge", "1 while the probe's process runs, else 0 (also while it cannot be started).", ["probe"]),
  probeRestarts: _family("xctl_probe_restarts_total", "counter", "Probe restarts after it exited; retries of a probe that cannot be started are not counted.", ["probe"]),
  probeLastEvent: _family("xctl_probe_last_event_timestamp_seconds", "gauge", "Wall-clock time of the probe's last accepted event.", ["probe"]),

  ingestQueueBytes: _family("xctl_ingest_queue_bytes", "gauge", "Bytes of pushed event bodies being ingested."),
  ingestQueueFull: _family("xctl_ingest_queue_full_total", "counter", "Ingest refused at the queue bound, per source kind.", ["source_kind"]),
  sseClients: _family("xctl_sse_clients", "gauge", "Connected event-stream clients."),
  sseDropped: _family("xctl_sse_dropped_total", "counter", "Event-stream clients cut off, per reason.", ["reason"]),

  buildInfo: _family("xctl_build_info", "gauge", "Build information; the value is always 1.", ["version", "runtime"]),
} as const satisfies Record<string, MetricFamily>;

function _types(seed: boolean): Record<string, MetricType> {
  return Object.fromEntries(Object.values(FAMILIES).filter((f) => f.seed === seed).map((f) => [f.name, f.type]));
}

/** SPEC §5's families, name to type. */
export const SEED_METRICS: Readonly<Record<string, MetricType>> = _types(true);

/** Operator families beyond the seed set, name to type. */
export const EXTRA_METRICS: Readonly<Record<string, MetricType>> = _types(false);
