// What the diagnosis reports to the metrics (the metrics read it at scrape time; nothing here
// imports them). Scene state follows SPEC §4: a scene is active while its rule matches and
// clears only after it has not matched for the settle time, so repeated runs cannot make it
// flap; each time it becomes active counts once.
import type { Severity } from "./rule.ts";

export interface DiagnosisState {
  /** Automatic runs (the ones scene state follows): xctl_diagnoses_total. */
  runs: number;
  /** Automatic runs that concluded with each scene, every loaded scene present. */
  byScene: Map<string, number>;
  /** Scenes active now (held within the settle time). */
  active: Set<string>;
  /** Times each scene became active, every loaded scene present. */
  activations: Map<string, number>;
  /** Each loaded scene's severity (xctl_scene_info). */
  severity: Map<string, Severity>;
  /** Runs asked for through the API or `why`: they change no scene state. */
  onDemandRuns: number;
}

export function newDiagnosisState(): DiagnosisState {
  return { runs: 0, byScene: new Map(), active: new Set(), activations: new Map(), severity: new Map(), onDemandRuns: 0 };
}

/** Keeps `active` and `activations` of a DiagnosisState from the scenes each automatic run finds. */
export class SceneTracker {
  /** When each active scene last held (the run's clock: wall time live, event time in replay). */
  private readonly _lastHeld = new Map<string, number>();
  /**
   * Scenes that matched at the last run. Runs follow changes, not the clock (a steady state runs
   * nothing): one that matched then and does not now held until the change that brought this
   * run, not only until that run, so its settle time starts there, not at a run minutes ago.
   */
  private _matching: ReadonlySet<string> = new Set();

  constructor(
    private readonly _state: DiagnosisState,
    readonly settleMs: number,
  ) {}

  /**
   * The scenes of a (new) rule set. A scene loaded before keeps its counts, its active state and
   * when it last held (its settle time); a new one starts at 0, inactive; one no longer loaded
   * leaves every map, and so the metrics.
   */
  load(scenes: readonly { scene: string; severity: Severity }[]): void {
    const st = this._state;
    const loaded = new Set(scenes.map((r) => r.scene));
    for (const m of [st.byScene, st.activations, st.severity, this._lastHeld]) {
      for (const scene of m.keys()) if (!loaded.has(scene)) m.delete(scene);
    }
    for (const scene of st.active) if (!loaded.has(scene)) st.active.delete(scene);
    for (const r of scenes) {
      if (!st.byScene.has(r.scene)) st.byScene.set(r.scene, 0);
      if (!st.activations.has(r.scene)) st.activations.set(r.scene, 0);
      st.severity.set(r.scene, r.severity);
    }
  }

  /**
   * One automatic run at time `now` found `held` holding since the last run (in priority order;
   * the first is the run's conclusion), `matching` of them still matching now; `heldAt` says
   * when a brief match (held, not matching) last held; `changedAt`, when the change that brought
   * this run came (a scene that matched at the last run and no longer does held until then).
   * Returns the time at which an active scene that no longer matches must be looked at again to
   * clear, or Infinity.
   */
  update(held: readonly string[], matching: ReadonlySet<string>, now: number, heldAt: ReadonlyMap<string, number> = new Map(), changedAt = now): number {
    const st = this._state;
    const top = held[0];
    if (top !== undefined) st.byScene.set(top, (st.byScene.get(top) ?? 0) + 1);
    for (const scene of held) {
      this._lastHeld.set(scene, matching.has(scene) ? now : Math.min(now, heldAt.get(scene) ?? now));
      if (!st.active.has(scene)) {
        st.active.add(scene);
        st.activations.set(scene, (st.activations.get(scene) ?? 0) + 1);
      }
    }
    let next = Infinity;
    for (const scene of st.active) {
      if (matching.has(scene)) continue;
      // It stopped matching since the last run, which saw it match: it held until the change
      // that brought this run, so it settles from there.
      if (this._matching.has(scene)) this._lastHeld.set(scene, Math.max(this._lastHeld.get(scene) ?? changedAt, changedAt));
      const last = this._lastHeld.get(scene) ?? now;
      if (now - last >= this.settleMs) {
        st.active.delete(scene);
        this._lastHeld.delete(scene);
      } else next = Math.min(next, last + this.settleMs);
    }
    this._matching = new Set(matching);
    // Last: the run counts once the active scenes are set (the query layer watches the count).
    st.runs++;
    return next;
  }
}
