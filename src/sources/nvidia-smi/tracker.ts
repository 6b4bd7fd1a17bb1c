// Turns nvidia-smi samples into SPEC §2 events. Pure: the caller passes the clock, so the
// crossing and refresh rules are tested without waiting.
import { memPercent, type AppSample, type GpuSample } from "./csv.ts";
import type { SourceEvent } from "../source.ts";

export type SmiEvent = SourceEvent<"compute.util" | "compute.mem" | "process.state" | "error.hw">;

export interface TrackerOptions {
  /** TEMP_HIGH above this many degrees C. */
  tempThreshold?: number;
  /** While a GPU stays hot, repeat TEMP_HIGH this often so its error node does not expire. */
  tempRefreshMs?: number;
}

interface GpuState {
  entity: string;
  util?: number;
  mem?: number;
  ecc?: number;
  /** When TEMP_HIGH was last sent; undefined while the GPU is at or below the threshold. */
  hotSentAt?: number;
}

/** `gpu-00`, `gpu-01`, ...: the names the default rules match with `gpu-*`. */
export function gpuEntity(index: number): string {
  return `gpu-${String(index).padStart(2, "0")}`;
}

export class NvidiaSmiTracker {
  readonly tempThreshold: number;
  readonly tempRefreshMs: number;
  private readonly _gpus = new Map<number, GpuState>();
  private readonly _byUuid = new Map<string, number>();
  private readonly _byBus = new Map<string, number>();
  /** Compute processes in the last snapshot: pid -> the GPU it was first listed on. */
  private _procs = new Map<number, string>();

  constructor(opts: TrackerOptions = {}) {
    this.tempThreshold = opts.tempThreshold ?? 90;
    this.tempRefreshMs = opts.tempRefreshMs ?? 60_000;
  }

  get gpuCount(): number {
    return this._gpus.size;
  }

  /** One `--query-gpu` line: the GPU's own util and mem, and hardware errors on change. */
  gpu(s: GpuSample, now: number): SmiEvent[] {
    let st = this._gpus.get(s.index);
    if (!st) {
      st = { entity: gpuEntity(s.index) };
      this._gpus.set(s.index, st);
    }
    if (s.uuid !== undefined) this._byUuid.set(s.uuid, s.index);
    if (s.busId !== undefined) this._byBus.set(s.busId, s.index);
    const entity = st.entity;
    const out: SmiEvent[] = [];
    st.util = s.util;
    st.mem = memPercent(s.memUsed, s.memTotal);
    if (st.util !== undefined) out.push({ ts: now, event_type: "compute.util", entity_id: entity, value: String(st.util) });
    if (st.mem !== undefined) out.push({ ts: now, event_type: "compute.mem", entity_id: entity, value: String(st.mem) });

    // Volatile counts only grow until the driver reloads; a fall is a reset, not news.
    const ecc = s.eccUncorrected;
    if (ecc !== undefined) {
      if (ecc > 0 && ecc > (st.ecc ?? 0)) {
        out.push({ ts: now, event_type: "error.hw", entity_id: entity, value: `ECC_UNCORRECTED count=${ecc}` });
      }
      st.ecc = ecc;
    }

    const temp = s.temp;
    if (temp !== undefined) {
      if (temp > this.tempThreshold) {
        if (st.hotSentAt === undefined || now - st.hotSentAt >= this.tempRefreshMs) {
          out.push({ ts: now, event_type: "error.hw", entity_id: entity, value: `TEMP_HIGH temp=${temp}` });
          st.hotSentAt = now;
        }
      } else {
        st.hotSentAt = undefined;
      }
    }
    return out;
  }

  /**
   * One complete `--query-compute-apps` snapshot: a pid-carrying event per process and GPU
   * (so the graph gets `consumes` edges), and `exit` for processes gone since the last one.
   * The pid events carry the GPU's own figures, because the graph keeps the value on the GPU
   * node and a per-process share there would contradict the GPU-level event.
   */
  apps(rows: readonly AppSample[], now: number): SmiEvent[] {
    const out: SmiEvent[] = [];
    const seen = new Map<number, string>();
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
      if (!seen.has(pid)) out.push({ ts: now, event_type: "process.state", entity_id: entity, pid, value: "exit" });
    }
    this._procs = seen;
    return out;
  }

  private _indexOf(row: AppSample): number | undefined {
    if (row.gpuUuid !== undefined) {
      const i = this._byUuid.get(row.gpuUuid);
      if (i !== undefined) return i;
    }
    return row.gpuBusId !== undefined ? this._byBus.get(row.gpuBusId) : undefined;
  }
}
