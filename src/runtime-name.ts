// Which runtime runs this code, by name and version. Code that behaves differently per runtime
// lives in src/runtime/; this file only names it, for help, logs and build_info.
export type RuntimeName = "bun" | "deno" | "node";

declare const Bun: unknown;
declare const Deno: unknown;

export const runtimeName: RuntimeName =
  typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node";

export const runtimeVersion: string =
  runtimeName === "node" ? process.versions.node : (process.versions as Record<string, string>)[runtimeName] ?? "unknown";
