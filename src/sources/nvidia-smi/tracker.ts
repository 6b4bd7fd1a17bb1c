// Turns nvidia-smi samples into SPEC §2 events. Pure: the caller passes the clock, so the
// crossing and refresh rules are tested without waiting.
import { memPercent, type AppSample, type GpuSample, type LostGpu, type RemapSample } from "./csv.ts";
import { gpuName, nameGpu, normaliseBus } from "../gpu-name.ts";
import type { SourceEvent } from "../source.ts";

export type SmiEvent = SourceEvent<"compute.util" | "compute.mem" | "process.state" | "error.hw">;

export interface TrackerOptions {
  /** TEMP_HIGH above this many degrees C. */
  tempThreshold?: number;
  /**
   * While a condition lasts (hot, lost, rows or pages pending, a remap failure, HW slowdown, a
   * narrowed PCIe link), repeat its event this often so its error node does not expire.
   */
  tempRefreshMs?: number;
  /**
   * HW slowdown is reported after this many samples in a row: nvidia-smi may also show it for
   * an instant during a P-state or clock change.
   */
  slowdownSamples?: number;
}

/** Conditions that last, each repeated like TEMP_HIGH while it holds. */
type Held = "hot" | "lost" | "retired" | "remapPending" | "remapFailure" | "slowdown" | "narrowLink";

interface GpuState {
  entity: string;
  util?: number;
  mem?: number;
  ecc?: number;
  /** When each condition's event was last sent; absent while it does not hold. */
  sentAt: Map<Held, number>;
  /** Samples in a row in which a condition said only once sustained (HW slowdown, a narrowed link) held. */
  runs: Map<Held, number>;
}

/** Names of the HW clock event reasons, as the event value lists them. */
const _SLOWDOWN_REASONS = [
  ["hwSlowdown", "hw_slowdown"],
  ["hwThermalSlowdown", "hw_thermal_slowdown"],
  ["hwPowerBrakeSlowdown", "hw_power_brake_slowdown"],
] as const;

export class NvidiaSmiTracker {
  readonly tempThreshold: number;
  readonly tempRefreshMs: number;
  readonly slowdownSamples: number;
  private readonly _gpus = new Map<number, GpuState>();
  /**
   * GPUs nvidia-smi has no handle for and no index was known: normalised bus id -> state, its
   * entity named once (a rank or the bus id) and kept while it lasts (bounded).
   */
  private readonly _unindexed = new Map<string, GpuState>();
  private readonly _byUuid = new Map<string, number>();
  private readonly _byBus = new Map<string, number>();
  /** Compute processes in the last snapshot: pid -> the GPU it was first listed on. */
  private _procs = new Map<number, string>();
  /** Those of `_procs` kept by the last snapshot only because their GPU could not be asked. */
  private _kept: number[] = [];
  /** `gpu-NN: N` for each GPU whose first count of uncorrected ECC errors was above 0: the index logs and empties it. */
  staleEcc: string[] = [];

  constructor(opts: TrackerOptions = {}) {
    this.tempThreshold = opts.tempThreshold ?? 90;
    this.tempRefreshMs = opts.tempRefreshMs ?? 60_000;
    this.slowdownSamples = Math.max(1, opts.slowdownSamples ?? 3);
  }

  get gpuCount(): number {
    return this._gpus.size;
  }

  /** One `--query-gpu` line: the GPU's own util and mem, and hardware errors on change. */
  gpu(s: GpuSample, now: number): SmiEvent[] {
    const st = this._state(s.index);
    if (s.uuid !== undefined) this._byUuid.set(s.uuid, s.index);
    if (s.busId !== undefined) this._byBus.set(s.busId, s.index);
    const entity = st.entity;
    const out: SmiEvent[] = [];
    st.util = s.util;
    st.mem = memPercent(s.memUsed, s.memTotal);
    if (st.util !== undefined) out.push({ ts: now, event_type: "compute.util", entity_id: entity, value: String(st.util) });
    if (st.mem !== undefined) out.push({ ts: now, event_type: "compute.mem", entity_id: entity, value: String(st.mem) });

    // Volatile counts only grow until the driver reloads or the GPU resets; a fall is a reset,
    // not news. The first count read is a baseline: errors counted before this exporter started,
    // at a time nothing tells, are no fault of the processes on the GPU now (an exporter
    // restart made a week-old double-bit error theirs); the GPU's standing state says itself
    // (ROW_REMAP_PENDING, RETIRED_PAGES_PENDING), and the index logs the count.
    const ecc = s.eccUncorrected;
    if (ecc !== undefined) {
      if (st.ecc === undefined) {
        if (ecc > 0) this.staleEcc.push(`${entity}: ${ecc}`);
      } else if (ecc > 0 && ecc > st.ecc) {
        out.push({ ts: now, event_type: "error.hw", entity_id: entity, value: `ECC_UNCORRECTED count=${ecc}` });
      }
      st.ecc = ecc;
    }

    if (s.temp !== undefined) this._hold(st, "hot", s.temp > this.tempThreshold, now, `TEMP_HIGH temp=${s.temp}`, out);
    // [GPU requires reset] is a GPU the driver still holds but cannot use until a reset.
    const lost = s.lost === undefined ? "" : /reset/i.test(s.lost) ? "GPU_RESET_REQUIRED" : "GPU_LOST";
    const before = out.length;
    this._hold(st, "lost", lost !== "", now, `${lost} fields read [${s.lost}]`, out);
    if (out.length > before) _unknownLoad(st, `[${s.lost}]`, now, out);
    if (s.retiredPending !== undefined) {
      this._hold(st, "retired", s.retiredPending, now, "RETIRED_PAGES_PENDING retired_pages.pending=Yes: takes effect at the next GPU reset", out);
    }
    const reasons = _SLOWDOWN_REASONS.filter(([key]) => s[key] === true).map(([, name]) => name);
    const known = _SLOWDOWN_REASONS.some(([key]) => s[key] !== undefined);
    if (known) {
      this._sustained(st, "slowdown", reasons.length > 0, now, `HW_SLOWDOWN ${reasons.join(",")}`, out);
    }
    // A link trained to fewer lanes than the GPU and its slot support (a riser, a cable, a seat):
    // every copy to and from the host is slower. Sustained, as HW slowdown (a link retrains for an
    // instant after an error).
    if (s.linkWidth !== undefined && s.linkWidthMax !== undefined) {
      this._sustained(st, "narrowLink", s.linkWidth < s.linkWidthMax, now, `PCIE_LINK_DEGRADED width x${s.linkWidth} of x${s.linkWidthMax}`, out);
    }
    return out;
  }

  /**
   * A GPU nvidia-smi has no handle for: GPU_LOST on its `gpu-NN` when its bus id was seen in an
   * earlier sample or the line names its index; else named as builtin:kmsg names the same GPU
   * from an Xid's bus id (gpu-name.ts): by its rank in `driver`, the driver's GPUs in PCI bus
   * order (driverGpus; null when not read), where that agrees with the indexes samples gave,
   * else `gpu-<bus>`. An exporter started after the GPU fell off the bus has seen no sample of it.
   */
  lost(l: LostGpu, now: number, driver: readonly string[] | null = null): SmiEvent[] {
    const out: SmiEvent[] = [];
    // Its index from an earlier sample, else the one later drivers print in the line itself.
    const index = this._byBus.get(l.busId) ?? l.index;
    let st: GpuState;
    if (index !== undefined) {
      st = this._state(index);
    } else {
      const key = normaliseBus(l.busId) ?? l.busId;
      st = this._unindexed.get(key) ?? { entity: nameGpu(key, this._known(), driver), sentAt: new Map(), runs: new Map() };
      if (!this._unindexed.has(key) && this._unindexed.size >= 64) this._unindexed.clear();
      this._unindexed.set(key, st);
    }
    this._hold(st, "lost", true, now, `GPU_LOST ${l.said}`, out);
    if (out.length > 0) _unknownLoad(st, "[GPU is lost]", now, out);
    return out;
  }

  /** Whether lost() would name this GPU by the driver's list: no index known for it, and not named yet. */
  needsDriverList(l: LostGpu): boolean {
    return l.index === undefined && !this._byBus.has(l.busId) && !this._unindexed.has(normaliseBus(l.busId) ?? l.busId);
  }

  /**
   * One `--query-remapped-rows` snapshot: ROW_REMAP_FAILURE (replace the GPU) and
   * ROW_REMAP_PENDING (reset it once drained) on the GPU of each row, while they last.
   */
  remap(rows: readonly RemapSample[], now: number): SmiEvent[] {
    const out: SmiEvent[] = [];
    for (const row of rows) {
      const index = this._indexOf({ gpuUuid: row.uuid, gpuBusId: row.busId });
      if (index === undefined) continue; // GPU not sampled yet: next snapshot
      const st = this._state(index);
      if (row.failure !== undefined) {
        this._hold(st, "remapFailure", row.failure, now, "ROW_REMAP_FAILURE remapped_rows.failure=Yes: replace the GPU", out);
      }
      if (row.pending !== undefined) {
        this._hold(st, "remapPending", row.pending, now, "ROW_REMAP_PENDING remapped_rows.pending=Yes: reset the GPU once drained", out);
      }
    }
    return out;
  }

  /**
   * One `--query-compute-apps` snapshot: a pid-carrying event per process and GPU (so the graph
   * gets `consumes` edges), and `exit` for processes gone since the last one. The pid events
   * carry the GPU's own figures, because the graph keeps the value on the GPU node and a
   * per-process share there would contradict the GPU-level event.
   *
   * `lost`: the GPUs nvidia-smi printed no handle for in this run (apps.ts). A process last
   * listed on one of them, or on a GPU whose fields read lost, has not left: its GPU can no
   * longer be asked, and the process hangs in the driver (blocked by the GPU_LOST). It is kept,
   * without readings, and ended when a snapshot taken once the GPU answers again lacks it, or
   * when the host's /proc says it has gone (`kept`, `end`).
   */
  apps(rows: readonly AppSample[], now: number, lost: readonly LostGpu[] = []): SmiEvent[] {
    const out: SmiEvent[] = [];
    const seen = new Map<number, string>();
    const unaskable = this._lostEntities(lost);
    this._kept = [];
    for (const row of rows) {
      const index = this._indexOf(row);
      if (index === undefined) continue; // GPU not sampled yet: next snapshot
      const st = this._gpus.get(index)!;
      if (!seen.has(row.pid)) seen.set(row.pid, st.entity);
      if (st.util !== undefined) {
        out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, pid: row.pid, value: String(st.util) });
      } else if (st.mem !== undefined) {
        out.push({ ts: now, event_type: "compute.mem", entity_id: st.entity, pid: row.pid, value: String(st.mem) });
      }
    }
    for (const [pid, entity] of this._procs) {
      if (seen.has(pid)) continue;
      if (unaskable.has(entity)) {
        seen.set(pid, entity);
        this._kept.push(pid);
      } else out.push({ ts: now, event_type: "process.state", entity_id: entity, pid, value: "exit" });
    }
    this._procs = seen;
    return out;
  }

  /** The pids the last snapshot kept because their GPU could not be asked. */
  get kept(): readonly number[] {
    return this._kept;
  }

  /** Ends a kept pid that has gone from the host (its `exit`), or nothing when it is not kept. */
  end(pid: number, now: number): SmiEvent[] {
    const entity = this._procs.get(pid);
    if (entity === undefined || !this._kept.includes(pid)) return [];
    this._procs.delete(pid);
    this._kept = this._kept.filter((p) => p !== pid);
    return [{ ts: now, event_type: "process.state", entity_id: entity, pid, value: "exit" }];
  }

  /** The entities of the GPUs that cannot be asked now: named by `lost`, or read lost by the GPU query. */
  private _lostEntities(lost: readonly LostGpu[]): Set<string> {
    const out = new Set<string>();
    for (const l of lost) {
      const index = this._byBus.get(l.busId) ?? l.index;
      if (index !== undefined) out.add(gpuName(index));
    }
    for (const st of this._gpus.values()) if (st.sentAt.has("lost")) out.add(st.entity);
    return out;
  }

  private _state(index: number): GpuState {
    let st = this._gpus.get(index);
    if (!st) {
      st = { entity: gpuName(index), sentAt: new Map(), runs: new Map() };
      this._gpus.set(index, st);
    }
    return st;
  }

  /** A lasting condition: its event on onset and every tempRefreshMs while it holds. */
  /** `_hold` for a condition nvidia-smi may show for an instant: once it held `slowdownSamples` samples in a row. */
  private _sustained(st: GpuState, what: Held, holds: boolean, now: number, value: string, out: SmiEvent[]): void {
    const run = holds ? (st.runs.get(what) ?? 0) + 1 : 0;
    st.runs.set(what, run);
    this._hold(st, what, run >= this.slowdownSamples, now, value, out);
  }

  private _hold(st: GpuState, what: Held, holds: boolean, now: number, value: string, out: SmiEvent[]): void {
    if (!holds) {
      st.sentAt.delete(what);
      return;
    }
    const at = st.sentAt.get(what);
    if (at !== undefined && now - at < this.tempRefreshMs) return;
    out.push({ ts: now, event_type: "error.hw", entity_id: st.entity, value });
    st.sentAt.set(what, now);
  }

  /** The indexes samples gave, by normalised bus id. */
  private _known(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [bus, index] of this._byBus) {
      const key = normaliseBus(bus);
      if (key !== null) out.set(key, index);
    }
    return out;
  }

  private _indexOf(row: Pick<AppSample, "gpuUuid" | "gpuBusId">): number | undefined {
    if (row.gpuUuid !== undefined) {
      const i = this._byUuid.get(row.gpuUuid);
      if (i !== undefined) return i;
    }
    return row.gpuBusId !== undefined ? this._byBus.get(row.gpuBusId) : undefined;
  }
}

/**
 * A GPU the driver lost has no utilisation or memory to read: said as readings that are no number
 * (what nvidia-smi prints in those fields), so that its last figures from before the fall do not
 * stand for now (a GPU that fell off the bus during a checkpoint read 0% and was "idle" for good:
 * gpu_util_low for the rank stuck on it). Said with the GPU_LOST event, at onset and each time it
 * is repeated; the per-process readings stop with the process rows.
 */
function _unknownLoad(st: GpuState, said: string, now: number, out: SmiEvent[]): void {
  st.util = st.mem = undefined;
  out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, value: said });
  out.push({ ts: now, event_type: "compute.mem", entity_id: st.entity, value: said });
}
