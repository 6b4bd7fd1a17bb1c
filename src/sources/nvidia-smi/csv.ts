// What nvidia-smi prints with --format=csv,noheader,nounits: one line per GPU (or compute
// process), fields in the order of the query list, separated by ", ". Unavailable fields read
// `[N/A]`, `[Not Supported]`, `[Unknown Error]`, ... and are returned as undefined.

/** Fields asked of `--query-gpu`; the parser relies on this order. */
export const GPU_QUERY = [
  "index",
  "uuid",
  "pci.bus_id",
  "utilization.gpu",
  "memory.used",
  "memory.total",
  "temperature.gpu",
  "ecc.errors.uncorrected.volatile.total",
] as const;

/**
 * GPU health fields added to the `--query-gpu` list when the driver lists them in
 * `--help-query-gpu` (an nvidia-smi asked for a field it does not know refuses the whole query).
 * Each signal by its names, newest first: R535 renamed `clocks_throttle_reasons.*` to
 * `clocks_event_reasons.*` and keeps the old names as aliases. Retired pages are pre-Ampere
 * (Ampere and later read `[N/A]` and remap rows instead, see REMAP_QUERY).
 */
export const HEALTH_FIELDS = {
  retiredPending: ["retired_pages.pending"],
  hwSlowdown: ["clocks_event_reasons.hw_slowdown", "clocks_throttle_reasons.hw_slowdown"],
  hwThermalSlowdown: ["clocks_event_reasons.hw_thermal_slowdown", "clocks_throttle_reasons.hw_thermal_slowdown"],
  hwPowerBrakeSlowdown: ["clocks_event_reasons.hw_power_brake_slowdown", "clocks_throttle_reasons.hw_power_brake_slowdown"],
  // The PCIe link's lanes now, and the most this GPU and the slot it sits in can train to (NVML:
  // a x16 GPU in a x8 slot reads 8): fewer now is a link trained narrower than it should be.
  linkWidth: ["pcie.link.width.current"],
  linkWidthMax: ["pcie.link.width.max"],
} as const;
export type HealthKey = keyof typeof HEALTH_FIELDS;
const _HEALTH_KEYS = Object.keys(HEALTH_FIELDS) as HealthKey[];

/**
 * `--query-remapped-rows` (one line per GPU with a row remapper, Ampere and later): the
 * separate query every driver since R450 answers, where `--query-gpu` learnt these names late.
 */
export const REMAP_QUERY = ["gpu_bus_id", "gpu_uuid", "remapped_rows.pending", "remapped_rows.failure"] as const;

/** Fields asked of `--query-compute-apps`; `used_memory` is an alias of `used_gpu_memory`. */
export const APPS_QUERY = ["pid", "gpu_uuid", "gpu_bus_id", "used_memory"] as const;

export const CSV_FORMAT = "--format=csv,noheader,nounits";

export interface GpuSample {
  index: number;
  uuid?: string;
  busId?: string;
  /** Percent. */
  util?: number;
  /** MiB. */
  memUsed?: number;
  memTotal?: number;
  /** Degrees C. */
  temp?: number;
  eccUncorrected?: number;
  /** Pages pending retirement at the next reset (pre-Ampere). */
  retiredPending?: boolean;
  /** Clock event reasons: HW slowdown, and its thermal and power-brake causes. */
  hwSlowdown?: boolean;
  hwThermalSlowdown?: boolean;
  hwPowerBrakeSlowdown?: boolean;
  /** PCIe lanes the link has now, and the most the GPU and its slot support. */
  linkWidth?: number;
  linkWidthMax?: number;
  /** The driver lost the GPU: what its fields read instead of values (`GPU is lost`). */
  lost?: string;
}

/** A `--query-remapped-rows` line. */
export interface RemapSample {
  busId?: string;
  uuid?: string;
  /** A remapping waits for the next GPU reset. */
  pending?: boolean;
  /** A remapping failed: the GPU must be replaced. */
  failure?: boolean;
}

/** A GPU nvidia-smi printed no line for: `Unable to determine the device handle for GPU ...`. */
export interface LostGpu {
  busId: string;
  /** The index later drivers print before the bus id (`for GPU3: 0000:5F:00.0`). */
  index?: number;
  /** nvidia-smi's line. */
  said: string;
}

export interface AppSample {
  pid: number;
  gpuUuid?: string;
  gpuBusId?: string;
  /** MiB. */
  usedMemory?: number;
}

const MAX_PID = 2 ** 31 - 1;

/** One CSV line into trimmed fields. nvidia-smi never quotes the numeric and id fields we ask for. */
export function splitCsvLine(line: string): string[] {
  return line.split(",").map((f) => f.trim());
}

/** A field's text, or undefined when nvidia-smi marks it unavailable (`[N/A]` and friends). */
export function textField(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const s = raw.trim();
  if (s === "" || s === "N/A" || s.startsWith("[")) return undefined;
  return s;
}

/** A finite number, or undefined for anything else: never NaN. */
export function numField(raw: string | undefined): number | undefined {
  const s = textField(raw);
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Every field name `--help-query-*` lists (its lines `"name"` and `"name" or "alias"`). */
export function helpFields(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.trimStart().startsWith('"')) continue;
    for (const m of line.matchAll(/"([A-Za-z0-9_.]+)"/g)) out.add(m[1]);
  }
  return out;
}

/**
 * The `--query-gpu` list: GPU_QUERY, then each health signal under the first of its names the
 * driver knows. `known` null (the driver's list could not be read): GPU_QUERY alone.
 */
export function gpuQuery(known: ReadonlySet<string> | null): string[] {
  const out: string[] = [...GPU_QUERY];
  if (known === null) return out;
  for (const key of _HEALTH_KEYS) {
    const name = HEALTH_FIELDS[key].find((n) => known.has(n));
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** The field nvidia-smi refused (`Field "X" is not a valid field to query.`), or undefined. */
export function refusedField(line: string): string | undefined {
  return /^Field "([^"]+)" is not a valid field to query/.exec(line.trim())?.[1];
}

/**
 * One `--query-gpu` line of the query `fields` (GPU_QUERY, then health fields in any order),
 * or null when it is not one (an error message, a header, a short line).
 */
export function parseGpuLine(line: string, fields: readonly string[] = GPU_QUERY): GpuSample | null {
  const f = splitCsvLine(line);
  if (f.length !== fields.length) return null;
  const index = numField(f[0]);
  if (index === undefined || !Number.isInteger(index) || index < 0) return null;
  const sample: GpuSample = { index };
  _set(sample, "uuid", textField(f[1]));
  _set(sample, "busId", _busId(textField(f[2])));
  _set(sample, "util", numField(f[3]));
  _set(sample, "memUsed", numField(f[4]));
  _set(sample, "memTotal", numField(f[5]));
  _set(sample, "temp", numField(f[6]));
  _set(sample, "eccUncorrected", numField(f[7]));
  for (let i = GPU_QUERY.length; i < fields.length; i++) {
    const key = _HEALTH_KEYS.find((k) => (HEALTH_FIELDS[k] as readonly string[]).includes(fields[i]));
    if (key !== undefined) _set(sample, key, _HEALTH_PARSE[key](f[i]));
  }
  // A lost GPU keeps its index and bus id (nvidia-smi has them from enumeration) and reads a
  // marker in every field the driver would have to answer.
  const lost = f.find((v) => /^\[GPU (is lost|requires reset)\]$/i.test(v));
  if (lost !== undefined) sample.lost = lost.slice(1, -1);
  return sample;
}

/** One `--query-remapped-rows` line of REMAP_QUERY, or null when it is not one. */
export function parseRemapLine(line: string): RemapSample | null {
  const f = splitCsvLine(line);
  if (f.length !== REMAP_QUERY.length) return null;
  const row: RemapSample = {};
  _set(row, "busId", _busId(textField(f[0])));
  _set(row, "uuid", textField(f[1]));
  if (row.busId === undefined && row.uuid === undefined) return null;
  _set(row, "pending", yesNo(f[2]));
  _set(row, "failure", yesNo(f[3]));
  return row;
}

/**
 * nvidia-smi's line for a GPU the driver has no handle for (fallen off the bus, or lost):
 * `Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error`, and as later
 * drivers print it, with the GPU's index first: `... for GPU3: 0000:5F:00.0: Unknown Error`.
 * Null otherwise (also for `... for GPU2: Unknown Error`, which names no bus id).
 */
export function parseLostLine(line: string): LostGpu | null {
  const s = line.trim();
  const m = /^Unable to determine the device handle for GPU ?(?:(\d{1,4}): )?([0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\b/.exec(s);
  if (m === null) return null;
  const lost: LostGpu = { busId: _busId(m[2])!, said: s.slice(0, 200) };
  if (m[1] !== undefined) lost.index = Number(m[1]);
  return lost;
}

/** How each health field reads. */
const _HEALTH_PARSE: Record<HealthKey, (raw: string | undefined) => boolean | number | undefined> = {
  retiredPending: yesNo,
  hwSlowdown: activeField,
  hwThermalSlowdown: activeField,
  hwPowerBrakeSlowdown: activeField,
  linkWidth: _lanes,
  linkWidthMax: _lanes,
};

/** A lane count (1 to 32), or undefined. */
function _lanes(raw: string | undefined): number | undefined {
  const n = numField(raw);
  return n !== undefined && Number.isInteger(n) && n >= 1 && n <= 32 ? n : undefined;
}

/** `Yes`/`No` (also `1`/`0`), or undefined for `[N/A]` and anything else. */
export function yesNo(raw: string | undefined): boolean | undefined {
  const s = textField(raw)?.toLowerCase();
  return s === "yes" || s === "1" ? true : s === "no" || s === "0" ? false : undefined;
}

/** A clock event reason: `Active`/`Not Active`, or undefined for `[Not Supported]` and the rest. */
export function activeField(raw: string | undefined): boolean | undefined {
  const s = textField(raw)?.toLowerCase();
  return s === "active" ? true : s === "not active" ? false : undefined;
}

/** One `--query-compute-apps` line, or null when it is not one. */
export function parseAppLine(line: string): AppSample | null {
  const f = splitCsvLine(line);
  if (f.length !== APPS_QUERY.length) return null;
  const pid = numField(f[0]);
  if (pid === undefined || !Number.isInteger(pid) || pid < 0 || pid > MAX_PID) return null;
  const app: AppSample = { pid };
  _set(app, "gpuUuid", textField(f[1]));
  _set(app, "gpuBusId", _busId(textField(f[2])));
  _set(app, "usedMemory", numField(f[3]));
  return app;
}

/** Percent of memory used, one decimal; undefined unless both figures are known. */
export function memPercent(used: number | undefined, total: number | undefined): number | undefined {
  if (used === undefined || total === undefined || total <= 0) return undefined;
  return Math.round((used / total) * 1000) / 10;
}

/**
 * Bus ids compare equal across queries and driver versions: lower case, domain without
 * leading zeros (`00000000:3B:00.0` and `0000:3b:00.0` are the same device).
 */
function _busId(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const lower = s.toLowerCase();
  const colon = lower.indexOf(":");
  if (colon <= 0 || lower.indexOf(":", colon + 1) === -1) return lower;
  const domain = Number.parseInt(lower.slice(0, colon), 16);
  return Number.isNaN(domain) ? lower : `${domain.toString(16)}${lower.slice(colon)}`;
}

// Only set known fields, so absent stays absent (exactOptionalPropertyTypes-friendly).
function _set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}
