// What a matching rule says about the host: the concrete causes behind its holding
// conditions (error nodes with their error_type, resources waited on or consumed, the events
// seen) and the processes and jobs affected. Every list is capped, so describing a match
// costs the same on a small graph as on a large one.
import type { EventType } from "../events/schema.ts";
import { reportedMeta, type EdgeKind, type EdgeTarget, type ErrorNode, type GraphNode, type ProcessNode, type ResourceMeta, type ResourceNode } from "../graph/nodes.ts";
import { CondNode, EventCond, GraphCond, GroupCond, MetricCond, type Seen } from "./conditions.ts";
import type { Matcher, RuleState, Scope } from "./matcher.ts";
import type { SolutionStep } from "./rule.ts";

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

export interface EventCause {
  kind: "event";
  event_type: EventType;
  entity_id: string;
  value: string;
  ts: number;
  pid: number | null;
  job_id: string | null;
}

export type Cause = ErrorCause | ResourceCause | ProcessCause | EventCause;

/** One rule matching: its scene and everything an operator needs to act on it. */
export interface SceneMatch {
  scene: string;
  rule: string;
  priority: number;
  confidence: number;
  root_cause: { primary: string; secondary: string[] };
  causes: Cause[];
  affected_pids: number[];
  affected_jobs: string[];
  solution_steps: SolutionStep[];
}

export const MAX_CAUSES = 16;
export const MAX_PIDS = 32;
const _PER_CONDITION = 4;

class _Evidence {
  private readonly _errors: Cause[] = [];
  private readonly _resources: Cause[] = [];
  private readonly _processes: Cause[] = [];
  private readonly _events: Cause[] = [];
  private readonly _ids = new Set<string>();
  readonly pids = new Set<number>();
  readonly jobs = new Set<string>();

  constructor(private readonly _m: Matcher) {}

  private _room(id: string): boolean {
    if (this._ids.has(id) || this._ids.size >= MAX_CAUSES) return false;
    this._ids.add(id);
    return true;
  }

  error(e: ErrorNode): void {
    if (this._room(e.id)) this._errors.push({ kind: "error", id: e.id, entity_id: e.entityId, error_type: e.errorType, last_seen: e.updatedTs });
    let n = 0;
    for (const p of e.blocked) {
      if (n++ >= _PER_CONDITION) break;
      this.process(p);
    }
  }

  target(t: EdgeTarget, relation?: EdgeKind): void {
    if (t.kind === "error") this.error(t);
    else this.resource(t, relation);
  }

  resource(r: ResourceNode, relation?: EdgeKind): void {
    if (!this._room(r.id)) return;
    const c: ResourceCause = { kind: "resource", id: r.id, values: reportedMeta(r.meta) };
    if (relation !== undefined) c.relation = relation;
    this._resources.push(c);
  }

  node(n: GraphNode, asCause: boolean): void {
    if (n.kind === "process") {
      if (asCause && this._room(n.id)) this._processes.push({ kind: "process", id: n.id, pid: n.pid, state: n.state, job_id: n.jobId });
      this.process(n);
    } else if (n.kind === "error") this.error(n);
    else this.resource(n);
  }

  process(p: ProcessNode): void {
    if (this.pids.size < MAX_PIDS) this.pids.add(p.pid);
    if (p.jobId !== null && this.jobs.size < MAX_PIDS) this.jobs.add(p.jobId);
  }

  event(s: Seen): void {
    const ev = s.ev;
    if (this._room(`event:${ev.event_type}:${ev.entity_id}`)) {
      this._events.push({ kind: "event", event_type: ev.event_type, entity_id: ev.entity_id, value: ev.value, ts: ev.ts, pid: ev.pid, job_id: ev.job_id });
    }
    if (ev.pid !== null) {
      const p = this._m.graph.processes.get(ev.pid);
      if (p !== undefined) this.process(p);
      else if (this.pids.size < MAX_PIDS) this.pids.add(ev.pid);
    }
    if (ev.job_id !== null && this.jobs.size < MAX_PIDS) this.jobs.add(ev.job_id);
    const e = this._m.graph.errors.get(ev.entity_id);
    if (e !== undefined) this.error(e);
  }

  causes(): Cause[] {
    return [...this._errors, ...this._resources, ...this._processes, ...this._events];
  }
}

/** Describes a rule from the live condition state (a host-wide run). */
export function describeHost(m: Matcher, rs: RuleState, nowWall: number): SceneMatch {
  const ev = new _Evidence(m);
  const nowTs = m.graph.eventNow;
  _walk(rs.top, (c) => c.holds, (leaf) => {
    if (leaf instanceof EventCond) {
      let n = 0;
      for (const s of leaf.byEntity.map.values()) {
        if (n >= _PER_CONDITION) break;
        if (leaf.isFresh(s.ts, s.wall, nowTs, nowWall)) {
          ev.event(s);
          n++;
        }
      }
    } else if (leaf instanceof GraphCond) {
      _first(leaf.byTo.keys(), (t) => ev.target(t, leaf.kind));
      for (const p of leaf.sources(_PER_CONDITION)) ev.process(p);
    } else if (leaf instanceof MetricCond) {
      _first(leaf.nodes, (n) => ev.node(n, leaf.nodeType === "process"));
    }
  });
  return _match(rs, rs.confidence, ev);
}

/** A rule that matched since the last run but no longer does, with the confidence it had; its causes are gone. */
export function describeLatched(rs: RuleState, confidence: number): SceneMatch {
  return _match(rs, confidence, undefined);
}

/** Evaluates a rule inside one process's scope; undefined when it does not match there. */
export function describeScoped(m: Matcher, rs: RuleState, scope: Scope, nowWall: number): SceneMatch | undefined {
  const holds = new Map<CondNode, boolean>();
  const holdsIn = (c: CondNode) => {
    let h = holds.get(c);
    if (h === undefined) holds.set(c, (h = m.holdsIn(c, scope, nowWall)));
    return h;
  };
  const topTrue = rs.top.filter(holdsIn).length;
  const confidence = topTrue / rs.top.length;
  if (confidence + 1e-9 < rs.rule.applicability.min_confidence) return undefined;
  if (!rs.gates.every(holdsIn)) return undefined;
  const ev = new _Evidence(m);
  const p = scope.process;
  ev.process(p);
  const nowTs = m.graph.eventNow;
  _walk(rs.top, holdsIn, (leaf) => {
    if (leaf instanceof EventCond) {
      for (const s of leaf.seenFor(scope.entities, p.pid, nowTs, nowWall, _PER_CONDITION)) ev.event(s);
    } else if (leaf instanceof GraphCond) {
      const ends: Iterable<EdgeTarget> = leaf.kind === "consumes" ? p.consumes : leaf.kind === "waits_on" ? p.waitsOn : p.blockedBy;
      let n = 0;
      for (const t of ends) {
        if (n >= _PER_CONDITION) break;
        if (leaf.test(p, t)) {
          ev.target(t, leaf.kind);
          n++;
        }
      }
    } else if (leaf instanceof MetricCond) {
      for (const node of scope.nodes) if (leaf.test(node)) ev.node(node, leaf.nodeType === "process");
    }
  });
  // Only this process is affected in a per-pid view, whatever else the causes touch.
  ev.pids.clear();
  ev.jobs.clear();
  ev.process(p);
  return _match(rs, confidence, ev);
}

function _match(rs: RuleState, confidence: number, ev: _Evidence | undefined): SceneMatch {
  const r = rs.rule;
  return {
    scene: r.scene,
    rule: r.name,
    priority: r.priority,
    confidence: Math.round(confidence * 1000) / 1000,
    root_cause: { primary: r.root_cause_pattern.primary, secondary: [...r.root_cause_pattern.secondary] },
    causes: ev?.causes() ?? [],
    affected_pids: ev === undefined ? [] : [...ev.pids],
    affected_jobs: ev === undefined ? [] : [...ev.jobs],
    solution_steps: r.solution_steps.map((s) => ({ ...s })),
  };
}

/** Visits the leaves under holding conditions (all children of `all`, holding ones of `any`). */
function _walk(conds: readonly CondNode[], holds: (c: CondNode) => boolean, visit: (leaf: CondNode) => void): void {
  for (const c of conds) {
    if (!holds(c)) continue;
    if (c instanceof GroupCond) _walk(c.children, holds, visit);
    else visit(c);
  }
}

function _first<T>(items: Iterable<T>, f: (t: T) => void): void {
  let n = 0;
  for (const t of items) {
    if (n++ >= _PER_CONDITION) return;
    f(t);
  }
}
