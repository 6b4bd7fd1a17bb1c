// One short nvidia-smi run (a --help-query-* list, a --query-remapped-rows snapshot): its stdout
// lines, bounded in count, and how it ended; killed when it outlasts its time. The caller keeps
// the child (`onChild`) so that stop() can reap it.
import { lineSplitter, reap, startChild, type Child, type Env } from "../child.ts";

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
