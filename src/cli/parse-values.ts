// Parsers for flag values: each throws a UsageError naming what was set (a flag name such as
// `max-nodes` is shown as `--max-nodes`; a label from flagLabel, `--x` or `XCTL_X`, as is),
// the value and the reason.
import { UsageError } from "./errors.ts";

function _label(flag: string): string {
  return flag.startsWith("-") || /^[A-Z][A-Z0-9_]*$/.test(flag) ? flag : `--${flag}`;
}

const _DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const _UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `1h`, `7d` (Prometheus style) to milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = _DURATION.exec(text.trim());
  if (m === null) throw new UsageError(`${_label(flag)}: "${text}" is not a duration (use e.g. 500ms, 30s, 5m, 1h)`);
  return Math.round(Number(m[1]) * _UNIT_MS[m[2]]);
}

const _SIZE = /^(\d+)(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?$/;
const _UNIT_BYTES: Record<string, number> = {
  B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3,
};

/** `65536`, `64KiB`, `8MiB` to bytes. */
export function parseSize(flag: string, text: string): number {
  const m = _SIZE.exec(text.trim());
  if (m === null || Number(m[1]) <= 0) throw new UsageError(`${_label(flag)}: "${text}" is not a size (use e.g. 65536, 64KiB, 8MiB)`);
  return Number(m[1]) * _UNIT_BYTES[m[2] ?? "B"];
}

export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const t = text.trim();
  const n = /^-?\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${_label(flag)}: "${text}" is not an integer from ${min} to ${max}`);
  }
  return n;
}

export function parsePort(flag: string, text: string): number {
  const t = text.trim();
  if (/^-\d+$/.test(t) || (/^\d+$/.test(t) && Number(t) > 65535)) throw new UsageError(`${_label(flag)}: "${t}" is out of range (a port number is 0-65535)`);
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isInteger(n)) throw new UsageError(`${_label(flag)}: "${text}" is not a port number (0-65535)`);
  return n;
}

export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${_label(flag)}: "${text}" is not one of ${choices.join(", ")}`);
  }
  return text as T;
}
