// `xctl-exporter why PID [--url]`: the root cause of one process, readable in a terminal.
import { defineCommand } from "citty";
import type { WhyAnswer } from "../graph/views.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, ClientError, clientFromFlags } from "./client.ts";
import { cittyArgs, parseFlags } from "./flags.ts";

export const WHY_FLAGS = CLIENT_FLAGS;

export async function runWhy(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(WHY_FLAGS, argv);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "why: give a PID" : `why: unexpected argument "${positionals[1]}"`);
  const pid = positionals[0];
  if (!/^\d{1,10}$/.test(pid)) throw new UsageError(`why: "${pid}" is not a pid`);
  const client = clientFromFlags(values);
  let answer: WhyAnswer;
  try {
    answer = await client.getJson<WhyAnswer>(`/api/v1/why/${pid}`);
  } catch (e) {
    if (e instanceof ClientError && e.status === 404) throw new ClientError(`no process with pid ${pid} at ${client.base}`);
    throw e;
  }
  process.stdout.write(values.json ? JSON.stringify(answer, null, 2) + "\n" : formatWhy(answer));
}

export function formatWhy(a: WhyAnswer): string {
  const out = [`pid ${a.pid}  job ${a.job_id ?? "-"}  state ${a.state}`, ""];
  out.push("root causes:");
  if (a.root_causes.length === 0) out.push("  none known");
  for (const c of a.root_causes) {
    out.push(`  ${c.error_type || "error"} on ${c.entity} (${c.error}${c.since ? `, since ${c.since}` : ""}${c.updated_at && c.updated_at !== c.since ? `, last reported ${c.updated_at}` : ""})`);
  }
  out.push("waits on:");
  if (a.waits_on.length === 0) out.push("  nothing");
  for (const w of a.waits_on) out.push(`  ${w.resource}${_meta(w.meta)}`);
  out.push("consumes:");
  if (a.consumes.length === 0) out.push("  nothing");
  for (const w of a.consumes) out.push(`  ${w.resource}${_meta(w.meta)}`);
  out.push("scenes:");
  if (a.scenes.length === 0) out.push("  none matching");
  for (const s of a.scenes) out.push(..._scene(s));
  return out.join("\n") + "\n";
}

function _meta(meta: Record<string, string>): string {
  const parts = Object.entries(meta).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? `  ${parts.join(" ")}` : "";
}

/** Scenes come from the diagnosis; show the usual fields when present, else the JSON. */
function _scene(s: unknown): string[] {
  if (s === null || typeof s !== "object") return [`  ${String(s)}`];
  const o = s as Record<string, unknown>;
  if (typeof o.scene !== "string") return [`  ${JSON.stringify(s)}`];
  let head = `  ${o.scene}`;
  const title = typeof o.rule === "string" ? o.rule : typeof o.name === "string" ? o.name : undefined;
  if (title) head += ` (${title})`;
  if (typeof o.confidence === "number") head += `, confidence ${o.confidence.toFixed(2)}`;
  const out = [head];
  const primary = (o.root_cause as { primary?: unknown } | undefined)?.primary;
  if (typeof primary === "string" && primary) out.push(`    root cause: ${primary}`);
  const steps = Array.isArray(o.solution_steps) ? (o.solution_steps as Record<string, unknown>[]) : [];
  for (const st of steps) {
    if (st === null || typeof st !== "object") continue;
    const cmd = typeof st.command === "string" && st.command ? `: ${st.command}` : "";
    out.push(`    ${st.step ?? "-"}. ${st.action ?? ""}${cmd}${st.manual === true ? " (manual)" : ""}`);
  }
  return out;
}

export const whyCommand = defineCommand({
  meta: { name: "why", description: "Root cause of one process of a running exporter" },
  args: { ...cittyArgs(WHY_FLAGS), pid: { type: "positional" as const, description: "Process id", required: false } },
  run: ({ rawArgs }) => runWhy(rawArgs),
});
