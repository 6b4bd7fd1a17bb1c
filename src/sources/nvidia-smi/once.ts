// One short nvidia-smi run (a --help-query-* list, a --query-remapped-rows snapshot): its stdout
// lines, bounded in count, and how it ended; killed when it outlasts its time. The caller keeps
// the child (`onChild`) so that stop() can reap it, and is told of one that does not die when
// killed (`onStuck`). And the driver's field lists, read so.
import { lineSplitter, runTool, type Child, type Env, type Spawn } from "../child.ts";
import { REMAP_QUERY, gpuQuery, helpFields } from "./csv.ts";

export interface OnceResult {
  lines: string[];
  /** Exit code; null when killed or not started. */
  code: number | null;
  /** Why it did not answer: not started, killed by a signal, or timed out. */
  failed?: string;
  /** Killed, and still there `killWaitMs` later: stuck in the driver (given to `onStuck`). */
  stuck?: boolean;
}

export interface OnceOptions {
  env: Env;
  /** Killed after this long. */
  timeoutMs: number;
  /** Given up on this long after the kill. */
  killWaitMs: number;
  spawn: Spawn;
  onChild: (child: Child | null) => void;
  onStuck: (child: Child) => void;
}

/** At most this many lines are kept (a --help-query-gpu list is about 1,500 lines on R590). */
const MAX_LINES = 10_000;

export async function runOnce(path: string, args: string[], o: OnceOptions): Promise<OnceResult> {
  const lines: string[] = [];
  const split = lineSplitter((line) => {
    if (lines.length < MAX_LINES) lines.push(line);
  });
  const run = await runTool(o.spawn, path, args, o.env, { timeoutMs: o.timeoutMs, killWaitMs: o.killWaitMs, onOut: (b) => split.push(b), onStart: o.onChild });
  if (run.child === null) return { lines: [], code: null, failed: run.spawnError };
  split.end();
  o.onChild(null);
  if (run.ended === null) {
    o.onStuck(run.child);
    return { lines, code: null, failed: `no answer in ${o.timeoutMs} ms and still there ${o.killWaitMs} ms after the kill`, stuck: true };
  }
  const { code, signal, error } = run.ended;
  if (error) return { lines, code: null, failed: error.message };
  if (run.timedOut) return { lines, code: null, failed: `no answer in ${o.timeoutMs} ms` };
  if (signal) return { lines, code: null, failed: `killed by ${signal}` };
  return { lines, code };
}

/**
 * Which health fields this driver knows, from `--help-query-gpu` and
 * `--help-query-remapped-rows`. Null when nvidia-smi gave no list (it failed): the caller runs
 * the base query and asks again at its next launch.
 */
export async function discover(path: string, o: OnceOptions): Promise<{ gpuFields: string[]; remapOk: boolean } | null> {
  const gpu = await runOnce(path, ["--help-query-gpu"], o);
  // A list is trusted whatever the exit status, once it names the base query's first field.
  const known = helpFields(gpu.lines.join("\n"));
  if (!known.has("index")) return null;
  // One stuck (held by the caller) is not asked after: no second run while it is there.
  if (gpu.stuck) return null;
  const remap = await runOnce(path, ["--help-query-remapped-rows"], o);
  if (remap.stuck) return null;
  const remapKnown = helpFields(remap.lines.join("\n"));
  return { gpuFields: gpuQuery(known), remapOk: REMAP_QUERY.every((f) => remapKnown.has(f)) };
}
