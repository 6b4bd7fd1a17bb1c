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

/** One `--query-gpu` line, or null when it is not one (an error message, a header, a short line). */
export function parseGpuLine(line: string): GpuSample | null {
  const f = splitCsvLine(line);
  if (f.length !== GPU_QUERY.length) return null;
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
  return sample;
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
