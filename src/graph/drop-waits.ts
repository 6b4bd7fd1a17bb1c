// Waits that drops alone hold (graph.ts). A `transport.drop` with a pid makes the process wait on
// the NIC or link (SPEC §3), but a drop is a count, not a state: collectors send one when error
// counters rise (builtin:infiniband's symbol errors, builtin:npu-smi's HCCS error count) and
// nothing when they stop, and no reading of the process's own says its traffic moves again. So
// a wait that no reading of its own holds (no `IO_WAIT`, no bandwidth, IOPS or queue below 1.0
// there) ends an error window after the process's last drop there, as a fault's blame does: a
// burst of errors twenty minutes ago is not what a job whose GPU idles now waits on.
import { isWait } from "./readings.ts";
import type { ProcessNode, ResourceNode } from "./nodes.ts";

/** When a process's last drop on a resource came, by both clocks. */
interface _Last {
  ts: number;
  wall: number;
}

export class DropWaits {
  /** Per process, per resource it waits on: its last drop there. Only processes that had a drop. */
  private readonly _last = new Map<ProcessNode, Map<ResourceNode, _Last>>();

  /** Process `p`'s drop on `r` at event time `ts`, received at `wall` (it waits on `r` now). */
  note(p: ProcessNode, r: ResourceNode, ts: number, wall: number): void {
    let m = this._last.get(p);
    if (m === undefined) this._last.set(p, (m = new Map()));
    const last = m.get(r);
    if (last === undefined) m.set(r, { ts, wall });
    else {
      if (ts > last.ts) last.ts = ts;
      last.wall = wall;
    }
  }

  /**
   * Ends (`unwait`) each wait whose last drop left the window and that no reading of the
   * process's own holds; forgets processes that left (`live`) and waits already over.
   */
  sweep(nowTs: number, nowWall: number, windowMs: number, live: (p: ProcessNode) => boolean, unwait: (p: ProcessNode, r: ResourceNode) => void): void {
    if (this._last.size === 0) return;
    for (const [p, m] of this._last) {
      if (!live(p)) {
        this._last.delete(p);
        continue;
      }
      for (const [r, last] of m) {
        if (!p.waitsOn.has(r)) m.delete(r);
        else if ((nowTs - last.ts > windowMs || nowWall - last.wall > windowMs) && !_heldByReading(p, r)) {
          m.delete(r);
          unwait(p, r);
        }
      }
      if (m.size === 0) this._last.delete(p);
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
