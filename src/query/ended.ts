// The last answer of `why` about each process that left the graph. SPEC §3 removes an ended
// process at the next cleanup, a second after its exit, which is when the alert about it starts
// to fire: "why did my job die" must still have an answer. The graph lets it go (ps, the graph
// dump and the metrics never see it again); this record beside it keeps what `why` would have
// said just before (state, job, times, root causes, what it consumed and waited on, the scenes
// that held for it with their evidence), for a bounded time and a bounded count.
//
// Costs: nothing per event. Per process that leaves: one answer built from its own edges (each
// list cut at MAX_LIST) and, within a budget of SCENES_PER_SECOND, the rules asked about it alone
// (as `why` asks them); past the budget (thousands evicted or ended at once) the answer keeps the
// graph's part and says that its scenes were not asked. Expiry and the bound cost O(1) per answer.
import type { SceneMatch } from "../diagnosis/evidence.ts";
import type { LeaveReason } from "../graph/graph.ts";
import type { ProcessNode } from "../graph/nodes.ts";
import { isoTime } from "./time.ts";
import { whyOf, type FaultClock, type WhyAnswer } from "./why.ts";

export type { LeaveReason };

/** What GET /api/v1/why/:pid answers for a pid that no process holds and that left the graph lately. */
export interface EndedAnswer extends WhyAnswer {
  ended: true;
  /** Why it left the graph (see LeaveReason): `ended`, `idle`, `pid_reused`, `evicted`. */
  left_because: LeaveReason;
  /** When it left the graph, ISO 8601 (wall time; event time in a replay). */
  left_at: string | null;
  /** When this answer is forgotten, ISO 8601. */
  kept_until: string | null;
  /** Event time of its `process.state start`, ISO 8601; null when none was seen. */
  started_at: string | null;
  /** Event time of the last event about it (its exit, for one that exited), ISO 8601. */
  last_event_at: string | null;
  /** False when the rules were not asked about it as it left (past the budget): `scenes` is then empty, not "none". */
  scenes_asked: boolean;
}

export interface EndedOptions {
  /** The scenes that hold for one process, asked while it is still in the graph (the engine's scenesFor). */
  scenesFor: (pid: number) => SceneMatch[] | undefined;
  /** How long an answer is kept after the process left (ms). */
  keepMs: number;
  /** Answers kept at most (default MAX_ENDED). */
  max?: number;
  /** Processes per second whose scenes are asked as they leave (default SCENES_PER_SECOND; the burst is the same). */
  scenesPerSecond?: number;
  /** The store's clock, ms (default Date.now; a replay gives event time). */
  now?: () => number;
  /** The graph's clock and error window, for which of a process's faults are still inside it. */
  faultClock?: FaultClock;
}

export const MAX_ENDED = 500;
export const SCENES_PER_SECOND = 100;
/** Root causes, waits and resources kept per answer. */
export const MAX_LIST = 16;

interface _Kept {
  answer: EndedAnswer;
  until: number;
}

export class EndedProcesses {
  readonly keepMs: number;
  readonly max: number;
  /** Answers dropped before their time to stay within `max`. */
  dropped = 0;
  /** Answers kept in all (processes that left the graph). */
  recorded = 0;
  /** Of them, those whose scenes were not asked (past the budget). */
  scenesSkipped = 0;
  /** Answers with neither a scene nor a root cause: the first to go at the bound. Each map in the order they left. */
  private readonly _plain = new Map<number, _Kept>();
  private readonly _explained = new Map<number, _Kept>();
  private readonly _scenesFor: EndedOptions["scenesFor"];
  private readonly _rate: number;
  private readonly _now: () => number;
  private readonly _faultClock: FaultClock | undefined;
  private _tokens: number;
  private _tokensAt = -Infinity;

  constructor(opts: EndedOptions) {
    this.keepMs = opts.keepMs;
    this.max = Math.max(1, opts.max ?? MAX_ENDED);
    this._scenesFor = opts.scenesFor;
    this._rate = Math.max(0, opts.scenesPerSecond ?? SCENES_PER_SECOND);
    this._tokens = this._rate;
    this._now = opts.now ?? Date.now;
    this._faultClock = opts.faultClock;
  }

  /** Answers kept now. */
  get size(): number {
    this._expire(this._now());
    return this._plain.size + this._explained.size;
  }

  /**
   * Keeps the last answer about `p`, which is about to leave the graph (StateGraph.onLeave):
   * its edges are still there, and the rules are asked about it within the budget.
   */
  keep(p: ProcessNode, reason: LeaveReason): void {
    const now = this._now();
    this._expire(now);
    const asked = this._take(now);
    const scenes = asked ? (this._scenesFor(p.pid) ?? []).map(_own) : [];
    if (!asked) this.scenesSkipped++;
    const answer: EndedAnswer = {
      ...whyOf(p, scenes, MAX_LIST, this._faultClock),
      ended: true,
      left_because: reason,
      left_at: isoTime(now),
      kept_until: isoTime(now + this.keepMs),
      started_at: isoTime(p.bornTs),
      last_event_at: isoTime(p.updatedTs),
      scenes_asked: asked,
    };
    this._plain.delete(p.pid);
    this._explained.delete(p.pid);
    while (this._plain.size + this._explained.size >= this.max) {
      const from = this._plain.size !== 0 ? this._plain : this._explained;
      from.delete(from.keys().next().value!);
      this.dropped++;
    }
    const explained = answer.scenes.length !== 0 || answer.root_causes.length !== 0;
    (explained ? this._explained : this._plain).set(p.pid, { answer, until: now + this.keepMs });
    this.recorded++;
  }

  /** The last answer about `pid`, if a process on it left the graph within the keep time. */
  get(pid: number): EndedAnswer | undefined {
    this._expire(this._now());
    return (this._explained.get(pid) ?? this._plain.get(pid))?.answer;
  }

  /** Forgets answers past their time: each map is in the order they left, so only its head is looked at. */
  private _expire(now: number): void {
    for (const m of [this._plain, this._explained]) {
      for (const [pid, k] of m) {
        if (k.until > now) break;
        m.delete(pid);
      }
    }
  }

  /** One ask of the rules from the budget (a token bucket of `_rate` a second), or false. */
  private _take(now: number): boolean {
    if (this._rate === 0) return false;
    if (now > this._tokensAt) {
      this._tokens = this._tokensAt === -Infinity ? this._rate : Math.min(this._rate, this._tokens + ((now - this._tokensAt) * this._rate) / 1000);
      this._tokensAt = now;
    }
    if (this._tokens < 1) return false;
    this._tokens--;
    return true;
  }
}

/** A match of its own: the diagnosis keys what it names by the match's pid list (evidence.ts), which an answer kept here must not hold on to. */
function _own(m: SceneMatch): SceneMatch {
  return { ...m, affected_pids: [...m.affected_pids] };
}
