// The timeline of scenes in a replay: when each became active and when it cleared, by the
// recorded events' own time. Bounded: past MAX_ENTRIES only the count of changes grows.
import type { SceneChange } from "../query/scene-watch.ts";

const MAX_ENTRIES = 10_000;

export interface TimelineEntry {
  scene: string;
  active_at: string | null;
  /** null while still active at the end of the file. */
  cleared_at: string | null;
}

export class SceneTimeline {
  private readonly _entries: { scene: string; from: number; to: number | null }[] = [];
  private readonly _open = new Map<string, number>();
  dropped = 0;

  add(c: SceneChange): void {
    if (c.active) {
      if (this._entries.length >= MAX_ENTRIES) {
        this.dropped++;
        return;
      }
      this._open.set(c.scene, this._entries.length);
      this._entries.push({ scene: c.scene, from: c.eventMs, to: null });
    } else {
      const at = this._open.get(c.scene);
      if (at === undefined) return;
      this._entries[at].to = c.eventMs;
      this._open.delete(c.scene);
    }
  }

  entries(): TimelineEntry[] {
    return this._entries.map((e) => ({ scene: e.scene, active_at: _iso(e.from), cleared_at: e.to === null ? null : _iso(e.to) }));
  }
}

function _iso(ms: number): string | null {
  return Number.isFinite(ms) && ms > 0 && ms < 8.64e15 ? new Date(ms).toISOString() : null;
}
