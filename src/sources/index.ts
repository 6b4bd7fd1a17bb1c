// `--probe` specs to sources: `builtin:NAME` for the built-in ones, anything else a command.
import { UsageError } from "../cli/errors.ts";
import type { Source } from "./source.ts";

export const BUILTIN_PROBES = ["builtin:demo", "builtin:nvidia-smi"] as const;

export function createProbe(spec: string): Source {
  const s = spec.trim();
  if (s === "") throw new UsageError(`--probe: empty command`);
  if (s.startsWith("builtin:")) {
    throw new UsageError(`--probe: unknown built-in probe "${s}" (known: ${BUILTIN_PROBES.join(", ")})`);
  }
  throw new UsageError(`--probe: command probes are not available yet`);
}
