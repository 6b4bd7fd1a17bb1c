// The built-in host collectors and how `--collectors auto|none|LIST` picks them. Each is a
// `builtin:<name>` spec created through createProbe like any --probe, so this table names the
// collectors without importing them.
import { closeSync, existsSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { which, type Env } from "./child.ts";
import type { HostPaths } from "./source.ts";

/** What the availability checks look at; `kmsg` only differs from /dev/kmsg in tests. */
export interface CollectorHost {
  paths: HostPaths;
  /** PATH for nvidia-smi and npu-smi. */
  env: Env;
  kmsg?: string;
}

interface CollectorDef {
  readonly name: string;
  /** Why the collector has nothing to read on this host, or null when its source is there. */
  missing(h: CollectorHost): string | null;
}

/** In the order they start. */
export const COLLECTORS: readonly CollectorDef[] = [
  { name: "nvidia-smi", missing: (h) => (which("nvidia-smi", h.env) ? null : "nvidia-smi not on PATH") },
  { name: "npu-smi", missing: (h) => (which("npu-smi", h.env) ? null : "npu-smi not on PATH") },
  { name: "kmsg", missing: (h) => _unreadable(h.kmsg ?? "/dev/kmsg") },
  { name: "infiniband", missing: (h) => _noDir(join(h.paths.sysfs, "class/infiniband")) },
  { name: "procfs", missing: (h) => _noDir(h.paths.procfs) },
  { name: "diskstats", missing: (h) => (existsSync(join(h.paths.procfs, "diskstats")) ? null : `no ${join(h.paths.procfs, "diskstats")}`) },
];

export const COLLECTOR_NAMES: readonly string[] = COLLECTORS.map((c) => c.name);

/** `auto`, `none`, or the names listed. */
export type CollectorChoice = "auto" | "none" | readonly string[];

/** `--collectors` text to a choice; an unknown name is a usage error listing the valid ones. */
export function parseCollectorChoice(text: string, flag = "--collectors"): CollectorChoice {
  const t = text.trim();
  if (t === "auto" || t === "none") return t;
  const names = t.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new UsageError(`${flag}: "${text}" names no collector (use auto, none, or a list of ${COLLECTOR_NAMES.join(", ")})`);
  for (const n of names) {
    if (n === "auto" || n === "none") {
      throw new UsageError(`${flag}: "${text}": ${n} stands alone (${flag}${flag.startsWith("-") ? " " : "="}${n}); a list names collectors only: ${COLLECTOR_NAMES.join(", ")}`);
    }
    if (!COLLECTOR_NAMES.includes(n)) {
      throw new UsageError(`${flag}: unknown collector "${n}" (valid: ${COLLECTOR_NAMES.join(", ")}, or auto, none)`);
    }
  }
  return [...new Set(names)];
}

export interface CollectorPlan {
  /** `builtin:<name>` specs to start, in table order. */
  run: { name: string; spec: string; missing: string | null }[];
  skipped: { name: string; reason: string }[];
}

/**
 * Which collectors start. `auto`: each whose source exists on this host; a LIST: exactly those,
 * a missing source included (as node_exporter does with a collector enabled by flag: it runs and
 * reports itself down until its source appears). A collector also given as `--probe builtin:X`
 * runs once, as the probe (which may carry options). `known`: the built-in specs this binary has.
 */
export function planCollectors(choice: CollectorChoice, h: CollectorHost, probes: readonly string[], known: readonly string[]): CollectorPlan {
  const plan: CollectorPlan = { run: [], skipped: [] };
  if (choice === "none") return plan;
  const asProbe = new Set(probes.map((p) => p.trim().split("?")[0]));
  for (const c of COLLECTORS) {
    const spec = `builtin:${c.name}`;
    const listed = choice === "auto" || choice.includes(c.name);
    if (!listed) continue;
    if (asProbe.has(spec)) {
      plan.skipped.push({ name: c.name, reason: "given as --probe" });
      continue;
    }
    if (!known.includes(spec) && choice !== "auto") throw new UsageError(`--collectors: collector "${c.name}" is not built into this binary`);
    const missing = c.missing(h);
    if (missing !== null && choice === "auto") plan.skipped.push({ name: c.name, reason: missing });
    else if (!known.includes(spec)) plan.skipped.push({ name: c.name, reason: "not built into this binary" });
    else plan.run.push({ name: c.name, spec, missing });
  }
  return plan;
}

/** One line for the start log. */
export function describePlan(plan: CollectorPlan): string {
  const run = plan.run.map((r) => (r.missing === null ? r.name : `${r.name} (listed, though ${r.missing})`));
  const skipped = plan.skipped.map((s) => `${s.name} (${s.reason})`);
  return `collectors: running ${run.length > 0 ? run.join(", ") : "none"}; skipped ${skipped.length > 0 ? skipped.join(", ") : "none"}`;
}

/** Opening for read is the test: permission bits, dmesg_restrict and capabilities all count. */
function _unreadable(path: string): string | null {
  try {
    closeSync(openSync(path, "r"));
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return `no ${path}`;
    return `${path} not readable (${code ?? (e as Error).message})`;
  }
}

function _noDir(path: string): string | null {
  try {
    return statSync(path).isDirectory() ? null : `${path} is not a directory`;
  } catch {
    return `no ${path}`;
  }
}
