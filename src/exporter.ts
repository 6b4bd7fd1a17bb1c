// The composition root: owns the graph, the diagnosis, the metrics and the sources. HTTP and
// the CLI sit on top of this; nothing here knows how it is served.
import type { ConsolaInstance } from "consola";
import { EventCounters } from "./events/counters.ts";
import { EventHub } from "./events/hub.ts";
import { LineFramer } from "./events/lines.ts";
import { describeRejection, parseLine, validateEvent } from "./events/parse.ts";
import { EventScanner } from "./events/scan.ts";
import {
  DEFAULT_MAX_LINE_BYTES,
  eventTypeIndex,
  REJECT_REASON_INDEX,
  type RejectReason,
  type XEvent,
} from "./events/schema.ts";
import { DiagnosisEngine } from "./diagnosis/engine.ts";
import type { Rule } from "./diagnosis/rule.ts";
import { defaultRules } from "./diagnosis/rules-load.ts";
import { StateGraph } from "./graph/graph.ts";
import { Metrics, type DiagnosisState, type IngestState, type ProbeState } from "./metrics/registry.ts";
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
  /** Diagnosis rules (default: the embedded set). */
  rules?: readonly Rule[];
  /** Debounce of automatic diagnosis runs (default 1000 ms; event time when liveClock is off). */
  diagnosisIntervalMs?: number;
  /** Event-time automatic runs describe their scenes and keep results (default true; replay: false). */
  describeAutoRuns?: boolean;
}

/** A byte stream of NDJSON framed for one source. */
export interface LineInput {
  push(chunk: Uint8Array): void;
  end(): void;
}

export class Exporter {
  readonly log: ConsolaInstance;
  readonly counters = new EventCounters();
  readonly graph: StateGraph;
  readonly hub: EventHub;
  readonly probes = new Map<string, ProbeState>();
  readonly diagnosis: DiagnosisState = { runs: 0, byScene: new Map(), active: new Set() };
  readonly ingest: IngestState = { queueBytes: 0, queueFull: new Map([["http", 0]]) };
  readonly metrics: Metrics;
  /** Runs the rules over the graph and the event window; keeps `diagnosis` up to date. */
  readonly engine: DiagnosisEngine;
  readonly maxLineBytes: number;
  /** Why /readyz says 503; null once rules are loaded and sources started. */
  notReadyReason: string | null = "starting";

  private readonly _sources: Source[] = [];
  /** The byte-level fast path of parsing, shared by every line input (one thread reads them all). */
  private readonly _scanner = new EventScanner();
  private _timer: ReturnType<typeof setInterval> | undefined;
  private readonly _liveClock: boolean;
  private _rejectLog = { windowStart: 0, logged: 0, suppressed: 0 };

  constructor(opts: ExporterOptions) {
    this.log = opts.log;
    this.maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.graph = new StateGraph({
      errorWindowMs: opts.errorWindowMs,
      maxNodes: opts.maxNodes,
      resourceTtlMs: opts.resourceTtlMs,
    });
    this.hub = new EventHub({ maxClients: opts.maxSseClients, maxBuffered: opts.sseBuffer });
    this._liveClock = opts.liveClock ?? true;
    const hub = this.hub;
    this.metrics = new Metrics({
      counters: this.counters,
      graph: this.graph,
      probes: this.probes,
      diagnosis: this.diagnosis,
      ingest: this.ingest,
      stream: {
        get clients() {
          return hub.clients;
        },
        dropped: hub.dropped,
      },
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
    });
    this.engine.setRules(opts.rules ?? defaultRules());
  }

  /** Takes one accepted event through graph, diagnosis and the live stream. `wall`: its receipt time. */
  accept(ev: XEvent, probe?: ProbeState, wall = Date.now()): void {
    this.counters.accepted++;
    this.counters.byType[eventTypeIndex(ev.event_type)]++;
    this.graph.apply(ev, wall);
    this.engine.accept(ev, wall);
    this.hub.publish(ev);
    if (probe !== undefined) probe.lastEventMs = wall;
  }

  /** Counts a rejection and logs it, at most a few lines a second. */
  reject(reason: RejectReason, sample: string, source: string): void {
    this.counters.rejected[REJECT_REASON_INDEX.get(reason)!]++;
    const now = Date.now();
    const rl = this._rejectLog;
    if (now - rl.windowStart >= 1000) {
      if (rl.suppressed > 0) this.log.warn(`${rl.suppressed} more rejected events not logged`);
      rl.windowStart = now;
      rl.logged = 0;
      rl.suppressed = 0;
    }
    if (rl.logged < 5) {
      rl.logged++;
      this.log.warn(`rejected event from ${source}: ${describeRejection(reason, sample)}${sample ? `: ${sample.slice(0, 120)}` : ""}`);
    } else rl.suppressed++;
  }

  /** One line of NDJSON received at `wall`. Returns the rejection reason, or undefined when accepted. */
  ingestLine(line: string, source: string, probe?: ProbeState, wall = Date.now()): RejectReason | undefined {
    const r = parseLine(line, wall);
    if (typeof r === "string") {
      this.reject(r, line, source);
      return r;
    }
    this.accept(r, probe, wall);
    return undefined;
  }

  /** One decoded JSON value (HTTP pushes, built-in sources). */
  ingestObject(obj: unknown, source: string, probe?: ProbeState): RejectReason | undefined {
    const r = validateEvent(obj, Date.now());
    if (typeof r === "string") {
      this.reject(r, _sample(obj), source);
      return r;
    }
    this.accept(r, probe);
    return undefined;
  }

  /** A framed byte input for one source; rejections from framing are counted too. */
  lineInput(source: string, probe?: ProbeState, onReject?: (reason: RejectReason, sample: string) => void): LineInput {
    // The lines of one chunk arrived together: one clock read per chunk, not per line
    // (Date.now() costs ~40 ns on Bun, as much as a graph update).
    let received = 0;
    const scanner = this._scanner;
    const framer = new LineFramer(
      this.maxLineBytes,
      (line) => {
        const reason = this.ingestLine(line, source, probe, received);
        if (reason !== undefined) onReject?.(reason, line);
      },
      (reason, sample) => {
        this.reject(reason, sample, source);
        onReject?.(reason, sample);
      },
      (buf, from, to) => {
        const max = this.maxLineBytes;
        let at = from;
        while (at < to) {
          const ev = scanner.scanLine(buf, at, to, max, received);
          if (ev === undefined) break;
          at = scanner.next;
          this.accept(ev, probe, received);
        }
        return at;
      },
    );
    return {
      push(chunk) {
        received = Date.now();
        framer.push(chunk);
      },
      end() {
        received = Date.now();
        framer.end();
      },
    };
  }

  addSource(source: Source): void {
    if (this.probes.has(source.name)) throw new Error(`two sources named ${source.name}`);
    this._sources.push(source);
    this.probes.set(source.name, { up: false, restarts: 0, lastEventMs: 0 });
    source.registerMetrics?.(this.metrics.registry);
  }

  get sources(): readonly Source[] {
    return this._sources;
  }

  start(): void {
    for (const source of this._sources) source.start(this._context(source));
    if (this._liveClock) {
      this._timer = setInterval(() => this.graph.cleanup(Date.now()), 1000);
      (this._timer as { unref?: () => void }).unref?.();
    }
    this.notReadyReason = null;
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
    const input = this.lineInput(source.name, probe);
    return {
      push: (chunk) => {
        input.push(chunk);
        return undefined;
      },
      end: () => input.end(),
      emit: (event) => void this.ingestObject(event, source.name, probe),
      setUp: (up) => {
        probe.up = up;
      },
      restarted: () => {
        probe.restarts++;
      },
      processes: () => {
        const out = [];
        for (const p of this.graph.processes.values()) out.push({ pid: p.pid, jobId: p.jobId ?? null, state: p.state });
        return out;
      },
      log: this.log.withTag(source.name),
    };
  }
}

function _sample(obj: unknown): string {
  try {
    return JSON.stringify(obj)?.slice(0, 120) ?? String(obj);
  } catch {
    return String(obj);
  }
}
