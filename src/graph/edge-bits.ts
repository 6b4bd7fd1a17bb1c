// The edge bitmap index: each target (resource or error node) gets a small index, and each
// process a bitmap per edge kind (`ProcessNode.edgeBits`) with one bit per target index, so
// asking whether an edge exists is a bit test rather than a set lookup. Targets past the bound
// get no index (-1) and are checked in the sets, slower but exact.
import type { ProcessNode } from "./nodes.ts";

/** True when the process has an edge of kind `k` (0 consumes, 1 waits_on, 2 blocked_by) into target index `ix`. */
export function hasEdgeBit(p: ProcessNode, k: 0 | 1 | 2, ix: number): boolean {
  const bits = p.edgeBits[k];
  const w = ix >>> 5;
  return w < bits.length && (bits[w] & (1 << (ix & 31))) !== 0;
}

/** Sets or clears the bit of edge kind `k` into target index `ix`, growing the array as needed. */
export function setEdgeBit(p: ProcessNode, k: 0 | 1 | 2, ix: number, on: boolean): void {
  let bits = p.edgeBits[k];
  const w = ix >>> 5;
  if (w >= bits.length) {
    if (!on) return;
    const grown = new Int32Array(Math.max(w + 1, bits.length * 2));
    grown.set(bits);
    p.edgeBits[k] = bits = grown;
  }
  if (on) bits[w] |= 1 << (ix & 31);
  else bits[w] &= ~(1 << (ix & 31));
}

/** Hands out target indexes up to a bound, reusing those of removed targets. */
export class TargetIndexes {
  private readonly _free: number[] = [];
  private _next = 0;

  constructor(private readonly _max: number) {}

  /** An index for a new target, or -1 past the bound. */
  take(): number {
    const free = this._free.pop();
    if (free !== undefined) return free;
    return this._next < this._max ? this._next++ : -1;
  }

  /** Gives a removed target's index back; its bits were cleared with its edges. */
  release(ix: number): void {
    if (ix >= 0) this._free.push(ix);
  }
}
