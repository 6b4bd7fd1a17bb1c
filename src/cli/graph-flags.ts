// The flags that bound what the exporter keeps, shared by serve and replay so that a replay
// sees the graph a live exporter with the same flags would: graph bounds (GRAPH_FLAGS) and
// ingest bounds (INGEST_FLAGS). Each table is declared and parsed here once, as RULE_FLAGS is
// in rules.ts; errors name what the user set (the flag or its XCTL_* variable).
import { UsageError } from "./errors.ts";
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
    // 0s would expire every error as it arrives: no fault would ever be diagnosed.
    errorWindowMs: _atLeast(flagLabel(v, "error-window"), v["error-window"] as string, parseDuration(flagLabel(v, "error-window"), v["error-window"] as string), 1000, "1s"),
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
  const line = flagLabel(v, "max-line-bytes");
  const skew = flagLabel(v, "max-clock-skew");
  return {
    // Below these every event would be rejected: too_long (an event line is 100 to 300 bytes),
    // or future_ts for a probe clock a few milliseconds ahead.
    maxLineBytes: _atLeast(line, v["max-line-bytes"] as string, parseSize(line, v["max-line-bytes"] as string), 256, "256 bytes"),
    maxClockSkewMs: _atLeast(skew, v["max-clock-skew"] as string, parseDuration(skew, v["max-clock-skew"] as string), 1000, "1s"),
  };
}

function _atLeast(label: string, text: string, value: number, min: number, minText: string): number {
  if (value < min) throw new UsageError(`${label}: "${text}" is too small (at least ${minText})`);
  return value;
}
