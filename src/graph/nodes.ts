// The three node kinds of SPEC §3. Edges live as sets on both ends, so adding, removing and
// counting them never walks the graph.
import { isEnded } from "../events/schema.ts";

export type EdgeKind = "consumes" | "waits_on" | "blocked_by";
export const EDGE_KINDS: readonly EdgeKind[] = ["consumes", "waits_on", "blocked_by"];

export const RESOURCE_KEYS = ["util", "mem", "bw", "drop", "iops", "qdepth"] as const;
export type ResourceKey = (typeof RESOURCE_KEYS)[number];
/** The index of each key in `RESOURCE_KEYS`. */
export const KEY_INDEX = Object.freeze(Object.fromEntries(RESOURCE_KEYS.map((k, i) => [k, i])) as Record<ResourceKey, number>);

/**
 * The last value a resource reported, per key. Every key is there from the start, so all
 * resources share one object shape and a reading is a plain field store, not a dictionary
 * insert (which cost a third of the graph's time per event).
 */
export type ResourceMeta = Record<ResourceKey, string | undefined>;

export function newResourceMeta(): ResourceMeta {
  return { util: undefined, mem: undefined, bw: undefined, drop: undefined, iops: undefined, qdepth: undefined };
}

/** The keys a resource has reported, with their values (for the API and evidence). */
export function reportedMeta(meta: ResourceMeta): Partial<Record<ResourceKey, string>> {
  const out: Partial<Record<ResourceKey, string>> = {};
  for (const k of RESOURCE_KEYS) {
    const v = meta[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

interface NodeTimes {
  /**
   * Bits the diagnosis keeps on the node (which of its conditions the node matches), so
   * asking costs a field read instead of a set lookup. The graph only starts it at 0.
   */
  marks: number;
  /** Bits the diagnosis keeps for patterns over the node's id, which never changes: tested, and matched. */
  idTested: number;
  idMatched: number;
  /** Event time (ms) of the last update. */
  updatedTs: number;
  /** Wall-clock time (ms) of the last update, so a quiet stream still expires. */
  updatedWall: number;
}

export interface ProcessNode extends NodeTimes {
  readonly kind: "process";
  readonly id: string;
  readonly pid: number;
  jobId: string | null;
  /**
   * `jobId` came from a collector's inference (`intent.run` with a value `job_id from ...`:
   * builtin:procfs reads a Slurm id or a pod uid), not from a source that reports jobs: a probe's
   * own name for the job replaces it, the same process (otherJob).
   */
  jobInferred: boolean;
  state: string;
  /**
   * Event time of the `process.state start` that made this node (-Infinity when another event
   * made it): events of its pid from before it are another process's, one that had the pid.
   */
  bornTs: number;
  readonly consumes: Set<ResourceNode>;
  readonly waitsOn: Set<ResourceNode>;
  /**
   * This process's own readings on the resources it waits on (the ones that made or kept the
   * wait), per key; null until its first. A resource keeps only its last value per key, which
   * may be another process's wait on the same disk or NIC: `why` shows these over it.
   */
  waitReadings: Map<ResourceNode, ResourceMeta> | null;
  /**
   * An array, not a set: an error blocks every consumer of its entity at once, and a push
   * costs much less than a set insert; membership is asked of `edgeBits`.
   */
  readonly blockedBy: ErrorNode[];
  /**
   * Event time of the fault that made each `blockedBy` edge, index for index: a process is
   * charged only with faults at or after the moment it was linked (causality in time).
   */
  readonly blockedAt: number[];
  /**
   * The error's value (`error_type`) of that fault, index for index: an error node keeps only
   * its last value, and another process's fault on the same entity must not rename this one's cause.
   */
  readonly blockedType: string[];
  /**
   * Event time and receipt time of that fault, index for index: the newest fault of this
   * process's own on the entity (or the one that linked it). The edge stays while this, or a
   * later device fault on the entity, is inside the error window: another process's fault
   * that keeps the error node alive does not keep this process's blame alive.
   */
  readonly blockedLast: number[];
  readonly blockedLastWall: number[];
  /**
   * Its own earlier faults of other codes on an entity than the one `blockedType` says (an Xid 13,
   * then its OOM: both are its causes), newest of each code, a few codes; null until there is one.
   */
  ownEarlier: Map<ErrorNode, DeviceFault[]> | null;
  /**
   * The same edges as bits, one per target index (`EdgeTarget.ix`), one array per kind; grown
   * on demand. Nearly every event repeats an edge: a bit test on memory the event touches
   * anyway is far cheaper than a set lookup, which misses the CPU cache on a busy host.
   */
  edgeBits: [consumes: Int32Array, waitsOn: Int32Array, blockedBy: Int32Array];
}

export interface ResourceNode extends NodeTimes {
  readonly kind: "resource";
  readonly id: string;
  /** Index of the bit for edges into this node (`ProcessNode.edgeBits`), or -1 past the bitmap's bound. */
  readonly ix: number;
  readonly meta: ResourceMeta;
  /**
   * Per key of `RESOURCE_KEYS`: where the last reading fell among the thresholds the observer
   * watches that key at (`StateGraph.watchReadings`; -1: not known). A reading that falls in the
   * same place cannot change a comparison with any of them: the observer is not told of it.
   */
  readonly bands: Int8Array;
  /**
   * Per key of `RESOURCE_KEYS`: the event time of the value `meta` keeps (-Infinity: none). A
   * reading stamped more than CLOCK_SLACK_MS before it (a late line, a backlog) does not replace
   * it: a GPU at 90% five seconds ago is not idle because a line from ten minutes ago said 2.
   */
  readonly metaTs: Float64Array;
  /** Event time of its first reading: before it, who used the device is not known to the graph. */
  readonly firstTs: number;
  readonly consumers: Set<ProcessNode>;
  readonly waiters: Set<ProcessNode>;
}

/** One device fault on an error node's entity: its value, event time and receipt time. */
export interface DeviceFault {
  type: string;
  ts: number;
  wall: number;
}

/** Device fault codes an error node keeps (`ErrorNode.deviceRecent`). */
export const DEVICE_CODES_KEPT = 4;

export interface ErrorNode extends NodeTimes {
  readonly kind: "error";
  readonly id: string;
  /** As `ResourceNode.ix`. */
  readonly ix: number;
  readonly entityId: string;
  errorType: string;
  /** Event time (ms) the error was first reported, for `why`'s "since". */
  readonly sinceTs: number;
  readonly blocked: Set<ProcessNode>;
  /** True once a device fault on the entity linked its users (see blocking.ts). */
  deviceLinked: boolean;
  /** Event time and value of the last device fault on the entity (-Infinity and "" before the first). */
  deviceTs: number;
  deviceType: string;
  /** Receipt time of the last device fault (both clocks expire it). */
  deviceWall: number;
  /** True once the last device fault left the error window (its edges were swept then). */
  deviceSwept: boolean;
  /**
   * The last device fault is from before the graph's first reading of its device (a kernel log's
   * backlog read at the exporter's start): that a process was first seen there later says nothing
   * of whether it was there then; its start time, once known, does, whether it is told before its
   * first reading there (blocking.ts `newUser`) or after (`born`).
   */
  deviceBlind: boolean;
  /**
   * The last device fault of each code (the value's first word: `XID_79`, `GPU_LOST`,
   * `TEMP_HIGH`), newest first, at most `DEVICE_CODES_KEPT`: `why` names each that concerns a
   * process, not the last alone (nvidia-smi's GPU_LOST each minute hid the kernel's Xid 79).
   */
  deviceRecent: DeviceFault[];
  /**
   * Processes a fault of their own on the entity linked or refreshed, with the event time of the
   * first: their edges expire on their own, and `why` names that fault beside a device fault.
   */
  readonly ownEdges: Map<ProcessNode, number>;
  /**
   * Processes that started using the entity after its last device fault was linked: the next
   * device fault links these only, so a repeated error costs O(new users), not O(users).
   */
  joined: ProcessNode[];
}

export type GraphNode = ProcessNode | ResourceNode | ErrorNode;
export type EdgeTarget = ResourceNode | ErrorNode;

/**
 * How far apart two sources' stamps of one moment may be (a kernel record's time is the boot
 * time plus its offset; a probe's `start` without `ts` is stamped when received; a poll's when it
 * ended). Comparisons that decide whose an event is (before a process's start, after it was last
 * heard of alive) allow this much.
 */
export const CLOCK_SLACK_MS = 5000;

/**
 * Why a device fault at `ts` on `r` does not reach `p`, a user of `r`, or null when it does:
 * `started_after`, `p` started after it (beyond the clocks' slack); `start_unknown`, `p`'s start
 * is not known, it only consumes `r` (a waiter is stuck on the fault), and the fault came before
 * the graph saw `r` (`p` may have come after: a wrong blame is worse than none).
 */
export function sparedBy(p: ProcessNode, r: ResourceNode | undefined, ts: number): "started_after" | "start_unknown" | null {
  if (ts < p.bornTs - CLOCK_SLACK_MS) return "started_after";
  if (p.bornTs === -Infinity && r !== undefined && !r.waiters.has(p) && beforeSeen(r, ts)) return "start_unknown";
  return null;
}

/** Whether a fault at `ts` came before the graph's first reading of its entity `r` (none yet: it did), beyond the clocks' slack. */
export function beforeSeen(r: ResourceNode | undefined, ts: number): boolean {
  return r === undefined || ts < r.firstTs - CLOCK_SLACK_MS;
}

/**
 * Whether a `start` naming `jobId` begins a new process on `p`'s pid: `p` has ended, or belongs
 * to another job (its exit never reported). The old process leaves with its edges, so no fault
 * of its is charged to the new one.
 */
export function startsAnew(p: ProcessNode, jobId: string | null): boolean {
  return isEnded(p.state) || otherJob(p, jobId);
}

/**
 * Whether an event naming `jobId` for `p`'s pid is another process's: `p` belongs to another
 * job. A process never changes jobs (its scheduler environment and cgroup are fixed at its
 * start), so the pid was reused by a process whose start no probe reported. A job id only
 * inferred by a collector is not a job a source reported: another name for it is the same
 * process (a site probe names the job its own way; procfs detects reuse by start time).
 */
export function otherJob(p: ProcessNode, jobId: string | null): boolean {
  return jobId !== null && p.jobId !== null && p.jobId !== jobId && !p.jobInferred;
}

/** `intent.run`'s value when a collector inferred the job id (builtin:procfs: `job_id from SLURM_JOB_ID`). */
export function isInferredJob(value: string): boolean {
  return value.startsWith("job_id from ");
}

/** The value a rule's `metric` condition reads for `key` on a node. */
export function nodeValue(node: GraphNode, key: string): string | undefined {
  switch (node.kind) {
    case "resource":
      // Own keys only: a rule's key is any text, and `constructor` or `toString` would read
      // Object.prototype's functions.
      return Object.hasOwn(node.meta, key) ? (node.meta as Record<string, string | undefined>)[key] : undefined;
    case "process":
      if (key === "state") return node.state;
      if (key === "job_id") return node.jobId ?? undefined;
      if (key === "pid") return String(node.pid);
      return undefined;
    case "error":
      if (key === "error_type") return node.errorType;
      if (key === "entity_id") return node.entityId;
      return undefined;
  }
}
