// Turns npu-smi records into SPEC §2 events. Pure: the caller passes the clock.
//
// Names: chip 0 of NPU card N is `npu-NN` (`npu-03`), another chip C of that card `npu-NN-C`;
// its HCCS links are `hccs-N` (`hccs-N-C`). The default rules match `npu-*` and `hccs-*`.
import type { NpuChip, NpuEcc, NpuHccs, NpuHealth, NpuInfo } from "./parse.ts";
import type { SourceEvent } from "../source.ts";

export type NpuEvent = SourceEvent<"compute.util" | "compute.mem" | "process.state" | "error.hw" | "error.net" | "transport.drop" | "transport.bw">;

export interface NpuTrackerOptions {
  /** TEMP_HIGH above this many degrees C. */
  tempThreshold?: number;
  /** While a condition lasts (hot, unhealthy, HCCS down), repeat its event this often so its error node stays. */
  refreshMs?: number;
}

interface ChipState {
  entity: string;
  hccs: string;
  util?: number;
  mem?: number;
  hotSentAt?: number;
  /** The health condition last reported and when; cleared when the card is OK again. */
  healthKey?: string;
  healthSentAt?: number;
  ecc?: NpuEcc;
  hccsErrors?: number;
  hccsRetries?: number;
  hccsDownSentAt?: number;
  degradedKey?: string;
  /** Listed by some `info` table so far. */
  listed?: boolean;
  /** Missing from the tables since it was listed: when NPU_LOST was last said. */
  lostSentAt?: number;
}

const MAX_CODES = 8;
const MAX_INFO = 300;

export function npuEntity(npu: number, chip = 0): string {
  const base = `npu-${String(npu).padStart(2, "0")}`;
  return chip === 0 ? base : `${base}-${chip}`;
}

export function hccsEntity(npu: number, chip = 0): string {
  return chip === 0 ? `hccs-${npu}` : `hccs-${npu}-${chip}`;
}

/**
 * Error information to the words the default rules look for: each alarm line (`; `-separated)
 * gives one, so a temperature alarm and an ECC alarm at once are both said, while one line's
 * sensor (`node type=HBM, sensor type=Temperature`) is read before the node it sits on.
 */
export function healthKind(h: NpuHealth): string {
  const kinds = new Set<string>();
  for (const text of (h.info ?? "").split("; ")) kinds.add(_kindOf(text));
  // An alarm none of the words names beside an ECC alarm is read as the ECC error's doing (a
  // hang on bad memory): the ECC error says it. Beside heat, HCCS lanes or throttling alone it
  // is a fault of its own (an AI Core hang with a heat alarm is an NPU fault, not only
  // sub-health, a warning): said last, next to the health, as `npu_fault` reads it.
  if (kinds.delete("NPU_FAULT") && (kinds.size === 0 || !kinds.has("ECC memory error"))) kinds.add("NPU_FAULT");
  return [...kinds].join(" ");
}

function _kindOf(text: string): string {
  if (/temp|thermal|overheat/i.test(text)) return "TEMP_HIGH";
  if (/ecc|hbm|ddr|memory|multi.?bit|double.?bit/i.test(text)) return "ECC memory error";
  if (/hccs/i.test(text)) return "HCCS_DEGRADED";
  if (/freq|throttl|power/i.test(text)) return "FREQ_THROTTLE";
  return "NPU_FAULT";
}

const _ECC_NAMES = { hbmDoubleBit: "hbm", ddrDoubleBit: "ddr", doubleBit: "count" } as const;

export class NpuSmiTracker {
  readonly tempThreshold: number;
  readonly refreshMs: number;
  private readonly _chips = new Map<string, ChipState>();
  /** Processes in the last table: pid -> the chip it was first listed on. */
  private _procs = new Map<number, string>();
  /** pid -> chips it is listed on, from the last table. */
  private _onChip = new Map<string, number[]>();
  /** Chips the last table left out after listing them before, and those it lists again: for the log. */
  lostNow: string[] = [];
  backNow: string[] = [];
  /** Chips the process part of the last table names and its chip part never listed. */
  strayNow: string[] = [];
  /** `npu-NN: double-bit hbm=N` for each chip whose first ECC reading counted errors: the index logs and empties it. */
  staleEcc: string[] = [];

  constructor(opts: NpuTrackerOptions = {}) {
    this.tempThreshold = opts.tempThreshold ?? 90;
    this.refreshMs = opts.refreshMs ?? 60_000;
  }

  /** Chips seen so far, as [npu, chip]. */
  get chips(): [number, number][] {
    return [...this._chips.keys()].map((k) => k.split(":").map(Number) as [number, number]);
  }

  /** One `npu-smi info` table: util and HBM per chip, heat, and processes (pid events and exits). */
  info(t: NpuInfo, now: number): NpuEvent[] {
    const out: NpuEvent[] = [];
    const listed = new Set(t.chips.map((c) => `${c.npu}:${c.chip}`));
    this.lostNow = [];
    this.backNow = [];
    this.strayNow = [];
    if (listed.size > 0) this._lost(listed, now, out);
    // Heat goes after the processes: an error reaches the processes using the chip when it comes,
    // so a process already on a hot chip at the first table must be known by then.
    const heat: NpuEvent[] = [];
    for (const c of t.chips) {
      const st = this._state(c.npu, c.chip);
      st.listed = true;
      if (st.lostSentAt !== undefined) {
        st.lostSentAt = undefined;
        this.backNow.push(st.entity);
      }
      st.util = c.util;
      st.mem = c.memUsed !== undefined && c.memTotal !== undefined && c.memTotal > 0 ? Math.round((c.memUsed / c.memTotal) * 1000) / 10 : undefined;
      if (st.util !== undefined) out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, value: String(st.util) });
      if (st.mem !== undefined) out.push({ ts: now, event_type: "compute.mem", entity_id: st.entity, value: String(st.mem) });
      this._heat(c, st, now, heat);
    }
    const seen = new Map<number, string>();
    const onChip = new Map<string, number[]>();
    for (const p of t.processes) {
      const st = this._chips.get(`${p.npu}:${p.chip}`);
      if (!st) {
        // A chip no table has listed: not made up, and the pid, alive, is not ended either.
        const was = this._procs.get(p.pid);
        if (was !== undefined && !seen.has(p.pid)) seen.set(p.pid, was);
        this.strayNow.push(`NPU ${p.npu} chip ${p.chip}`);
        continue;
      }
      if (!seen.has(p.pid)) seen.set(p.pid, st.entity);
      // Still listed on a chip the table left out: alive, but its chip's figures are not known.
      if (!listed.has(`${p.npu}:${p.chip}`)) continue;
      onChip.set(st.entity, [...(onChip.get(st.entity) ?? []), p.pid]);
      if (st.util !== undefined) out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, pid: p.pid, value: String(st.util) });
      else if (st.mem !== undefined) out.push({ ts: now, event_type: "compute.mem", entity_id: st.entity, pid: p.pid, value: String(st.mem) });
      // A chip whose figures read NA still runs this process: said as npu-smi says it (no rule
      // reads `NA` as a number), so a fault on that chip reaches it.
      else out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, pid: p.pid, value: "NA" });
    }
    for (const [pid, entity] of this._procs) {
      if (!seen.has(pid)) out.push({ ts: now, event_type: "process.state", entity_id: entity, pid, value: "exit" });
    }
    this._procs = seen;
    this._onChip = onChip;
    for (const e of heat) out.push(e);
    return out;
  }

  /** Whether the card's Health column asks for `-t health` of its chips. */
  unhealthy(c: NpuChip): boolean {
    return c.health !== undefined && c.health.toUpperCase() !== "OK";
  }

  /** `-t health` of an unhealthy chip (null: the query gave nothing, the table's word stands). */
  health(npu: number, chip: number, tableHealth: string, h: NpuHealth | null, now: number): NpuEvent[] {
    const st = this._state(npu, chip);
    const status = h?.status ?? tableHealth;
    if (status.toUpperCase() === "OK") {
      st.healthKey = undefined;
      return [];
    }
    const kind = h ? healthKind(h) : "NPU_FAULT";
    // Bounded: a chip can list many alarms; the first codes and 300 characters of text tell it.
    const codes = h && h.codes.length > 0 ? ` code=${h.codes.slice(0, MAX_CODES).join(",")}${h.codes.length > MAX_CODES ? ",..." : ""}` : "";
    const key = `${kind} health=${status}${codes}`;
    if (key === st.healthKey && st.healthSentAt !== undefined && now - st.healthSentAt < this.refreshMs) return [];
    st.healthKey = key;
    st.healthSentAt = now;
    const info = h?.info ? ` ${h.info.length > MAX_INFO ? `${h.info.slice(0, MAX_INFO)}...` : h.info}` : "";
    return [{ ts: now, event_type: "error.hw", entity_id: st.entity, value: `${key}${info}` }];
  }

  /** A chip whose card reads OK again: its next unhealthy spell is news. */
  healthy(npu: number, chip: number): void {
    const st = this._chips.get(`${npu}:${chip}`);
    if (st) st.healthKey = undefined;
  }

  /**
   * `-t ecc`: uncorrectable counts that rose. A fall is a reset. The first reading is the baseline:
   * errors counted before this exporter started, at a time nothing tells, are no fault of the
   * processes on the chip now (an exporter restart made last week's double-bit error theirs); a
   * chip still unwell says so through its health, and `staleEcc` names it for the log.
   */
  ecc(npu: number, chip: number, e: NpuEcc, now: number): NpuEvent[] {
    const st = this._state(npu, chip);
    const first = st.ecc === undefined;
    const before = st.ecc ?? {};
    st.ecc = e;
    if (first) {
      const counted = (["hbmDoubleBit", "ddrDoubleBit", "doubleBit"] as const).filter((k) => (e[k] ?? 0) > 0).map((k) => `${_ECC_NAMES[k]}=${e[k]}`);
      if (counted.length > 0) this.staleEcc.push(`${st.entity}: double-bit ${counted.join(" ")}`);
      return [];
    }
    const rose = (k: keyof NpuEcc) => e[k] !== undefined && e[k]! > 0 && e[k]! > (before[k] ?? 0);
    if (!rose("hbmDoubleBit") && !rose("ddrDoubleBit") && !rose("doubleBit")) return [];
    const parts = [
      e.hbmDoubleBit !== undefined ? `hbm=${e.hbmDoubleBit}` : "",
      e.ddrDoubleBit !== undefined ? `ddr=${e.ddrDoubleBit}` : "",
      e.doubleBit !== undefined ? `count=${e.doubleBit}` : "",
    ].filter(Boolean);
    return [{ ts: now, event_type: "error.hw", entity_id: st.entity, value: `ECC_UNCORRECTED double-bit ${parts.join(" ")}` }];
  }

  /**
   * `-t hccs`: health NOK is the link down, rising error counts are link errors (both `error.net`
   * on `hccs-N`, and the chip's processes wait on the link); a link with some of its lanes down
   * or rising retries is `HCCS_DEGRADED` on the NPU. The first reading is the baseline.
   */
  hccs(npu: number, chip: number, h: NpuHccs, now: number): NpuEvent[] {
    const st = this._state(npu, chip);
    const out: NpuEvent[] = [];
    const pids = this._onChip.get(st.entity) ?? [];
    const down = h.health !== undefined && h.health.toUpperCase() !== "OK";
    if (down) {
      if (st.hccsDownSentAt === undefined || now - st.hccsDownSentAt >= this.refreshMs) {
        out.push({ ts: now, event_type: "error.net", entity_id: st.hccs, value: `HCCS link down: health=${h.health}` });
        for (const pid of pids) out.push({ ts: now, event_type: "transport.drop", entity_id: st.hccs, pid, value: "link_down" });
        st.hccsDownSentAt = now;
      }
    } else {
      // Back up: the chip's processes are told their wait on the link is over (a reading that is no wait).
      if (st.hccsDownSentAt !== undefined) for (const pid of pids) out.push({ ts: now, event_type: "transport.bw", entity_id: st.hccs, pid, value: `LINK_UP health=${h.health ?? "OK"}` });
      st.hccsDownSentAt = undefined;
    }
    const errors = _delta(st.hccsErrors, h.errors);
    st.hccsErrors = h.errors;
    if (errors > 0) {
      out.push({ ts: now, event_type: "error.net", entity_id: st.hccs, value: `HCCS error count +${errors} total=${h.errors}` });
      for (const pid of pids) out.push({ ts: now, event_type: "transport.drop", entity_id: st.hccs, pid, value: String(errors) });
    }
    const retries = _delta(st.hccsRetries, h.retries);
    st.hccsRetries = h.retries;
    const partial = h.lanes.filter((l) => /^[01]+$/.test(l) && l.includes("1") && l.includes("0"));
    const degradedKey = partial.length > 0 ? `lanes=${h.lanes.join(",")}` : undefined;
    if ((degradedKey !== undefined && degradedKey !== st.degradedKey) || retries > 0) {
      const why = [degradedKey, retries > 0 ? `retries +${retries}` : ""].filter(Boolean).join(" ");
      out.push({ ts: now, event_type: "error.hw", entity_id: st.entity, value: `HCCS_DEGRADED ${why}` });
    }
    st.degradedKey = degradedKey;
    return out;
  }

  /**
   * A chip listed before and left out of this table (the others still listed) has fallen off:
   * a device fault on it, said at once and each refresh period while it stays out, so the
   * processes that used it are blocked by it (their exits wait for /proc, see exit-check.ts).
   */
  private _lost(listed: Set<string>, now: number, out: NpuEvent[]): void {
    for (const [key, st] of this._chips) {
      if (listed.has(key) || !st.listed) continue;
      st.util = st.mem = undefined;
      if (st.lostSentAt === undefined) this.lostNow.push(st.entity);
      else if (now - st.lostSentAt < this.refreshMs) continue;
      st.lostSentAt = now;
      out.push({ ts: now, event_type: "error.hw", entity_id: st.entity, value: "NPU_LOST no longer listed by npu-smi info" });
      // No load to read: its last figures from before the fall do not stand for now (0% read
      // then made the chip "idle" for good: gpu_util_low for the process stuck on it).
      out.push({ ts: now, event_type: "compute.util", entity_id: st.entity, value: "[not listed]" });
      out.push({ ts: now, event_type: "compute.mem", entity_id: st.entity, value: "[not listed]" });
    }
  }

  private _heat(c: NpuChip, st: ChipState, now: number, out: NpuEvent[]): void {
    if (c.temp === undefined) return;
    if (c.temp <= this.tempThreshold) {
      st.hotSentAt = undefined;
      return;
    }
    if (st.hotSentAt !== undefined && now - st.hotSentAt < this.refreshMs) return;
    out.push({ ts: now, event_type: "error.hw", entity_id: st.entity, value: `TEMP_HIGH temp=${c.temp}` });
    st.hotSentAt = now;
  }

  private _state(npu: number, chip: number): ChipState {
    const key = `${npu}:${chip}`;
    let st = this._chips.get(key);
    if (!st) {
      st = { entity: npuEntity(npu, chip), hccs: hccsEntity(npu, chip) };
      this._chips.set(key, st);
    }
    return st;
  }
}

/** Growth of a cumulative counter; 0 on the first reading, on a reset or when unknown. */
function _delta(before: number | undefined, now: number | undefined): number {
  if (before === undefined || now === undefined || now < before) return 0;
  return now - before;
}
