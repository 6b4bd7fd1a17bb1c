// Whose an OOM kill (or a memory failure's SIGBUS) is when the kernel names a task the graph
// does not hold. The OOM killer
// picks the task with the most memory, often not the process a collector reports (nvidia-smi
// lists the rank that holds the GPU) but a process below it: a data-loader worker, a compile
// worker. The rank then fails of it ("DataLoader worker (pid 5555) is killed by signal:
// Killed"), and its answer must say why. Read at once, the killed task is still in /proc (its
// parent has not reaped it: a zombie keeps `status`); a thread of the process is the process.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** The graph's process an OOM kill of another task concerns, and how (`child 5555 (python3)`; null: a thread of it). */
export interface OomOwner {
  pid: number;
  via: string | null;
}

/** Levels of parents looked up: a rank's workers, and their own workers (as builtin:procfs looks below a process). */
const _DEPTH = 2;
/** `stat`'s start time counts USER_HZ ticks, 100 a second. */
const _MS_PER_TICK = 10;

/**
 * The process of the graph (`known`) that the kill of task `pid` (`comm`), logged at `killedAt`,
 * concerns: its thread group, or its parent or grandparent; null when none is held or the task is
 * gone. A task that started after the kill (`bootMs`: `btime`) is another process on the pid.
 */
export async function oomOwner(procfs: string, pid: number, comm: string, killedAt: number, bootMs: number | null, known: (pid: number) => boolean): Promise<OomOwner | null> {
  const task = await _status(procfs, pid);
  if (task === null) return null;
  if (bootMs !== null) {
    const start = await _startTicks(procfs, pid);
    if (start === null || bootMs + start * _MS_PER_TICK > killedAt + 1000) return null;
  }
  if (task.tgid !== pid && known(task.tgid)) return { pid: task.tgid, via: null };
  let parent = task.ppid;
  for (let depth = 1; depth <= _DEPTH && parent > 1; depth++) {
    if (known(parent)) return { pid: parent, via: `${depth === 1 ? "child" : "grandchild"} ${pid} (${comm})` };
    const up = await _status(procfs, parent);
    if (up === null) return null;
    parent = up.ppid;
  }
  return null;
}

async function _status(procfs: string, pid: number): Promise<{ tgid: number; ppid: number } | null> {
  try {
    const text = await readFile(join(procfs, String(pid), "status"), "utf8");
    const tgid = /^Tgid:\s*(\d+)$/m.exec(text);
    const ppid = /^PPid:\s*(\d+)$/m.exec(text);
    return tgid === null || ppid === null ? null : { tgid: Number(tgid[1]), ppid: Number(ppid[1]) };
  } catch {
    return null;
  }
}

async function _startTicks(procfs: string, pid: number): Promise<number | null> {
  try {
    const text = await readFile(join(procfs, String(pid), "stat"), "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ", 21);
    return f.length === 21 && /^\d{1,19}$/.test(f[19]) ? Number(f[19]) : null;
  } catch {
    return null;
  }
}
