// The edge bitmap of a process (`ProcessNode.edgeBits`): one bit per target index and edge kind,
// so asking whether an edge exists is a bit test rather than a set lookup.
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
