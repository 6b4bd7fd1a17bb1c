// Shared by the kmsg tests: a SourceContext that records what a source emits.
import { createConsola, type LogObject } from "consola";
import { join } from "node:path";
import type { SourceContext } from "../../src/sources/source.ts";
import { ROOT } from "../_helpers.ts";

export const KMSG = join(ROOT, "test/fixtures/kmsg");
export const HOST = { procfs: join(KMSG, "procfs"), sysfs: join(KMSG, "sysfs") };
/** The stand-in nvidia-smi: GPU 0 at 00000000:18:00.0, GPU 1 at 00000000:3B:00.0. */
export const FAKE_SMI = join(ROOT, "test/fixtures/nvidia-smi");

export interface Recorded {
  ctx: SourceContext;
  events: Record<string, unknown>[];
  logs: string[];
  /** Resolves the first time the source says it is up (it has read everything there was). */
  up: Promise<void>;
  isUp(): boolean;
}

/** `pids`: the processes the graph holds, as the context reports them. */
export function recorder(pids: number[] = []): Recorded {
  const events: Record<string, unknown>[] = [];
  const logs: string[] = [];
  let up = false;
  let markUp!: () => void;
  const upPromise = new Promise<void>((r) => (markUp = r));
  const log = createConsola({ level: 5, reporters: [{ log: (o: LogObject) => void logs.push(`${o.type} ${o.args.map(String).join(" ")}`) }] });
  const ctx: SourceContext = {
    push: () => undefined,
    end: () => undefined,
    emit: (e) => void events.push(e),
    setUp: (u) => {
      up = u;
      if (u) markUp();
    },
    restarted: () => undefined,
    processes: () => pids.map((pid) => ({ pid, jobId: null, state: "running" })),
    log,
  };
  return { ctx, events, logs, up: upPromise, isUp: () => up };
}

/** The events without their times, sorted as emitted: what a test compares. */
export function shapes(events: Record<string, unknown>[]): string[] {
  return events.map((e) => `${e.event_type} ${e.entity_id}${e.pid === undefined ? "" : ` pid=${e.pid}`} ${String(e.value).split(" ")[0]}`);
}
