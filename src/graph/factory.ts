// New graph nodes, each kind with one object shape from the start (the JIT keeps one hidden
// class per kind, and the diagnosis's fields start at their neutral values).
import { newResourceMeta, RESOURCE_KEYS, type ErrorNode, type ProcessNode, type ResourceNode } from "./nodes.ts";

// Int32, not Uint32: a word with bit 31 set stays an int32 for the JIT (as a uint32 it
// would leave int32 range and cost the edge code a deoptimisation and a recompile).
const _NO_BITS = new Int32Array(0);

export function newProcessNode(pid: number, jobId: string | null, ts: number, wall: number): ProcessNode {
  return {
    kind: "process",
    marks: 0,
    idTested: 0,
    idMatched: 0,
    id: "pid-" + pid,
    pid,
    jobId,
    jobInferred: false,
    state: "running",
    bornTs: -Infinity,
    updatedTs: ts,
    updatedWall: wall,
    consumes: new Set(),
    waitsOn: new Set(),
    waitReadings: null,
    blockedBy: [],
    blockedAt: [],
    blockedType: [],
    blockedLast: [],
    blockedLastWall: [],
    ownEarlier: null,
    edgeBits: [_NO_BITS, _NO_BITS, _NO_BITS],
  };
}

/** `ix`: the target index for edge bits, or -1 past the bitmaps' bound. */
export function newResourceNode(id: string, ix: number, ts: number, wall: number): ResourceNode {
  return {
    kind: "resource",
    ix,
    marks: 0,
    idTested: 0,
    idMatched: 0,
    id,
    meta: newResourceMeta(),
    bands: new Int8Array(RESOURCE_KEYS.length).fill(-1),
    metaTs: new Float64Array(RESOURCE_KEYS.length).fill(-Infinity),
    firstTs: ts,
    updatedTs: ts,
    updatedWall: wall,
    consumers: new Set(),
    waiters: new Set(),
  };
}

export function newErrorNode(entity: string, ix: number, errorType: string, ts: number, wall: number): ErrorNode {
  return {
    kind: "error",
    ix,
    marks: 0,
    idTested: 0,
    idMatched: 0,
    id: "error-" + entity,
    entityId: entity,
    errorType,
    sinceTs: ts,
    updatedTs: ts,
    updatedWall: wall,
    blocked: new Set(),
    deviceLinked: false,
    deviceTs: -Infinity,
    deviceType: "",
    deviceWall: -Infinity,
    deviceSwept: false,
    deviceBlind: false,
    deviceRecent: [],
    ownEdges: new Map(),
    joined: [],
  };
}
