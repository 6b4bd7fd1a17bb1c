// How a reading is folded into a resource: whether it means waiting (SPEC §3), the store of its
// value, and where it falls among the thresholds the observer watches.
import { parseNumber } from "../events/number.ts";
import { newResourceMeta, RESOURCE_KEYS, type ProcessNode, type ResourceKey, type ResourceMeta, type ResourceNode } from "./nodes.ts";

/** SPEC §3: a bandwidth or storage reading means waiting when it says IO_WAIT or is below 1.0. */
export function isWait(value: string): boolean {
  // A plain decimal ("0", "22.7", ".5"), as readings are, is below 1.0 exactly when its
  // integer part is all zeros: decided in one pass, without parseFloat.
  let zeros = true;
  let digits = 0;
  let dot = false;
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 46 && !dot) dot = true;
    else if (c >= 48 && c <= 57) {
      digits++;
      if (!dot && c !== 48) zeros = false;
    } else break;
  }
  if (i === value.length && digits > 0) return zeros;
  if (value.includes("IO_WAIT")) return true;
  return Number.parseFloat(value) < 1.0;
}

/** Keeps `p`'s own reading (key index `k`) on `r`, which it waits on (ProcessNode.waitReadings). */
export function ownWaitReading(p: ProcessNode, r: ResourceNode, k: number, value: string): void {
  let own = (p.waitReadings ??= new Map()).get(r);
  if (own === undefined) p.waitReadings.set(r, (own = newResourceMeta()));
  own[RESOURCE_KEYS[k]] = value;
}

/**
 * `p`'s own reading (key index `k`) on `r`, which it waits on, that is no wait (a bandwidth,
 * IOPS or queue figure at or above 1.0, or a collector's `D ended`): kept with its own readings;
 * true when none of its own bandwidth, IOPS and queue readings there says it waits any more, so
 * its wait is over. (A drop is a count, not a state: a later reading that moves data ends it.)
 */
export function waitOver(p: ProcessNode, r: ResourceNode, k: number, value: string): boolean {
  ownWaitReading(p, r, k, value);
  const own = p.waitReadings!.get(r)!;
  for (const key of _WAIT_KEYS) {
    const v = own[key];
    if (v !== undefined && isWait(v)) return false;
  }
  return true;
}

const _WAIT_KEYS = ["bw", "iops", "qdepth"] as const;

/** Stores a reading; true when it changed the value. (Every key exists from the start, so this
 * is a field store on one shared shape, never a dictionary insert.) */
export function setMeta(m: ResourceMeta, key: ResourceKey, value: string): boolean {
  if (m[key] === value) return false;
  m[key] = value;
  return true;
}

/**
 * Which readings the graph's observer is told of, per key of `RESOURCE_KEYS`: every change, a
 * change of band only (see `bandOf`), or none (a key no rule reads: most readings).
 */
export class ReadingWatch {
  private readonly _mode = new Uint8Array(RESOURCE_KEYS.length).fill(_EVERY);
  private readonly _thresholds: Float64Array[] = RESOURCE_KEYS.map(() => new Float64Array(0));

  /** Per key: null, every change; thresholds, a change of band among them; a key left out, none. All keys when null. */
  set(watch: ReadonlyMap<string, readonly number[] | null> | null): void {
    for (let i = 0; i < RESOURCE_KEYS.length; i++) {
      const t = watch === null ? null : watch.get(RESOURCE_KEYS[i]);
      // A band fits in a byte: past 60 thresholds, every change is told.
      if (t === undefined) this._mode[i] = _NONE;
      else if (t === null || t.length > 60) this._mode[i] = _EVERY;
      else {
        this._mode[i] = _BAND;
        this._thresholds[i] = Float64Array.from(new Set(t)).sort();
      }
    }
  }

  /** Whether the observer is told that `r`'s key `k` (its index) now reads `value`; records the band. */
  tells(r: ResourceNode, k: number, value: string): boolean {
    const mode = this._mode[k];
    if (mode !== _BAND) return mode === _EVERY;
    const band = bandOf(this._thresholds[k], value);
    if (r.bands[k] === band) return false;
    r.bands[k] = band;
    return true;
  }
}

const _NONE = 0;
const _EVERY = 1;
const _BAND = 2;

/**
 * Where `value` falls among `thresholds` (sorted, distinct): twice the number of thresholds
 * below it, plus one when it equals one; 126 when it is no number. Every comparison of the
 * value with one of them (lt, lte, eq, ne, gte, gt) has the same answer for all values of one
 * band, so a reading that stays in its band changes none of them.
 */
export function bandOf(thresholds: Float64Array, value: string): number {
  const n = parseNumber(value);
  if (n === undefined) return 126;
  let band = 0;
  for (let i = 0; i < thresholds.length; i++) {
    if (thresholds[i] < n) band += 2;
    else {
      if (thresholds[i] === n) band++;
      break;
    }
  }
  return band;
}
