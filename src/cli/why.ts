// `xctl-exporter why PID [--url]`: the root cause of one process, readable in a terminal.
import { defineCommand } from "citty";
import type { SceneMatch, WhyAnswer } from "../query/why.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, ClientError, clientFromFlags } from "./client.ts";
import { cittyArgs, parseFlags } from "./flags.ts";
import { escapeControl } from "../escape.ts";

export const WHY_FLAGS = CLIENT_FLAGS;

export async function runWhy(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(WHY_FLAGS, argv);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "why: give a PID" : `why: unexpected argument "${positionals[1]}"`);
  const pid = positionals[0];
  if (!/^\d{1,10}$/.test(pid)) throw new UsageError(`why: "${pid}" is not a pid`);
  const client = await clientFromFlags(values);
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
  return out.map(escapeControl).join("\n") + "\n";
}

function _meta(meta: Record<string, string>): string {
  const parts = Object.entries(meta).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? `  ${parts.join(" ")}` : "";
}

/** One matching scene: title, confidence, root cause and the steps to take. */
function _scene(s: SceneMatch): string[] {
  const out = [`  ${s.scene} (${s.rule}), confidence ${s.confidence.toFixed(2)}`];
  if (s.root_cause.primary) out.push(`    root cause: ${s.root_cause.primary}`);
  for (const st of s.solution_steps) {
    const cmd = st.command ? `: ${st.command}` : "";
    out.push(`    ${st.step}. ${st.action}${cmd}${st.manual ? " (manual)" : ""}`);
  }
  return out;
}

export const whyCommand = defineCommand({
  meta: { name: "why", description: "Root cause of one process of a running exporter" },
  args: { ...cittyArgs(WHY_FLAGS), pid: { type: "positional" as const, description: "Process id", required: false } },
  run: ({ rawArgs }) => runWhy(rawArgs),
});
