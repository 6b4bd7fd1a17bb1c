// Which runtime runs this code. Only src/runtime/ should need to ask.
export type RuntimeName = "bun" | "deno" | "node";

declare const Bun: unknown;
declare const Deno: unknown;

export const runtimeName: RuntimeName =
  typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node";

export const runtimeVersion: string =
  runtimeName === "node" ? process.versions.node : (process.versions as Record<string, string>)[runtimeName] ?? "unknown";
