// A rule asked about one process (SPEC §4 `scope: process`, and every per-pid run): each
// condition holds for the process when it holds on the process itself, its edges and the
// nodes they reach, and on the events that concern it (conditions/event.ts). A host-wide run
// finds the processes a process-scoped rule matches for without a walk over all processes:
// it asks only the candidates of the conditions that must hold (the smallest such set), and
// stops once it has named as many pids as a result lists.
import type { ProcessNode } from "../graph/nodes.ts";
import type { Candidates, CondNode, ProcessContext } from "./conditions/node.ts";
import type { RuleState } from "./matcher.ts";

/** How a rule stands for one process: its confidence there, and which conditions hold. */
export class ProcessVerdict {
  constructor(
    readonly confidence: number,
    readonly matched: boolean,
    private readonly _p: ProcessNode,
    private readonly _ctx: ProcessContext,
  ) {}

  /** Whether condition `c` holds for the process. */
  holds(c: CondNode): boolean {
    return c.holdsFor(this._p, this._ctx);
  }
}

/**
 * Evaluates `rs` for process `p`, stopping as soon as the conditions left cannot bring it to
 * its min_confidence (the confidence of a process that does not match is then a lower bound).
 */
export function judgeProcess(rs: RuleState, p: ProcessNode, ctx: ProcessContext): ProcessVerdict {
  const n = rs.top.length;
  if (!rs.matched) return new ProcessVerdict(0, false, p, ctx);
  const top = rs.top;
  const need = rs.need;
  let topTrue = 0;
  for (let i = 0; i < n; i++) {
    if (top[i].holdsFor(p, ctx)) topTrue++;
    else if (topTrue + (n - 1 - i) < need) return new ProcessVerdict(topTrue / n, false, p, ctx);
  }
  let matched = topTrue >= need;
  const gates = rs.gates;
  for (let i = 0; matched && i < gates.length; i++) matched = gates[i].holdsFor(p, ctx);
  return new ProcessVerdict(topTrue / n, matched, p, ctx);
}

/** What a host-wide run of a process-scoped rule found: matching processes (up to a limit) and the work it took. */
export interface ProcessMatches {
  processes: ProcessNode[];
  /** The best confidence among them. */
  confidence: number;
  /** Candidates asked: the cost of the run for this rule. */
  asked: number;
}

/**
 * The processes a process-scoped rule matches for, up to `limit`. A process matches only if at
 * least k = max(1, ceil(min_confidence × n)) of the n top-level conditions hold for it, so it is among
 * the candidates of any n - k + 1 of them, and of every required event: the cheapest such
 * union is asked, each candidate once.
 */
export function findProcesses(rs: RuleState, ctx: ProcessContext, limit: number): ProcessMatches {
  const out: ProcessMatches = { processes: [], confidence: 0, asked: 0 };
  if (!rs.matched) return out;
  const lists = _cheapestSources(rs, ctx);
  const seen = new Set<ProcessNode>();
  for (let i = 0; i < lists.length && askProcesses(rs, ctx, limit, lists[i].list(), out, seen); i++);
  out.processes.sort((a, b) => a.pid - b.pid);
  return out;
}

/**
 * The candidate lists whose union holds every process the rule can match for, the cheapest
 * such choice (see findProcesses). At least one condition must hold, so there is always one.
 */
function _cheapestSources(rs: RuleState, ctx: ProcessContext): Candidates[] {
  const n = rs.top.length;
  const k = rs.need;
  const gates = rs.gates;
  const tops: Candidates[] = [];
  for (let i = 0; i < n; i++) tops.push(rs.top[i].candidates(ctx));
  // Any n - k + 1 of them: the smallest ones.
  if (n - k + 1 < n) tops.sort((a, b) => a.size - b.size);
  let best: Candidates[] = tops.length === n - k + 1 ? tops : tops.slice(0, n - k + 1);
  let bestSize = 0;
  for (const c of best) bestSize += c.size;
  for (let i = 0; i < gates.length && bestSize !== 0; i++) {
    const c = gates[i].candidates(ctx);
    if (c.size < bestSize) {
      best = [c];
      bestSize = c.size;
    }
  }
  return best;
}

/** Asks each new process of `list` until `limit` matched, into `out`; false once the search is over. */
export function askProcesses(rs: RuleState, ctx: ProcessContext, limit: number, list: Iterable<ProcessNode>, out: ProcessMatches, seen: Set<ProcessNode>): boolean {
  for (const p of list) {
    if (seen.has(p)) continue;
    seen.add(p);
    if (seen.size > _MAX_ASKED) return false;
    out.asked++;
    const v = judgeProcess(rs, p, ctx);
    if (!v.matched) continue;
    out.processes.push(p);
    if (v.confidence > out.confidence) out.confidence = v.confidence;
    if (out.processes.length >= limit) return false;
  }
  return true;
}

/**
 * A bound on the processes one search asks: past it the search gives up with what it found (a
 * rule that holds host-wide for tens of thousands of candidates and for none of them is not a
 * case worth stalling the event loop for; the next run asks again).
 */
const _MAX_ASKED = 20_000;
