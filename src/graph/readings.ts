// How a reading is folded into a resource: whether it means waiting (SPEC §3), and the store of
// its value.
import type { ResourceKey, ResourceMeta } from "./nodes.ts";

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

/** Stores a reading; true when it changed the value. (Every key exists from the start, so this
 * is a field store on one shared shape, never a dictionary insert.) */
export function setMeta(m: ResourceMeta, key: ResourceKey, value: string): boolean {
  if (m[key] === value) return false;
  m[key] = value;
  return true;
}
