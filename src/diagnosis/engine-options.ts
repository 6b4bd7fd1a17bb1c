// What a DiagnosisEngine is built with (engine.ts).
import type { StateGraph } from "../graph/graph.ts";
import type { DiagnosisState } from "./state.ts";

export interface EngineOptions {
  graph: StateGraph;
  /** Shared with the metrics: run and scene counts, active scenes. */
  state: DiagnosisState;
  /** Observes each automatic run's duration in seconds (xctl_diagnosis_latency_seconds). */
  latency?: { observe(seconds: number): void };
  /** How long an event keeps an event condition true (default: the graph's error window). */
  windowMs?: number;
  /** Debounce of automatic runs (default 1000 ms). */
  intervalMs?: number;
  /** Wall-clock timers (default true); false debounces by event time, for replay. */
  liveClock?: boolean;
  /** Automatic results kept for the API (default 100). */
  ringSize?: number;
  /** On-demand results kept for the API, apart from the automatic ones (default 20). */
  onDemandRingSize?: number;
  /** A scene clears only after it has not held for this long (default 60 s; wall time live, event time in replay). */
  sceneSettleMs?: number;
  /**
   * Whether event-time automatic runs describe their scenes and keep a result (default true).
   * A replay reads only its final run: without, such a run only counts, like a described
   * one (runs, top scene, active scenes, latency), and skips building evidence nobody reads.
   */
  describeAutoRuns?: boolean;
}
