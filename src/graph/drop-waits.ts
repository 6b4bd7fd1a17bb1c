// Waits that drops alone hold (graph.ts). A `transport.drop` with a pid makes the process wait on
// the NIC or link (SPEC §3), but a drop is a count, not a state: collectors send one when error
// counters rise (builtin:infiniband's symbol errors, builtin:npu-smi's HCCS error count) and
// nothing when they stop, and no reading of the process's own says its traffic moves again. So
// a wait that no reading of its own holds (no `IO_WAIT`, no bandwidth, IOPS or queue below 1.0
// there) ends an error window after the process's last drop there, as a fault's blame does: a
// burst of errors twenty minutes ago is not what a job whose GPU idles now waits on.
import { isWait } from "./readings.ts";
import type { ProcessNode, ResourceNode } from "./nodes.ts";

/** A process's last drop on a resource it waits on, by both clocks. */
interface _Last {
  p: ProcessNode;
  r: ResourceNode;
  ts: number;
  wall: number;
}

export class DropWaits {
  /**
   * Per process and resource (`pid|resource`), its last drop there, in the order they came: a
   * drop moves its entry to the end, so a sweep looks only at the stale ones at the front.
   */
  private readonly _last = new Map<string, _Last>();

  /** Process `p`'s drop on `r` at event time `ts`, received at `wall` (it waits on `r` now). */
  note(p: ProcessNode, r: ResourceNode, ts: number, wall: number): void {
    const key = p.pid + "|" + r.id;
    const last = this._last.get(key);
    this._last.delete(key);
    this._last.set(key, last !== undefined && last.p === p && last.ts > ts ? { p, r, ts: last.ts, wall } : { p, r, ts, wall });
  }

  /**
   * Ends (`unwait`) each wait whose last drop left the window and that no reading of the
   * process's own holds (one that does ends with those readings); forgets processes that left
   * (`live`) and waits already over. Stops at the first drop still inside the window.
   */
  sweep(nowTs: number, nowWall: number, windowMs: number, live: (p: ProcessNode) => boolean, unwait: (p: ProcessNode, r: ResourceNode) => void): void {
    if (this._last.size === 0) return;
    for (const [key, last] of this._last) {
      const { p, r } = last;
      if (live(p) && p.waitsOn.has(r)) {
        if (nowTs - last.ts <= windowMs && nowWall - last.wall <= windowMs) return;
        if (!_heldByReading(p, r)) unwait(p, r);
      }
      this._last.delete(key);
    }
  }
}

/** Whether one of `p`'s own bandwidth, IOPS or queue readings on `r` says it waits. */
function _heldByReading(p: ProcessNode, r: ResourceNode): boolean {
  const own = p.waitReadings?.get(r);
  if (own === undefined) return false;
  for (const v of [own.bw, own.iops, own.qdepth]) if (v !== undefined && isWait(v)) return true;
  return false;
}
