// Whose an OOM kill (or a memory failure's SIGBUS) is when the kernel names a task the graph
// does not hold. The OOM killer
// picks the task with the most memory, often not the process a collector reports (nvidia-smi
// lists the rank that holds the GPU) but a process below it: a data-loader worker, a compile
// worker. The rank then fails of it ("DataLoader worker (pid 5555) is killed by signal:
// Killed"), and its answer must say why. Read at once, the killed task is still in /proc (its
// parent has not reaped it: a zombie keeps `status`); a thread of the process is the process.
import { MS_PER_TICK, readStat, threadGroup } from "../proc-task.ts";
import { statPpid, statStart } from "../procfs/parse.ts";

/** The graph's process an OOM kill of another task concerns, and how (`child 5555 (python3)`; null: a thread of it). */
export interface OomOwner {
  pid: number;
  via: string | null;
}

/** Levels of parents looked up: a rank's workers, and their own workers (as builtin:procfs looks below a process). */
const _DEPTH = 2;

/**
 * The process of the graph (`known`) that the kill of task `pid` (`comm`), logged at `killedAt`,
 * concerns: its thread group, or its parent or grandparent; null when none is held or the task is
 * gone. A task that started after the kill (`bootMs`: `btime`) is another process on the pid.
 */
export async function oomOwner(procfs: string, pid: number, comm: string, killedAt: number, bootMs: number | null, known: (pid: number) => boolean): Promise<OomOwner | null> {
  const stat = await readStat(procfs, pid);
  const tgid = stat === null ? null : await threadGroup(procfs, pid);
  if (stat === null || tgid === null) return null;
  if (bootMs !== null) {
    const start = statStart(stat);
    if (start === null || bootMs + start * MS_PER_TICK > killedAt + 1000) return null;
  }
  if (tgid !== pid && known(tgid)) return { pid: tgid, via: null };
  let parent = statPpid(stat);
  for (let depth = 1; depth <= _DEPTH && parent !== null && parent > 1; depth++) {
    if (known(parent)) return { pid: parent, via: `${depth === 1 ? "child" : "grandchild"} ${pid} (${comm})` };
    const up = await readStat(procfs, parent);
    if (up === null) return null;
    parent = statPpid(up);
  }
  return null;
}
