// The state of each source (probe, collector, stdin) as the API, /readyz and the logs show it.
// A source that cannot run at all (a probe whose program cannot be started) is down with its
// reason; it is never crash-looping, since nothing ran to crash.
// A source crash-loops when it restarted CRASH_RESTARTS times within CRASH_WINDOW_MS: samples
// of its restart count, at most one a second per source, tell how many restarts are recent.
// It stays crash-looping until a whole window passes without a restart: at the longest backoff
// (30 s) a probe that always fails restarts twice a minute, give or take the ms each run takes,
// and the count alone would drop to 1 for a moment every cycle (a "source down" and a new
// "crash-looping" line in the log every minute or so, for as long as it fails).
import type { ProbeState } from "../metrics/registry.ts";
import { ageSeconds } from "./time.ts";

export const CRASH_RESTARTS = 2;
export const CRASH_WINDOW_MS = 60_000;
const _SAMPLES = 64;

export type SourceCondition = "up" | "down" | "crash-looping";

export interface SourceStatus {
  name: string;
  state: SourceCondition;
  up: boolean;
  restarts: number;
  /** Why it is down when it cannot run at all (`cannot start: ...`); null otherwise. */
  reason: string | null;
  /**
   * How its last run ended (`exited with status 3`, `killed by SIGKILL`); null before one ended.
   * Optional for the clients: an exporter older than the field leaves it out.
   */
  last_exit?: string | null;
  /** Restarts within the last minute (as far as the samples tell). */
  recent_restarts: number;
  /** Seconds since its last accepted event; null before the first. */
  last_event_age_s: number | null;
}

interface _History {
  at: number[];
  restarts: number[];
  /** Crash-looping now: entered at CRASH_RESTARTS recent restarts, left at none. */
  looping: boolean;
}

export class SourceTracker {
  private readonly _history = new Map<string, _History>();
  /** When tracking began: every source starts from 0 restarts then. */
  private readonly _born: number;

  constructor(private readonly _probes: ReadonlyMap<string, ProbeState>, now = Date.now()) {
    this._born = now;
  }

  /** Every source, by name, sampled at `now`. */
  list(now = Date.now()): SourceStatus[] {
    const out: SourceStatus[] = [];
    for (const [name, s] of this._probes) {
      const h = this._history.get(name) ?? this._start(name);
      const recent = this._sample(h, s.restarts, now);
      if (recent >= CRASH_RESTARTS) h.looping = true;
      else if (recent === 0) h.looping = false;
      // A program that cannot be started is down, whatever it did before: it is not crashing.
      const reason = s.up ? null : (s.reason ?? null);
      const state: SourceCondition = reason !== null ? "down" : h.looping ? "crash-looping" : s.up ? "up" : "down";
      out.push({ name, state, up: s.up, restarts: s.restarts, reason, last_exit: s.lastExit ?? null, recent_restarts: recent, last_event_age_s: ageSeconds(s.lastEventMs, now) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private _start(name: string): _History {
    const h: _History = { at: [this._born], restarts: [0], looping: false };
    this._history.set(name, h);
    return h;
  }

  private _sample(h: _History, restarts: number, now: number): number {
    const last = h.at.length - 1;
    if (last < 0 || now - h.at[last] >= 1000) {
      h.at.push(now);
      h.restarts.push(restarts);
      if (h.at.length > _SAMPLES) {
        h.at.shift();
        h.restarts.shift();
      }
    } else h.restarts[last] = restarts;
    let base = h.restarts[h.restarts.length - 1];
    for (let i = h.at.length - 1; i >= 0 && now - h.at[i] <= CRASH_WINDOW_MS; i--) base = h.restarts[i];
    return restarts - base;
  }
}
