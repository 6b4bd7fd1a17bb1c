// `serve` flags for the host collectors: where they read (--path.procfs, --path.sysfs, as
// node_exporter names them) and which run (--collectors).
import { statSync } from "node:fs";
import { parseCollectorChoice, type CollectorChoice } from "../sources/collectors.ts";
import type { HostPaths } from "../sources/source.ts";
import { UsageError } from "./errors.ts";
import { flagLabel, type FlagDefs, type FlagValues } from "./flags.ts";

export const COLLECTOR_FLAGS: FlagDefs = {
  collectors: {
    type: "string",
    // A second one is refused rather than the first dropped in silence (it looks like it adds).
    once: (given) => `it takes one value: ${given.some((g) => g.trim() === "auto" || g.trim() === "none") ? "auto, none or one list" : `--collectors ${given.join(",")}`}`,
    default: "auto",
    description: "Host collectors: auto (those whose source exists), none, or a list of nvidia-smi,npu-smi,kmsg,infiniband,procfs,diskstats",
    valueHint: "auto|none|list",
  },
  "path.procfs": { type: "string", default: "/proc", description: "procfs mountpoint the host collectors read", valueHint: "dir", env: "XCTL_PATH_PROCFS" },
  "path.sysfs": { type: "string", default: "/sys", description: "sysfs mountpoint the host collectors read", valueHint: "dir", env: "XCTL_PATH_SYSFS" },
};

export interface CollectorConfig {
  collectors: CollectorChoice;
  host: HostPaths;
}

/** Throws UsageError naming the flag, the value and the reason. */
export function resolveCollectorConfig(v: FlagValues): CollectorConfig {
  return {
    collectors: parseCollectorChoice(v.collectors as string, flagLabel(v, "collectors")),
    host: { procfs: _dir(flagLabel(v, "path.procfs"), v["path.procfs"] as string), sysfs: _dir(flagLabel(v, "path.sysfs"), v["path.sysfs"] as string) },
  };
}

/** `label`: what set it, `--path.procfs` or `XCTL_PATH_PROCFS`. */
function _dir(label: string, path: string): string {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : `cannot be read (${code ?? (e as Error).message})`;
    throw new UsageError(`${label}: "${path}" ${why}`);
  }
  if (!isDir) throw new UsageError(`${label}: "${path}" is not a directory`);
  return path;
}
