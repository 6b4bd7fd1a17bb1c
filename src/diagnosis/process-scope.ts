// A rule asked about one process (SPEC §4 `scope: process`, and every per-pid run): each
// condition holds for the process when it holds on the process itself, its edges and the
// nodes they reach, and on the events that concern it (conditions/event.ts). A host-wide run
// finds the processes a process-scoped rule matches for without a walk over all processes:
// it asks only the candidates of the conditions that must hold (the smallest such set), and
// stops once it has named as many pids as a result lists.
import type { ProcessNode } from "../graph/nodes.ts";
import type { CondNode, ProcessContext } from "./conditions/node.ts";
import type { RuleState } from "./matcher.ts";

/** How a rule stands for one process: its confidence there, and which conditions hold. */
export interface ProcessVerdict {
  confidence: number;
  matched: boolean;
  holds: (c: CondNode) => boolean;
}

/**
 * Evaluates `rs` for process `p`, stopping as soon as the conditions left cannot bring it to
 * its min_confidence (the confidence of a process that does not match is then a lower bound).
 */
export function judgeProcess(rs: RuleState, p: ProcessNode, ctx: ProcessContext): ProcessVerdict {
  const holds = (c: CondNode): boolean => c.holdsFor(p, ctx);
  if (!rs.matched) return { confidence: 0, matched: false, holds };
  const top = rs.top;
  const n = top.length;
  const need = rs.rule.applicability.min_confidence * n - 1e-9;
  let topTrue = 0;
  for (let i = 0; i < n; i++) {
    if (top[i].holdsFor(p, ctx)) topTrue++;
    else if (topTrue + (n - 1 - i) < need) return { confidence: topTrue / n, matched: false, holds };
  }
  const matched = topTrue >= need && rs.gates.every(holds);
  return { confidence: topTrue / n, matched, holds };
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
 * least k = ceil(min_confidence × n) of the n top-level conditions hold for it, so it is among
 * the candidates of any n - k + 1 of them, and of every required event: the cheapest such
 * union is asked, each candidate once.
 */
export function findProcesses(rs: RuleState, ctx: ProcessContext, limit: number): ProcessMatches {
  const out: ProcessMatches = { processes: [], confidence: 0, asked: 0 };
  if (!rs.matched) return out;
  const n = rs.top.length;
  const k = Math.max(0, Math.ceil(rs.rule.applicability.min_confidence * n - 1e-9));
  let sources: Iterable<ProcessNode>;
  if (k === 0 && rs.gates.length === 0) sources = ctx.graph.processes.values();
  else {
    const tops = rs.top.map((c) => c.candidates(ctx)).sort((a, b) => a.size - b.size);
    const union = k === 0 ? [] : tops.slice(0, n - k + 1);
    let best = { size: union.reduce((s, c) => s + c.size, 0), lists: union };
    for (const g of rs.gates) {
      const c = g.candidates(ctx);
      if (k === 0 || c.size < best.size) best = { size: c.size, lists: [c] };
    }
    sources = _chain(best.lists.map((c) => c.list()));
  }
  const seen = new Set<ProcessNode>();
  for (const p of sources) {
    if (seen.has(p)) continue;
    seen.add(p);
    if (seen.size > _MAX_ASKED) break;
    out.asked++;
    const v = judgeProcess(rs, p, ctx);
    if (!v.matched) continue;
    out.processes.push(p);
    if (v.confidence > out.confidence) out.confidence = v.confidence;
    if (out.processes.length >= limit) break;
  }
  out.processes.sort((a, b) => a.pid - b.pid);
  return out;
}

/**
 * A bound on the processes one search asks: past it the search gives up with what it found (a
 * rule that holds host-wide for tens of thousands of candidates and for none of them is not a
 * case worth stalling the event loop for; the next run asks again).
 */
const _MAX_ASKED = 20_000;

function* _chain(lists: Iterable<ProcessNode>[]): Iterable<ProcessNode> {
  for (const l of lists) yield* l;
}
