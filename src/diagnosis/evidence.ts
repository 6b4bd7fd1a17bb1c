// What a matching rule says: its scene, and for every condition that holds what made it hold
// (the events with type, entity, value, time, pid and job; the edges; the nodes and their
// values), the concrete causes behind them (error nodes, resources, processes, events) and the
// processes and jobs affected. Every list is capped, so describing a match costs the same on a
// small graph as on a large one.
import type { EventType } from "../events/schema.ts";
import { blockedLastTs, blockedSince, blockedType } from "../graph/blocking.ts";
import { reportedMeta, type EdgeKind, type EdgeTarget, type ErrorNode, type GraphNode, type ProcessNode, type ResourceMeta } from "../graph/nodes.ts";
import { EventCond, type Seen } from "./conditions/event.ts";
import { GraphCond } from "./conditions/graph.ts";
import { MetricCond } from "./conditions/metric.ts";
import type { CondNode, ProcessContext } from "./conditions/node.ts";
import { edgeFroms, freshNewestFirst, nodeValues, walkHolding } from "./evidence-walk.ts";
import type { RuleState } from "./matcher.ts";
import type { RuleScope, Severity, SolutionStep } from "./rule.ts";

export interface ErrorCause {
  kind: "error";
  id: string;
  entity_id: string;
  error_type: string;
  /** Event time (ms) of its last report. */
  last_seen: number;
}

export interface ResourceCause {
  kind: "resource";
  id: string;
  /** The edge that made it a cause, when one did. */
  relation?: EdgeKind;
  values: Partial<ResourceMeta>;
}

export interface ProcessCause {
  kind: "process";
  id: string;
  pid: number;
  state: string;
  job_id: string | null;
}

/** An event named as a cause: the evidence event, tagged. */
export interface EventCause extends EvidenceEvent {
  kind: "event";
}

export type Cause = ErrorCause | ResourceCause | ProcessCause | EventCause;

/** One event that made an `event` condition hold. */
export interface EvidenceEvent {
  event_type: EventType;
  entity_id: string;
  value: string;
  /** Event time, ms since the epoch. */
  ts: number;
  pid: number | null;
  job_id: string | null;
}

export interface EvidenceEdge {
  type: EdgeKind;
  from: string;
  to: string;
}

export interface EvidenceNode {
  id: string;
  type: GraphNode["kind"];
  values: Record<string, string>;
}

/** What made one leaf condition hold; `condition` reads like `event error.hw on gpu-* value OOM`. */
export interface ConditionEvidence {
  /** Where the condition sits in the rule: `conditions[1]`, `conditions[2].conditions[0]`. */
  path: string;
  condition: string;
  events?: EvidenceEvent[];
  edges?: EvidenceEdge[];
  nodes?: EvidenceNode[];
}

/** One rule matching: its scene and everything an operator needs to act on it. */
export interface SceneMatch {
  scene: string;
  rule: string;
  priority: number;
  severity: Severity;
  scope: RuleScope;
  confidence: number;
  root_cause: { primary: string; secondary: string[] };
  causes: Cause[];
  /** Per holding leaf condition, what made it hold. */
  evidence: ConditionEvidence[];
  affected_pids: number[];
  affected_jobs: string[];
  /**
   * True when more processes are affected than `affected_pids` lists (it names MAX_PIDS at most;
   * the jobs of those left out may be missing from `affected_jobs`): `status`, the landing page
   * and the API say the list was cut, and `ps` asks each process it shows.
   */
  affected_pids_cut: boolean;
  /** True when a cause was left out of `causes` at its cap (MAX_CAUSES): there are more than it lists. */
  causes_cut: boolean;
  solution_steps: SolutionStep[];
}

export const MAX_CAUSES = 16;
export const MAX_PIDS = 32;
const _PER_CONDITION = 4;
/** Entities of a host-scoped event condition whose errors and processes a match names. */
const _ENTITIES = 2 * MAX_PIDS;

/** Collects causes, per-condition evidence, pids and jobs, each capped. */
class _Evidence {
  private readonly _errors: Cause[] = [];
  private readonly _resources: Cause[] = [];
  private readonly _processes: Cause[] = [];
  private readonly _events: Cause[] = [];
  private readonly _ids = new Set<string>();
  private readonly _byPath = new Map<string, ConditionEvidence>();
  readonly pids = new Set<number>();
  readonly jobs = new Set<string>();
  /** The processes behind `pids` (those the graph held): a pid may name another process later. */
  readonly nodes = new Set<ProcessNode>();
  /** Whether a process was left out of `pids` at the cap. */
  cut = false;
  /** Whether a cause was left out at MAX_CAUSES. */
  causesCut = false;
  /** Causes only, no evidence rows (a process past the four whose evidence a match shows). */
  quiet = false;

  constructor(private readonly _ctx: ProcessContext) {}

  /** Whether more would add nothing: the pids and the causes are at their caps. */
  get full(): boolean {
    return this.pids.size >= MAX_PIDS && this._ids.size >= MAX_CAUSES;
  }

  private _room(id: string): boolean {
    if (this._ids.has(id)) return false;
    if (this._ids.size >= MAX_CAUSES) {
      this.causesCut = true;
      return false;
    }
    this._ids.add(id);
    return true;
  }

  private _cond(path: string, leaf: CondNode): ConditionEvidence {
    let c = this._byPath.get(path);
    if (c === undefined) this._byPath.set(path, (c = { path, condition: String(leaf) }));
    return c;
  }

  /** An error node as a cause; `type` is the value of the fault in question and `last` its time (default: the node's last). */
  error(e: ErrorNode, type = e.errorType, last = e.updatedTs): void {
    // One per error and value: a device's Xid 79 and each tenant's own Xid 45 after it are all causes.
    if (this._room(`${e.id}\u0000${type}`)) this._errors.push({ kind: "error", id: e.id, entity_id: e.entityId, error_type: type, last_seen: last });
  }

  /** `own`: the readings of the process whose wait made it a cause (ProcessNode.waitReadings), shown over the resource's last. */
  target(t: EdgeTarget, relation?: EdgeKind, own?: ResourceMeta): void {
    if (t.kind === "error") return this.error(t);
    if (!this._room(t.id)) return;
    const values = own === undefined ? reportedMeta(t.meta) : { ...reportedMeta(t.meta), ...reportedMeta(own) };
    const c: ResourceCause = { kind: "resource", id: t.id, values };
    if (relation !== undefined) c.relation = relation;
    this._resources.push(c);
  }

  process(p: ProcessNode): void {
    if (this.pids.size < MAX_PIDS) {
      this.pids.add(p.pid);
      this.nodes.add(p);
    } else if (!this.pids.has(p.pid)) this.cut = true;
    if (p.jobId !== null && this.jobs.size < MAX_PIDS) this.jobs.add(p.jobId);
  }

  event(path: string, leaf: EventCond, s: Seen, affects: boolean): void {
    const ev = s.ev;
    const c = this.quiet ? { path, condition: "", events: [] as EvidenceEvent[] } : this._cond(path, leaf);
    c.events ??= [];
    if (!this.quiet && c.events.length < _PER_CONDITION && !c.events.some((x) => x.ts === ev.ts && x.entity_id === ev.entity_id && x.value === ev.value)) {
      c.events.push({ event_type: ev.event_type, entity_id: ev.entity_id, value: ev.value, ts: ev.ts, pid: ev.pid, job_id: ev.job_id });
    }
    if (this._room(`event:${ev.event_type}:${ev.entity_id}:${ev.pid ?? ""}`)) {
      this._events.push({ kind: "event", event_type: ev.event_type, entity_id: ev.entity_id, value: ev.value, ts: ev.ts, pid: ev.pid, job_id: ev.job_id });
    }
    const e = leaf.isError ? this._ctx.graph.errors.get(ev.entity_id) : undefined;
    if (e !== undefined) this.error(e, ev.value, ev.ts);
    if (!affects) return;
    // A device fault affects the processes it blocked (those using the device at its time),
    // not the pid its line names unless that one was among them.
    const deviceFault = leaf.isError && this._ctx.graph.faultScope.ofEvent(ev.value, ev.pid) === "device";
    if (e !== undefined && deviceFault) {
      // Every process it concerns, up to the cap on pids (eight tenants of a GPU fallen off the bus).
      // Past the cap, the first one it concerns that is left out says the list was cut.
      let n = 0;
      for (const p of e.blocked) {
        const full = n >= MAX_PIDS || this.pids.size >= MAX_PIDS;
        if (full && this.cut) break;
        const since = blockedSince(p, e);
        if (since === undefined || since > ev.ts) continue;
        if (full) {
          if (!this.pids.has(p.pid)) this.cut = true;
          continue;
        }
        this.process(p);
        n++;
      }
    }
    if (ev.pid !== null && !deviceFault) {
      const p = this._ctx.graph.processes.get(ev.pid);
      // Not a process that started after the event with its pid (reused): that one is not
      // affected, and the pid names it now (`ps` would show it the scene), not the one that left.
      if (p !== undefined && ev.ts >= p.bornTs) this.process(p);
      else if (p === undefined && this.pids.size < MAX_PIDS) this.pids.add(ev.pid);
      else if (p === undefined && !this.pids.has(ev.pid)) this.cut = true;
    }
    if (ev.job_id !== null && !deviceFault && this.jobs.size < MAX_PIDS) this.jobs.add(ev.job_id);
  }

  edge(path: string, leaf: GraphCond, p: ProcessNode, to: EdgeTarget): void {
    const c = this.quiet ? { path, condition: "", edges: [] as EvidenceEdge[] } : this._cond(path, leaf);
    c.edges ??= [];
    if (!this.quiet && c.edges.length < _PER_CONDITION && !c.edges.some((x) => x.from === p.id && x.to === to.id)) c.edges.push({ type: leaf.kind, from: p.id, to: to.id });
    if (to.kind === "error") {
      const i = p.blockedBy.indexOf(to);
      this.error(to, blockedType(p, i), blockedLastTs(p, i));
    }
    else this.target(to, leaf.kind, leaf.kind === "waits_on" ? p.waitReadings?.get(to) : undefined);
  }

  node(path: string, leaf: MetricCond, n: GraphNode): void {
    const c = this.quiet ? { path, condition: "", nodes: [] as EvidenceNode[] } : this._cond(path, leaf);
    c.nodes ??= [];
    if (!this.quiet && c.nodes.length < _PER_CONDITION && !c.nodes.some((x) => x.id === n.id)) c.nodes.push({ id: n.id, type: n.kind, values: nodeValues(n) });
    if (n.kind === "process") {
      if (this._room(n.id)) this._processes.push({ kind: "process", id: n.id, pid: n.pid, state: n.state, job_id: n.jobId });
    } else this.target(n);
  }

  causes(): Cause[] {
    return [...this._errors, ...this._resources, ...this._processes, ...this._events];
  }

  evidence(): ConditionEvidence[] {
    // In rule order: conditions[2] before conditions[10].
    const key = (path: string) => path.replace(/\d+/g, (d) => d.padStart(6, "0"));
    return [...this._byPath.values()].map((c) => [key(c.path), c] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, c]) => c);
  }
}

/** Describes a host-scoped rule from the live, host-wide condition state. */
export function describeHost(rs: RuleState, ctx: ProcessContext): SceneMatch {
  const ev = new _Evidence(ctx);
  walkHolding(rs.top, "conditions", (c) => c.holds, (leaf, path) => {
    if (leaf instanceof EventCond) {
      // Newest first, and past the events the evidence shows (four): every entity the condition
      // holds on names its error and the processes it concerns (eight hot GPUs: eight jobs), up
      // to the caps on causes and pids; and on one entity, the device's last fault and each
      // process's own (an Xid 79, then the Xid 45 of each of its tenants: the newest alone is one
      // tenant's, and hid the fault that hit them all).
      // Once pids and causes are full, the rest would name nobody new (a run names 32 at most).
      for (const s of freshNewestFirst(leaf, ctx, _ENTITIES)) {
        ev.event(path, leaf, s, true);
        if (ev.full && ev.cut) break;
      }
    } else if (leaf instanceof GraphCond) {
      // The evidence shows four edges (`edge` caps them); every process at the start of one is named, up to the cap on pids.
      let n = 0;
      // Enough: the cap on pids, or the edges the evidence shows once no pid can be added.
      const enough = () => n >= MAX_PIDS || (n >= _PER_CONDITION && ev.pids.size >= MAX_PIDS);
      // Past that, the first process left out says the list was cut.
      const done = () => enough() && (ev.cut || n < MAX_PIDS);
      for (const to of leaf.byTo.keys()) {
        for (const p of edgeFroms(leaf, to)) {
          if (done()) break;
          if (!leaf.test(p, to)) continue;
          if (enough()) {
            if (!ev.pids.has(p.pid)) ev.cut = true;
            continue;
          }
          ev.edge(path, leaf, p, to);
          ev.process(p);
          n++;
        }
        if (done()) break;
      }
    } else if (leaf instanceof MetricCond) {
      let n = 0;
      for (const node of leaf.nodes) {
        if (n++ >= _PER_CONDITION) {
          // Not shown: a process among them is named nowhere.
          if (node.kind === "process" && !ev.pids.has(node.pid)) ev.cut = true;
          if (ev.cut || leaf.nodeType !== "process") break;
          continue;
        }
        ev.node(path, leaf, node);
        if (node.kind === "process") ev.process(node);
      }
    }
  });
  return _match(rs, rs.confidence, ev);
}

/**
 * Describes a rule for the processes it matches (a process-scoped rule in a host run lists each
 * with its evidence; a per-pid run passes one). `confidence` is the rule's confidence there.
 */
export function describeProcesses(rs: RuleState, processes: readonly ProcessNode[], confidence: number, ctx: ProcessContext, holds: (p: ProcessNode, c: CondNode) => boolean, more = false): SceneMatch {
  const ev = new _Evidence(ctx);
  for (const p of processes) ev.process(p);
  if (more) ev.cut = true;
  // The evidence shows the first four; the causes name every one's (up to MAX_CAUSES): six jobs'
  // own OOMs are six errors the scene explains, not two that `status` calls unexplained.
  for (const [i, p] of processes.entries()) {
    ev.quiet = i >= _PER_CONDITION;
    walkHolding(rs.top, "conditions", (c) => holds(p, c), (leaf, path) => {
      if (leaf instanceof EventCond) {
        for (const s of leaf.seenFor(p, ctx, _PER_CONDITION)) ev.event(path, leaf, s, false);
      } else if (leaf instanceof GraphCond) {
        let n = 0;
        for (const to of leaf.ends(p)) {
          if (n >= _PER_CONDITION) break;
          if (leaf.test(p, to)) {
            ev.edge(path, leaf, p, to);
            n++;
          }
        }
      } else if (leaf instanceof MetricCond) {
        for (const node of leaf.reached(p, _PER_CONDITION)) ev.node(path, leaf, node);
      }
    });
  }
  return _match(rs, confidence, ev);
}

/** A rule that matched since the last run but no longer does, as snapshot then. */
export function describeLatched(rs: RuleState, confidence: number): SceneMatch {
  return _match(rs, confidence, undefined);
}

/**
 * The process nodes each described match names, by its `affected_pids` list (which a run's
 * result shares; not in any JSON): `ps` tells a pid's new owner from them.
 */
const _named = new WeakMap<readonly number[], ReadonlySet<ProcessNode>>();

/**
 * The processes `m` named as affected, as the graph held them when it was described; undefined
 * for a match described elsewhere (a brief match's snapshot without evidence). A process on one
 * of its pids that is not among them is another process (the pid was reused).
 */
export function namedProcesses(m: { readonly affected_pids: readonly number[] }): ReadonlySet<ProcessNode> | undefined {
  return _named.get(m.affected_pids);
}

/** The causes of each described match, by its `affected_pids` list as `_named` (a run's result keeps only its top scene's). */
const _causes = new WeakMap<readonly number[], readonly Cause[]>();

/** The causes `m` named (errors, resources, events), up to MAX_CAUSES; undefined for a match described elsewhere. */
export function matchCauses(m: { readonly affected_pids: readonly number[] }): readonly Cause[] | undefined {
  return _causes.get(m.affected_pids);
}

function _match(rs: RuleState, confidence: number, ev: _Evidence | undefined): SceneMatch {
  const m = _describe(rs, confidence, ev);
  if (ev !== undefined) {
    _named.set(m.affected_pids, ev.nodes);
    _causes.set(m.affected_pids, m.causes);
  }
  return m;
}

function _describe(rs: RuleState, confidence: number, ev: _Evidence | undefined): SceneMatch {
  const r = rs.rule;
  return {
    scene: r.scene,
    rule: r.name,
    priority: r.priority,
    severity: r.severity,
    scope: r.scope,
    confidence: Math.round(confidence * 1000) / 1000,
    root_cause: { primary: r.root_cause_pattern.primary, secondary: [...r.root_cause_pattern.secondary] },
    causes: ev?.causes() ?? [],
    evidence: ev?.evidence() ?? [],
    affected_pids: ev === undefined ? [] : [...ev.pids].sort((a, b) => a - b),
    affected_jobs: ev === undefined ? [] : [...ev.jobs].sort(),
    affected_pids_cut: ev?.cut ?? false,
    causes_cut: ev?.causesCut ?? false,
    solution_steps: r.solution_steps.map((s) => ({ ...s })),
  };
}
