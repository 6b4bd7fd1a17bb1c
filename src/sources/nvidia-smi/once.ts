// One short nvidia-smi run (a --help-query-* list, a --query-remapped-rows snapshot): its stdout
// lines, bounded in count, and how it ended; killed when it outlasts its time. The caller keeps
// the child (`onChild`) so that stop() can reap it. And the driver's field lists, read so.
import { lineSplitter, reap, startChild, type Child, type Env } from "../child.ts";
import { REMAP_QUERY, gpuQuery, helpFields } from "./csv.ts";

export interface OnceResult {
  lines: string[];
  /** Exit code; null when killed or not started. */
  code: number | null;
  /** Why it did not answer: not started, killed by a signal, or timed out. */
  failed?: string;
}

/** At most this many lines are kept (a --help-query-gpu list is about 1,500 lines on R590). */
const MAX_LINES = 10_000;

export async function runOnce(
  path: string,
  args: string[],
  env: Env,
  timeoutMs: number,
  onChild: (child: Child | null) => void,
): Promise<OnceResult> {
  let child: Child;
  try {
    child = startChild(path, args, env);
  } catch (e) {
    return { lines: [], code: null, failed: (e as Error).message };
  }
  onChild(child);
  const lines: string[] = [];
  const split = lineSplitter((line) => {
    if (lines.length < MAX_LINES) lines.push(line);
  });
  child.proc.stdout?.on("data", (b: Uint8Array) => split.push(b));
  child.proc.stderr?.resume();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reap(child, 0);
  }, timeoutMs);
  const { code, signal, error } = await child.closed;
  clearTimeout(timer);
  split.end();
  onChild(null);
  if (error) return { lines, code: null, failed: error.message };
  if (timedOut) return { lines, code: null, failed: `no answer in ${timeoutMs} ms` };
  if (signal) return { lines, code: null, failed: `killed by ${signal}` };
  return { lines, code };
}

/**
 * Which health fields this driver knows, from `--help-query-gpu` and
 * `--help-query-remapped-rows`. Null when nvidia-smi gave no list (it failed): the caller runs
 * the base query and asks again at its next launch.
 */
export async function discover(
  path: string,
  env: Env,
  timeoutMs: number,
  onChild: (child: Child | null) => void,
): Promise<{ gpuFields: string[]; remapOk: boolean } | null> {
  const gpu = await runOnce(path, ["--help-query-gpu"], env, timeoutMs, onChild);
  // A list is trusted whatever the exit status, once it names the base query's first field.
  const known = helpFields(gpu.lines.join("\n"));
  if (!known.has("index")) return null;
  const remap = await runOnce(path, ["--help-query-remapped-rows"], env, timeoutMs, onChild);
  const remapKnown = helpFields(remap.lines.join("\n"));
  return { gpuFields: gpuQuery(known), remapOk: REMAP_QUERY.every((f) => remapKnown.has(f)) };
}
