// The tasks under one process that may hold it up, read within the round's budget: its threads,
// its child processes and grandchildren (a launcher's ranks, a rank's data-loader workers), and
// their threads. Children come from every thread's `task/<tid>/children` (a thread that spawns
// a process is its parent there). What was found in `D` is handed to stuck-tasks.ts.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { mapLimit } from "../poller.ts";
import { childPids, statPpid, statStart, statState, statusSwitches } from "./parse.ts";
import { readSmall } from "./read.ts";

/** Generations below a process looked through: its children (1) and grandchildren (2). */
export const MAX_DEPTH = 2;
/** Threads looked at per process (the process itself or a descendant). */
export const MAX_THREADS = 512;
/** Child processes looked at per process, from all its threads together. */
export const MAX_CHILDREN = 64;

/** A thread of a process, or of one of its descendants, found in uninterruptible sleep. */
export interface TaskInD {
  /**
   * What the wait's value names: `thread <tid>` (of the process itself), `child <pid>`,
   * `thread <tid> of child <pid>`, `grandchild <pid>`, `thread <tid> of grandchild <pid>`.
   */
  what: string;
  /** 0: a thread of the process itself; 1: a child's; 2: a grandchild's. */
  depth: number;
  /** Whose open files tell the device: the process the task belongs to. */
  filesOf: number;
  /** The task's directory, for its `wchan`. */
  dir: string;
  /** The task's start time (`stat` field 22): a tid or pid taken by a later task is another task. */
  start: number | null;
  /** Context switches so far; null when unreadable (then it is never taken as stuck). */
  switches: number | null;
}

/** Reads left this round; each file read or directory listing takes one. */
export interface Budget {
  left: number;
}

export interface TreeLook {
  tasks: TaskInD[];
  /** False when the budget ran out before every task within MAX_DEPTH was looked at. */
  complete: boolean;
}

const _GENERATION = ["", "child", "grandchild"];

interface _Proc {
  pid: number;
  /** The parent this pid was listed under (its `stat` must name it: a reused pid does not). */
  ppid: number;
  depth: number;
}

export class TaskTree {
  constructor(
    readonly procfs: string,
    private readonly _concurrency = 16,
  ) {}

  /**
   * The tasks in `D` under `root` (whose own state the caller has read: it is not in `D`).
   * `skip`: pids looked at on their own (the graph's processes), not looked through here, nor
   * their descendants. `seen`: pids looked through this round, added to; none is looked at twice.
   * Reads in order (a generation after the one above it), each charged to `budget` before it is
   * made: with the same tree, a cut leaves the same part looked at.
   */
  async look(root: number, skip: (pid: number) => boolean, seen: Set<number>, budget: Budget): Promise<TreeLook> {
    const tasks: TaskInD[] = [];
    seen.add(root);
    let level: _Proc[] = [{ pid: root, ppid: -1, depth: 0 }];
    while (level.length > 0) {
      const below: _Proc[] = [];
      for (const p of level) {
        const ok = await this._process(p, tasks, below, skip, seen, budget);
        if (!ok) return { tasks, complete: false };
      }
      level = below;
    }
    return { tasks, complete: true };
  }

  /** One process of the tree: its state (a descendant), its threads, its children. False when the budget ran out. */
  private async _process(p: _Proc, tasks: TaskInD[], below: _Proc[], skip: (pid: number) => boolean, seen: Set<number>, budget: Budget): Promise<boolean> {
    const dir = join(this.procfs, String(p.pid));
    const name = p.depth === 0 ? "" : `${_GENERATION[p.depth]} ${p.pid}`;
    if (p.depth > 0) {
      if (!_take(budget, 1)) return false;
      const stat = await _text(join(dir, "stat"));
      const state = statState(stat);
      // Gone, reused by a process that is not this parent's child, or dead: nothing to look at.
      if (state === null || statPpid(stat) !== p.ppid || state === "Z" || state === "X" || state === "x") return true;
      if (state === "D") {
        if (!_take(budget, 1)) return false;
        tasks.push({ what: name, depth: p.depth, filesOf: p.pid, dir, start: statStart(stat), switches: await _switches(dir) });
      }
    }
    if (!_take(budget, 1)) return false;
    const tids = await _threads(dir);
    const parent = p.depth < MAX_DEPTH;
    // Every thread's stat but the main one's (the process's own), and every thread's children.
    const reads: { tid: string; file: "stat" | "children" }[] = [];
    for (const tid of tids) {
      if (tid !== String(p.pid)) reads.push({ tid, file: "stat" });
      if (parent) reads.push({ tid, file: "children" });
    }
    if (!_take(budget, reads.length)) return false;
    const texts = await mapLimit(reads, this._concurrency, (r) => _text(join(dir, "task", r.tid, r.file)));
    const inD: { tid: string; start: number | null }[] = [];
    let children = 0;
    for (let i = 0; i < reads.length; i++) {
      const r = reads[i];
      if (r.file === "stat") {
        if (statState(texts[i]) === "D") inD.push({ tid: r.tid, start: statStart(texts[i]) });
        continue;
      }
      for (const c of childPids(texts[i])) {
        if (children >= MAX_CHILDREN) break;
        children++;
        if (skip(c) || seen.has(c)) continue;
        seen.add(c);
        below.push({ pid: c, ppid: p.pid, depth: p.depth + 1 });
      }
    }
    if (!_take(budget, inD.length)) return false;
    const switches = await mapLimit(inD, this._concurrency, (t) => _switches(join(dir, "task", t.tid)));
    for (let i = 0; i < inD.length; i++) {
      const t = inD[i];
      tasks.push({ what: `thread ${t.tid}${name && ` of ${name}`}`, depth: p.depth, filesOf: p.pid, dir: join(dir, "task", t.tid), start: t.start, switches: switches[i] });
    }
    return true;
  }
}

/** Takes `n` reads from the budget, or none when fewer are left. */
function _take(budget: Budget, n: number): boolean {
  if (budget.left < n) return false;
  budget.left -= n;
  return true;
}

/** The thread ids under `<dir>/task` (at most MAX_THREADS); none when it cannot be listed. */
async function _threads(dir: string): Promise<string[]> {
  try {
    return (await readdir(join(dir, "task"))).filter((t) => /^\d+$/.test(t)).slice(0, MAX_THREADS);
  } catch {
    return [];
  }
}

async function _switches(dir: string): Promise<number | null> {
  return statusSwitches(await _text(join(dir, "status")));
}

/** A file's text, or "" when it cannot be read (the task has gone meanwhile). */
function _text(path: string): Promise<string> {
  return readSmall(path).catch(() => "");
}
