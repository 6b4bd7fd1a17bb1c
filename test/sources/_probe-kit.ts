// Shared by the source tests: a real Exporter whose log is captured, and process checks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { Exporter, type ExporterOptions } from "../../src/exporter.ts";
import type { RejectReason } from "../../src/events/schema.ts";
import { ROOT } from "../_helpers.ts";

export const PROBES = join(ROOT, "test/fixtures/probes");
/** Restart delays small enough for tests; the doubling still shows. */
export const FAST = { initialMs: 20, maxMs: 80 };

export interface LogLine {
  type: string;
  tag: string;
  msg: string;
}

export function testExporter(opts: Partial<ExporterOptions> = {}): { ex: Exporter; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const log = createConsola({
    level: 5,
    reporters: [{ log: (o: LogObject) => void logs.push({ type: o.type, tag: o.tag, msg: o.args.map(String).join(" ") }) }],
  });
  const ex = new Exporter({ log, processMetrics: false, liveClock: false, ...opts });
  return { ex, logs };
}

export function rejected(ex: Exporter, reason: RejectReason): number {
  return ex.ingest.rejected(reason);
}

/** Whether `pid` is a live process (a zombie waiting for a reaper counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Records every change of a probe's `up` flag, so a short down time cannot be missed. */
export function recordUp(state: { up: boolean }): boolean[] {
  const flips: boolean[] = [];
  let up = state.up;
  Object.defineProperty(state, "up", {
    enumerable: true,
    get: () => up,
    set: (v: boolean) => {
      if (v !== up) flips.push(v);
      up = v;
    },
  });
  return flips;
}
