// Exits that a GPU or NPU tool concludes ("this pid is no longer listed") checked against the
// host's /proc. A pid that left the tool's list has not exited while it still runs: it freed its
// devices, or its GPU fell off the bus and left the list (Xid 79), where the process hangs in the
// driver. Ending it there would make a crash of a hang and drop it from `why`. Such a pid is
// watched instead, and its exit said once /proc no longer has it (or holds it as a zombie).
// Without the host's /proc (none given, or another pid namespace) the tool's word is taken.
import { join } from "node:path";
import { statState } from "./procfs/parse.ts";
import { isGone, readText } from "./poller.ts";

/** What a device tool emits: only `process.state exit` events are looked at. */
export interface ToolEvent {
  ts: number;
  event_type: string;
  pid?: number | null;
  value: string;
}

/** Pids watched at most; past it the tool's word is taken for a new exit. */
export const MAX_WATCHED_PIDS = 4096;

export class ExitCheck {
  /** Alive pids the tool stopped listing, with the exit to say when they go. */
  private readonly _watched = new Map<number, ToolEvent>();
  private _hostPids: Promise<boolean> | null = null;

  /** `procfs`: the host's /proc (`--path.procfs`); undefined takes every exit as said. */
  constructor(
    private readonly _procfs: string | undefined,
    private readonly _max = MAX_WATCHED_PIDS,
  ) {}

  /** Pids listed as gone by the tool but still running, being watched. */
  get watched(): number {
    return this._watched.size;
  }

  /**
   * One round of the tool's events, with each exit of a pid that still runs held back, and the
   * exits of watched pids that have since gone added (stamped `now`).
   */
  async check<E extends ToolEvent>(events: E[], now: number): Promise<E[]> {
    if (this._procfs === undefined || !(await this._usable())) return events;
    const out: E[] = [];
    const heldNow = new Set<number>();
    for (const e of events) {
      if (typeof e.pid !== "number") {
        out.push(e);
        continue;
      }
      if (e.event_type !== "process.state" || e.value !== "exit") {
        this._watched.delete(e.pid); // listed again
        out.push(e);
        continue;
      }
      if (this._watched.size < this._max && (await this._alive(e.pid)) === true) {
        this._watched.set(e.pid, e);
        heldNow.add(e.pid);
      } else out.push(e);
    }
    for (const [pid, e] of this._watched) {
      if (heldNow.has(pid)) continue; // held back this round
      if ((await this._alive(pid)) === true) continue;
      this._watched.delete(pid);
      out.push({ ...(e as E), ts: now });
    }
    return out;
  }

  /** Those of `pids` the host's `/proc` says have gone (or are zombies); none when it cannot say. */
  async gone(pids: readonly number[]): Promise<number[]> {
    if (pids.length === 0 || this._procfs === undefined || !(await this._usable())) return [];
    const out: number[] = [];
    for (const pid of pids) if ((await this._alive(pid)) === false) out.push(pid);
    return out;
  }

  /** True while `<procfs>/<pid>/stat` says it runs; false when gone or a zombie; null when unreadable. */
  private async _alive(pid: number): Promise<boolean | null> {
    try {
      const state = statState(await readText(join(this._procfs!, String(pid), "stat"), 4096));
      return state === null ? null : state !== "Z" && state !== "X" && state !== "x";
    } catch (e) {
      return isGone(e) ? false : null;
    }
  }

  /** The host's pid namespace, where pid 2 is kthreadd: only there do the tool's pids mean the same. */
  private _usable(): Promise<boolean> {
    this._hostPids ??= readText(join(this._procfs!, "2", "stat"), 4096).then(
      (t) => /^2 \(kthreadd\) \S 0 /.test(t),
      () => false,
    );
    return this._hostPids;
  }
}
