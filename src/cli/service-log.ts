// What the running service logs as it happens, once per transition and rate-bounded: a scene
// becoming active or clearing (scene, pids, jobs, the one-line root cause), a source going
// down, coming back up or crash-looping, and graph evictions (a graph that stays full, as one
// fed ever new entity ids does, is said once, then once per 10 minutes with the count, and when
// it stops); at debug, every diagnosis run. Observed from the query layer
// (scene changes after each diagnosis run; source states and the eviction count sampled once
// a second), so no lower layer knows about logging.
import type { ConsolaInstance } from "consola";
import { elapsed } from "../elapsed.ts";
import type { Queries } from "../query/queries.ts";
import type { SourceCondition } from "../query/sources.ts";

/** Scene lines per window; past it one line says how many were left out. */
const _SCENE_LINES = 20;
const _WINDOW_MS = 10_000;
const _EVICTION_EVERY_MS = 10_000;
/** While evictions go on period after period, one line per this long. */
const _EVICTION_PERSIST_MS = 10 * 60_000;

export interface ServiceLog {
  stop(): void;
  /** One look at the sources and evictions, as the timer does (tests call it with their clock). */
  tick(): void;
}

export interface ServiceLogOptions {
  tickMs?: number;
  evictionEveryMs?: number;
  evictionPersistMs?: number;
  /** The clock; tests move it by hand. */
  now?: () => number;
}

export function startServiceLog(q: Queries, log: ConsolaInstance, opts: ServiceLogOptions = {}): ServiceLog {
  const evictionEveryMs = opts.evictionEveryMs ?? _EVICTION_EVERY_MS;
  const evictionPersistMs = opts.evictionPersistMs ?? _EVICTION_PERSIST_MS;
  const clock = opts.now ?? Date.now;
  const budget = { start: 0, used: 0, dropped: 0 };
  const allow = (now: number): boolean => {
    if (elapsed(now, budget.start) >= _WINDOW_MS) {
      if (budget.dropped > 0) log.warn(`${budget.dropped} more scene changes not logged`, { window_s: _WINDOW_MS / 1000 });
      budget.start = now;
      budget.used = 0;
      budget.dropped = 0;
    }
    if (budget.used < _SCENE_LINES) {
      budget.used++;
      return true;
    }
    budget.dropped++;
    return false;
  };
  const since = new Map<string, number>();
  const unwatch = q.onSceneChange((c) => {
    if (!allow(c.wallMs)) return;
    if (!c.active) {
      const from = since.get(c.scene);
      since.delete(c.scene);
      // A scene whose rule a reload removed did not stop holding: said so, at warn, not as a recovery.
      const fields = { scene: c.scene, ...(from !== undefined ? { active_s: Math.round((c.wallMs - from) / 1000) } : {}) };
      if (c.unloaded) log.warn(`scene cleared: ${c.scene}: its rule was removed by a rule reload (not resolved: what it saw may still hold)`, { ...fields, reason: "rule_removed" });
      else log.info(`scene cleared: ${c.scene}`, fields);
      return;
    }
    since.set(c.scene, c.wallMs);
    // The run's result is recorded right after it counts; describe the scene once it is.
    queueMicrotask(() => {
      const s = q.activeScenes().find((x) => x.scene === c.scene);
      log.warn(`scene active: ${c.scene}${s ? `: ${s.root_cause}` : ""}`, {
        scene: c.scene,
        pids: s?.affected_pids ?? [],
        jobs: s?.affected_jobs ?? [],
      });
    });
  });

  // At debug, every run: what an incident looks like from the diagnosis's side.
  const unwatchRuns = q.onRun((runs, active) => {
    if (log.level >= 4) log.debug(`diagnosis run ${runs}: ${active.size === 0 ? "no scene active" : `active: ${[...active].join(", ")}`}`, { runs });
  });
  const states = new Map<string, SourceCondition>();
  let evictions = q.evictions;
  const startedAt = clock();
  let evictionsAt = startedAt;
  /**
   * An episode of evictions: when it began (null: none for evictionPersistMs), the last
   * eviction, the last line, and the evictions since that line.
   */
  const full = { since: null as number | null, lastAt: 0, lineAt: 0, untold: 0 };
  const tick = () => {
    const now = clock();
    for (const s of q.sources.list(now)) {
      const before = states.get(s.name);
      // A source gets a few seconds to come up before "down" means anything.
      if (before === undefined && s.state === "down" && now - startedAt < 5000) continue;
      states.set(s.name, s.state);
      if (before === s.state || (before === undefined && s.state === "up")) continue;
      if (s.state === "up") log.info(`source up: ${s.name}`, { source: s.name, restarts: s.restarts });
      else if (s.state === "down") log.warn(`source down: ${s.name}`, { source: s.name, restarts: s.restarts });
      else log.error(`source crash-looping: ${s.name}: ${s.recent_restarts} restarts in the last minute`, { source: s.name, restarts: s.restarts });
    }
    if (elapsed(now, evictionsAt) >= evictionEveryMs) {
      const n = q.evictions;
      const d = n - evictions;
      if (d > 0 && full.since === null) {
        full.since = evictionsAt;
        full.lastAt = full.lineAt = now;
        log.warn(`graph full: ${d} nodes evicted in the last ${Math.round(Math.max(0, now - evictionsAt) / 1000)}s to stay within --max-nodes`, { evicted: d });
      } else if (d > 0) {
        // Still full: the count goes into one line per evictionPersistMs, not one per period.
        full.lastAt = now;
        full.untold += d;
        if (elapsed(now, full.lineAt) >= evictionPersistMs) {
          log.warn(`graph still full: ${full.untold} nodes evicted in the last ${Math.round(Math.max(0, now - full.lineAt) / 1000)}s to stay within --max-nodes (evicting since ${new Date(full.since!).toISOString()})`, { evicted: full.untold });
          full.lineAt = now;
          full.untold = 0;
        }
      } else if (full.since !== null && elapsed(now, full.lastAt) >= evictionPersistMs) {
        if (full.untold > 0) log.info(`graph no longer evicting: ${full.untold} more nodes evicted after the last line, the last ${Math.round(Math.max(0, now - full.lastAt) / 1000)}s ago`, { evicted: full.untold });
        full.since = null;
        full.untold = 0;
      }
      evictions = n;
      evictionsAt = now;
    }
  };
  const timer = setInterval(tick, opts.tickMs ?? 1000);
  (timer as { unref?: () => void }).unref?.();
  return {
    stop() {
      clearInterval(timer);
      unwatch();
      unwatchRuns();
    },
    tick,
  };
}
