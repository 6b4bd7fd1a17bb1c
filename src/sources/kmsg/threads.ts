// Which process a thread id belonged to, as read from the host before it died. The kernel's
// report of an unhandled fault signal names the faulting thread (its id and name), not its
// process; for any thread but the main one that id is not a pid the graph holds. By the time the
// record is read the whole thread group is usually gone (the signal kills every thread, within
// milliseconds when no core is dumped), so `<procfs>/<tid>/status` cannot say whose it was. This
// map keeps what `<procfs>/<pid>/task/` listed for the processes the graph holds, read on a
// period: evidence read before the crash, never a guess. Listing task/ costs the kernel about
// 1.5 µs a thread (64 processes of 200 threads: about 30 ms of CPU a refresh), so a refresh only
// stats each process's task/ (its link count is 2 plus the thread count, read without walking the
// threads: about 5 ms for those 64) and lists it again when the process is new, its thread count
// changed, or its list is older than `relistMs` (a thread that ends as another starts between two
// looks leaves the count as it was).
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

export interface ThreadBounds {
  /** Processes whose threads are listed a refresh (the graph's first ones, oldest first). */
  maxProcesses: number;
  /** Threads held in all. */
  maxThreads: number;
  /** A process's threads are listed again at least this often, whatever its thread count says. */
  relistMs: number;
}

export const DEFAULT_THREAD_BOUNDS: ThreadBounds = Object.freeze({ maxProcesses: 256, maxThreads: 65_536, relistMs: 30_000 });

/** What the map holds after its last refresh, and what that refresh left out for the bounds. */
export interface ThreadMapStats {
  /** Processes whose threads are held, and the threads held. */
  processes: number;
  threads: number;
  /** Processes not looked at, and threads of those looked at not kept. */
  processes_left_out: number;
  threads_left_out: number;
}

export class ThreadMap {
  /** For xctl_kmsg_thread_map. */
  readonly stats: ThreadMapStats = { processes: 0, threads: 0, processes_left_out: 0, threads_left_out: 0 };
  /** pid → its threads other than itself, as last listed, with its thread count then and when. */
  private readonly _threads = new Map<number, _Listed>();
  /** tid → pid, the index of `_threads`. */
  private readonly _owner = new Map<number, number>();
  private _held = 0;
  private _running: Promise<void> | null = null;

  constructor(
    private readonly _procfs: string,
    private readonly _bounds: ThreadBounds = DEFAULT_THREAD_BOUNDS,
  ) {}

  /** Threads held now. */
  get size(): number {
    return this._held;
  }

  /** The process thread `tid` was last listed under; null when none held it. */
  owner(tid: number): number | null {
    return this._owner.get(tid) ?? null;
  }

  /**
   * Lists the threads of `pids` (the graph's running processes) again; one refresh at a time (a
   * call while one runs waits for it). What was listed of a process that is gone (perhaps the
   * crash whose record is about to be read), or no longer among `pids`, stays while `held` says
   * the graph still has it (an ended process stays a while): it is what tells whose a thread was.
   */
  refresh(pids: readonly number[], held: (pid: number) => boolean = () => false, now = Date.now()): Promise<void> {
    this._running ??= this._refresh(pids, held, now).finally(() => (this._running = null));
    return this._running;
  }

  private async _refresh(pids: readonly number[], held: (pid: number) => boolean, now: number): Promise<void> {
    const wanted = new Set(pids);
    for (const pid of [...this._threads.keys()]) if (!wanted.has(pid) && !held(pid)) this._set(pid, null);
    let looked = 0;
    let leftThreads = 0;
    for (const pid of wanted) {
      if (looked === this._bounds.maxProcesses) break;
      looked++;
      const count = await _links(this._procfs, pid);
      if (count === null) continue; // gone: what was listed stays, the evidence of its threads
      const had = this._threads.get(pid);
      if (had !== undefined && had.count === count && now - had.at < this._bounds.relistMs) {
        leftThreads += had.left;
        continue;
      }
      const listed = await _tasks(this._procfs, pid);
      if (listed === null) continue;
      // Room: the bound less what the other processes hold.
      const room = Math.max(0, this._bounds.maxThreads - (this._held - (had?.tids.length ?? 0)));
      const left = Math.max(0, listed.length - room);
      leftThreads += left;
      this._set(pid, { tids: left > 0 ? listed.slice(0, room) : listed, count, at: now, left });
    }
    this.stats.processes = this._threads.size;
    this.stats.threads = this._held;
    this.stats.processes_left_out = wanted.size - looked;
    this.stats.threads_left_out = leftThreads;
  }

  private _set(pid: number, listed: _Listed | null): void {
    const old = this._threads.get(pid);
    if (old !== undefined) {
      for (const t of old.tids) if (this._owner.get(t) === pid) this._owner.delete(t);
      this._held -= old.tids.length;
      this._threads.delete(pid);
    }
    if (listed === null) return;
    for (const t of listed.tids) this._owner.set(t, pid);
    this._held += listed.tids.length;
    this._threads.set(pid, listed);
  }
}

interface _Listed {
  tids: number[];
  /** task/'s link count when listed, and the time. */
  count: number;
  at: number;
  /** Threads not kept for the bound. */
  left: number;
}

/** The link count of `<procfs>/<pid>/task/`; null when it cannot be read. */
async function _links(procfs: string, pid: number): Promise<number | null> {
  try {
    return (await stat(join(procfs, String(pid), "task"))).nlink;
  } catch {
    return null;
  }
}

/** The thread ids under `<procfs>/<pid>/task/` other than `pid`; null when it cannot be read. */
async function _tasks(procfs: string, pid: number): Promise<number[] | null> {
  let names: string[];
  try {
    names = await readdir(join(procfs, String(pid), "task"));
  } catch {
    return null;
  }
  const out: number[] = [];
  for (const n of names) {
    const tid = Number(n);
    if (Number.isInteger(tid) && tid > 0 && tid !== pid) out.push(tid);
  }
  return out;
}
