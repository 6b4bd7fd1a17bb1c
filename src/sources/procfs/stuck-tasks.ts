// Threads and descendant processes stuck in uninterruptible sleep, per process the graph holds. A
// task counts as stuck once it has been in `D` for the threshold without one context switch
// between looks: a thread doing slow I/O wakes between requests and switches; one that has
// not run at all in that time waits on something that does not answer.
import type { TaskInD } from "./task-tree.ts";

/** A stuck task and when it was first seen in `D` (without switching since). */
export interface StuckTask {
  task: TaskInD;
  since: number;
}

export class StuckTasks {
  /** pid → its tasks in `D` at the last look (by name and start time): first seen, and switches then. */
  private readonly _seen = new Map<number, Map<string, { since: number; switches: number }>>();

  constructor(readonly dWaitMs: number) {}

  /** The task of `pid` stuck the longest, or null; forgets its tasks no longer in `D` (or that switched). */
  observe(pid: number, tasks: readonly TaskInD[], now: number): StuckTask | null {
    const before = this._seen.get(pid);
    const now_ = new Map<string, { since: number; switches: number }>();
    let best: StuckTask | null = null;
    for (const task of tasks) {
      if (task.switches === null) continue;
      // A tid or pid taken by a later task (another start time) is another task.
      const key = `${task.what} ${task.start}`;
      const b = before?.get(key);
      const since = b !== undefined && b.switches === task.switches ? b.since : now;
      now_.set(key, { since, switches: task.switches });
      if (now - since >= this.dWaitMs && (best === null || since < best.since)) best = { task, since };
    }
    if (now_.size === 0) this._seen.delete(pid);
    else this._seen.set(pid, now_);
    return best;
  }

  /** Pids watched (for tests and bounds). */
  get size(): number {
    return this._seen.size;
  }

  /** Forgets pids the graph no longer holds. */
  prune(graph: ReadonlyMap<number, unknown>): void {
    for (const pid of this._seen.keys()) if (!graph.has(pid)) this._seen.delete(pid);
  }
}
