// One interface for everything that produces events: probes, stdin, the demo, nvidia-smi.
import type { ConsolaInstance } from "consola";
import type { Registry } from "prom-client";
import type { EventType } from "../events/schema.ts";

/**
 * An event a built-in collector emits (SPEC §2's fields, `ts` in milliseconds), typed by the
 * event types it may carry. A type alias, not an interface, so it passes as
 * Record<string, unknown> to `emit`.
 */
export type SourceEvent<T extends EventType = EventType> = {
  ts: number;
  event_type: T;
  entity_id: string;
  pid?: number;
  job_id?: string;
  value: string;
};

export interface SourceContext {
  /**
   * NDJSON bytes as read. Lines are framed per source, so a line split across reads is
   * joined. Back-pressure is structural: a returned promise means ingest has spent its share of
   * this event-loop turn and kept the rest of the chunk; read nothing more until it settles.
   * That is how a flooding probe's pipe fills and the probe blocks on write instead of the
   * server stalling or data being lost.
   */
  push(chunk: Uint8Array): Promise<void> | undefined;
  /** The byte stream ended: flush a last line that had no newline (after any bytes still held), reset the framing. */
  end(): void;
  /** An event built in-process; validated exactly like a parsed line. */
  emit(event: Record<string, unknown>): void;
  /**
   * Whether the source is producing (probe running). Shown as xctl_probe_up. `reason`, with
   * `up` false: why it cannot run at all (`cannot start: /x/probe: no such file`), shown beside
   * its state until it runs again.
   */
  setUp(up: boolean, reason?: string): void;
  /** The source's process was restarted after it exited. Counted in xctl_probe_restarts_total. */
  restarted(): void;
  /**
   * How its last run ended (`exited with status 3`, `killed by SIGSEGV`), shown beside a
   * crash-looping or down state, so `status` says why without the log.
   */
  exited?(how: string): void;
  /**
   * The processes the graph holds now (pid, job id, state), for collectors that look each of
   * them up on the host (`builtin:procfs`, the per-process part of `builtin:infiniband`).
   */
  processes(): KnownProcess[];
  /**
   * How long the graph keeps an error node after its last event (--error-window). A fault read
   * from a backlog (the kernel ring at start) older than this is no news: the graph would
   * expire it, yet it would start a scene first.
   */
  errorWindowMs?: number;
  log: ConsolaInstance;
}

/** A process as the graph holds it. */
export interface KnownProcess {
  pid: number;
  jobId: string | null;
  state: string;
  /** False when the graph knows the process only from readings (nvidia-smi lists it), not its start; absent: not said. */
  startKnown?: boolean;
}

/** Where host collectors read, as node_exporter's `--path.procfs` and `--path.sysfs`. */
export interface HostPaths {
  procfs: string;
  sysfs: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = Object.freeze({ procfs: "/proc", sysfs: "/sys" });

export interface Source {
  /** Bounded label value (`demo`, `nvidia-smi`, the probe's command name). */
  readonly name: string;
  start(ctx: SourceContext): void;
  /** Stop producing; kill and reap any child process. Resolves within a second. */
  stop(): Promise<void>;
  /** Registers the source's own metrics (bounded labels) in the exporter's registry. */
  registerMetrics?(registry: Registry): void;
}
