// A real Exporter fed with events at controlled event times, for diagnosis tests.
import assert from "node:assert/strict";
import { Exporter, type ExporterOptions } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";

export const T0 = 1_732_500_000_000;

export interface Scenario {
  ex: Exporter;
  /** Feeds one event `at` ms after T0 (default: 1 ms after the previous one). */
  send(ev: Record<string, unknown>, at?: number): void;
  /** An automatic host-wide run now; the scenes matched by it and by any automatic run since the last call. */
  scenes(): string[];
  now(): number;
}

export function scenario(opts: Partial<ExporterOptions> = {}): Scenario {
  // Scene settle is its own subject (engine.test.ts): here a scene clears as soon as it stops holding.
  const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, sceneSettleMs: 0, ...opts });
  let t = 0;
  let seenRuns = 0;
  return {
    ex,
    send(ev, at) {
      t = at ?? t + 1;
      const reason = ex.ingest.object({ ts: T0 + t, ...ev }, "test");
      if (reason !== undefined) throw new Error(`event rejected (${reason}): ${JSON.stringify(ev)}`);
    },
    scenes() {
      ex.engine.runNow("auto");
      const fresh = ex.engine.results().filter((r) => r.id > seenRuns);
      seenRuns = fresh[0].id;
      return [...new Set(fresh.flatMap((r) => r.matches.map((m) => m.scene)))];
    },
    now: () => T0 + t,
  };
}

/** Process `pid` starts in job `job-<pid>`. */
export function start(pid: number): Record<string, unknown> {
  return { event_type: "process.state", entity_id: "host-01", pid, job_id: `job-${pid}`, value: "start" };
}

/** An event of `event_type` on `entity_id` with `value`, for `pid` (none by default); `send` fills in ts. */
export function ev(event_type: string, entity_id: string, value: string, pid: number | null = null): Record<string, unknown> {
  return { event_type, entity_id, value, pid };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds; fails after `ms` (a bound on hanging, not a timing assertion). */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
