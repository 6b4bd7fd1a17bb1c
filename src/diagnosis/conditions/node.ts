// The compiled form of a rule condition: each keeps its own host-wide truth up to date from
// graph changes and events, and tells its listeners when that truth flips. A condition also
// answers for one process (`holdsFor`) and names the processes it may hold for
// (`candidates`), which is how process-scoped rules and per-pid runs are evaluated without a
// walk over all processes.
import type { StateGraph } from "../../graph/graph.ts";
import type { GraphNode, ProcessNode } from "../../graph/nodes.ts";
import type { IdPattern } from "../pattern.ts";

/** Told +1 when a condition starts to hold, -1 when it stops. */
export type FlipListener = (delta: 1 | -1) => void;

/** What a per-process question needs besides the process: the graph and both clocks. */
export interface ProcessContext {
  readonly graph: StateGraph;
  readonly nowTs: number;
  readonly nowWall: number;
}

/** Processes a condition may hold for: a bound on their number, and the way to list them. */
export interface Candidates {
  /** An upper bound on the number of processes `list` yields (it may repeat one). */
  size: number;
  list(): Iterable<ProcessNode>;
}

export abstract class CondNode {
  holds = false;
  readonly listeners: FlipListener[] = [];
  /**
   * Told when what the condition holds for changes without its host-wide truth changing (a
   * second node starts to match, a new edge, an event about a new pid or entity): a
   * process-scoped rule may start or stop matching for some process then.
   */
  readonly touched: (() => void)[] = [];

  /** Whether the condition holds for process `p` (its own events, its edges and what they reach). */
  abstract holdsFor(p: ProcessNode, ctx: ProcessContext): boolean;

  /** The processes the condition may hold for. */
  abstract candidates(ctx: ProcessContext): Candidates;

  protected _set(v: boolean): void {
    if (v === this.holds) return;
    this.holds = v;
    const d = v ? 1 : -1;
    for (const l of this.listeners) l(d);
  }

  protected _touch(): void {
    for (const l of this.touched) l();
  }
}

/** `any` / `all` over child conditions. */
export class GroupCond extends CondNode {
  private _true = 0;
  constructor(
    readonly op: "any" | "all",
    readonly children: CondNode[],
    /** The rule file's form of it (GroupCondition.written), for evidence paths. */
    readonly written?: "mapping" | "top",
  ) {
    super();
    for (const c of children) {
      if (c.holds) this._true++;
      c.listeners.push((d) => {
        this._true += d;
        this._update();
      });
      c.touched.push(() => this._touch());
    }
    this._update();
  }

  holdsFor(p: ProcessNode, ctx: ProcessContext): boolean {
    return this.op === "any" ? this.children.some((c) => c.holdsFor(p, ctx)) : this.children.every((c) => c.holdsFor(p, ctx));
  }

  candidates(ctx: ProcessContext): Candidates {
    const all = this.children.map((c) => c.candidates(ctx));
    if (this.op === "all") return all.reduce((a, b) => (b.size < a.size ? b : a));
    return { size: all.reduce((n, c) => n + c.size, 0), list: () => _chain(all) };
  }

  private _update(): void {
    this._set(this.op === "any" ? this._true > 0 : this._true === this.children.length);
  }
}

function* _chain(all: Candidates[]): Iterable<ProcessNode> {
  for (const c of all) yield* c.list();
}

/** How many processes `usersOf(n)` lists, without making the list. */
export function userCount(n: GraphNode): number {
  return n.kind === "process" ? 1 : n.kind === "error" ? n.blocked.size : n.consumers.size + n.waiters.size;
}

/** Every process that uses (consumes or waits on) or is blocked by `n`, or `n` itself. */
export function usersOf(n: GraphNode): { size: number; list(): Iterable<ProcessNode> } {
  if (n.kind === "process") return { size: 1, list: () => [n] };
  if (n.kind === "error") return { size: n.blocked.size, list: () => n.blocked };
  return { size: n.consumers.size + n.waiters.size, list: () => _both(n.consumers, n.waiters) };
}

function* _both(a: Iterable<ProcessNode>, b: Iterable<ProcessNode>): Iterable<ProcessNode> {
  yield* a;
  yield* b;
}

/**
 * A condition's pattern against a node's id, which never changes: tested once per node, the
 * answer kept in the node's bits (`bit` 0: past the 31 bits, tested every time). With
 * `entityToo`, an error node also matches by its entity id.
 */
export function idMatches(node: GraphNode, bit: number, pattern: IdPattern, entityToo: boolean): boolean {
  if (bit !== 0 && (node.idTested & bit) !== 0) return (node.idMatched & bit) !== 0;
  const yes = pattern.test(node.id) || (entityToo && node.kind === "error" && pattern.test(node.entityId));
  if (bit !== 0) {
    node.idTested |= bit;
    if (yes) node.idMatched |= bit;
  }
  return yes;
}
