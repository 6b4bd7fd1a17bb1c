// Scene transitions, seen from outside the diagnosis: after every run (each run counts in
// DiagnosisState.runs after it has set the active scenes) the active set is compared with
// the one before. Logs, the event stream and replay's timeline listen here.
import type { DiagnosisState } from "../diagnosis/state.ts";

export interface SceneChange {
  scene: string;
  /** true: the scene became active; false: it cleared. */
  active: boolean;
  /** Wall-clock time (ms) of the run that saw the change. */
  wallMs: number;
  /** The graph's event time (ms) at that run: the replay timeline's clock. */
  eventMs: number;
  /**
   * A clear because a rule reload removed the scene's rule, not because it stopped holding:
   * what it saw may still be there. Absent otherwise.
   */
  unloaded?: true;
}

export type SceneListener = (change: SceneChange) => void;

/** Called after every run with the run count and the scenes active now. */
export type RunListener = (runs: number, active: ReadonlySet<string>) => void;

interface _Hook {
  listeners: Set<SceneListener>;
  runListeners: Set<RunListener>;
  last: Set<string>;
}

const _hooks = new WeakMap<DiagnosisState, _Hook>();

/**
 * Calls `listener` for every scene that becomes active or clears, after the run that saw it.
 * `eventNow` reads the graph's event clock. Returns the function that stops listening.
 * The run counter becomes an accessor on `state` whose setter compares the sets: one compare
 * of a handful of scene names per run, nothing per event.
 */
export function watchScenes(state: DiagnosisState, eventNow: () => number, listener: SceneListener): () => void {
  const hook = _hook(state, eventNow);
  hook.listeners.add(listener);
  return () => void hook.listeners.delete(listener);
}

/** Calls `listener` after every diagnosis run. Returns the function that stops listening. */
export function watchRuns(state: DiagnosisState, eventNow: () => number, listener: RunListener): () => void {
  const hook = _hook(state, eventNow);
  hook.runListeners.add(listener);
  return () => void hook.runListeners.delete(listener);
}

function _hook(state: DiagnosisState, eventNow: () => number): _Hook {
  let hook = _hooks.get(state);
  if (hook === undefined) {
    const h: _Hook = { listeners: new Set(), runListeners: new Set(), last: new Set(state.active) };
    hook = h;
    _hooks.set(state, h);
    let runs = state.runs;
    Object.defineProperty(state, "runs", {
      configurable: true,
      enumerable: true,
      get: () => runs,
      set: (n: number) => {
        runs = n;
        _compare(state, h, eventNow);
        for (const fn of h.runListeners) {
          try {
            fn(n, state.active);
          } catch {
            // as for scene listeners
          }
        }
      },
    });
  }
  return hook;
}

function _compare(state: DiagnosisState, hook: _Hook, eventNow: () => number): void {
  const now = state.active;
  const last = hook.last;
  if (now.size === last.size) {
    let same = true;
    for (const s of now) if (!last.has(s)) same = false;
    if (same) return;
  }
  const changes: SceneChange[] = [];
  const wallMs = Date.now();
  const eventMs = eventNow();
  for (const s of now) if (!last.has(s)) changes.push({ scene: s, active: true, wallMs, eventMs });
  // Every loaded scene has a severity (state.ts): one without was removed by a reload.
  for (const s of last) if (!now.has(s)) changes.push({ scene: s, active: false, wallMs, eventMs, ...(state.severity.has(s) ? {} : { unloaded: true as const }) });
  hook.last = new Set(now);
  for (const c of changes) {
    for (const fn of hook.listeners) {
      try {
        fn(c);
      } catch {
        // A listener's failure must not break the diagnosis run that called it.
      }
    }
  }
}
