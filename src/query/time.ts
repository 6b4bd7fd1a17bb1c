// Times as the API shows them.

/** Event time as ISO 8601; null where the number is outside what a Date can hold. */
export function isoTime(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  return new Date(ms).toISOString();
}

/** Whole seconds from `fromMs` to `nowMs`, never negative; null when `fromMs` is unknown (0). */
export function ageSeconds(fromMs: number, nowMs: number): number | null {
  if (!(fromMs > 0) || !Number.isFinite(fromMs)) return null;
  return Math.max(0, Math.floor((nowMs - fromMs) / 1000));
}
