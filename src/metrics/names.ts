// Every metric family the exporter serves. The seed names are the contract of SPEC §5;
// dashboards, alert rules and tests read this list rather than repeating the strings.

export const SEED_METRICS = {
  xctl_events_total: "counter",
  xctl_events_by_type: "counter",
  xctl_waitson_edges: "gauge",
  xctl_blockedby_edges: "gauge",
  xctl_consumes_edges: "gauge",
  xctl_diagnoses_total: "counter",
  xctl_diagnoses_by_scene: "counter",
  xctl_diagnosis_latency_seconds: "histogram",
  xctl_active_processes: "gauge",
  xctl_active_resources: "gauge",
  xctl_error_nodes: "gauge",
} as const;

/** Operator metrics beyond the seed set. Labels are bounded (reason, probe, scene). */
export const EXTRA_METRICS = {
  xctl_build_info: "gauge", // {version, runtime}
  xctl_events_rejected_total: "counter", // {reason}
  xctl_probe_up: "gauge", // {probe}
  xctl_probe_restarts_total: "counter", // {probe}
  xctl_probe_last_event_timestamp_seconds: "gauge", // {probe}
  xctl_scene_active: "gauge", // {scene}
  xctl_scene_activations_total: "counter", // {scene}
  xctl_scene_info: "gauge", // {scene, severity}
  xctl_diagnoses_on_demand_total: "counter",
  xctl_graph_evictions_total: "counter",
  xctl_ingest_queue_bytes: "gauge",
  xctl_ingest_queue_full_total: "counter", // {source_kind}: pauses and 503s at the queue bound
  xctl_sse_clients: "gauge",
  xctl_sse_dropped_total: "counter", // {reason}: slow or over the client cap
} as const;

export type MetricType = "counter" | "gauge" | "histogram";
