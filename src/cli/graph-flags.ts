// The flags that bound what the exporter keeps, shared by serve and replay so that a replay
// sees the graph a live exporter with the same flags would: graph bounds (GRAPH_FLAGS) and
// ingest bounds (INGEST_FLAGS). Each table is declared and parsed here once, as RULE_FLAGS is
// in rules.ts; errors name what the user set (the flag or its XCTL_* variable).
import { flagLabel, type FlagDefs, type FlagValues } from "./flags.ts";
import { parseDuration, parseInteger, parseSize } from "./parse-values.ts";

export const GRAPH_FLAGS: FlagDefs = {
  "error-window": { type: "string", default: "5m", description: "How long an error node lives after its last event", valueHint: "duration" },
  "max-nodes": { type: "string", default: "100000", description: "Bound on graph nodes of every kind; past it nodes are evicted, ended processes first", valueHint: "n" },
  "resource-ttl": { type: "string", default: "0s", description: "Drop resources not updated for this long (0s keeps them)", valueHint: "duration" },
};

export interface GraphConfig {
  errorWindowMs: number;
  maxNodes: number;
  resourceTtlMs: number;
}

/** Reads GRAPH_FLAGS; a bad value throws a UsageError (exit 2) naming the flag or variable. */
export function resolveGraphConfig(v: FlagValues): GraphConfig {
  return {
    errorWindowMs: parseDuration(flagLabel(v, "error-window"), v["error-window"] as string),
    maxNodes: parseInteger(flagLabel(v, "max-nodes"), v["max-nodes"] as string, 100, 100_000_000),
    resourceTtlMs: parseDuration(flagLabel(v, "resource-ttl"), v["resource-ttl"] as string),
  };
}

export const INGEST_FLAGS: FlagDefs = {
  "max-line-bytes": { type: "string", default: "64KiB", description: "Longest accepted event line", valueHint: "size" },
  "max-clock-skew": { type: "string", default: "5m", description: "Reject events whose ts runs further ahead of the wall clock, in replay also of the stream's (future_ts)", valueHint: "duration" },
};

export interface IngestConfig {
  maxLineBytes: number;
  maxClockSkewMs: number;
}

/** Reads INGEST_FLAGS; a bad value throws a UsageError (exit 2) naming the flag or variable. */
export function resolveIngestConfig(v: FlagValues): IngestConfig {
  return {
    maxLineBytes: parseSize(flagLabel(v, "max-line-bytes"), v["max-line-bytes"] as string),
    maxClockSkewMs: parseDuration(flagLabel(v, "max-clock-skew"), v["max-clock-skew"] as string),
  };
}
