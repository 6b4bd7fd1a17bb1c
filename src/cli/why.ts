// `xctl-exporter why PID [--url]`: the root cause of one process, readable in a terminal. Every
// scene is printed with the evidence that made each of its conditions hold (the events with
// time, entity, value, pid and job; the edges; the node values), so a scene never stands there
// unexplained. Text from events is shown with control characters escaped.
import { defineCommand } from "citty";
import { escapeControl } from "../escape.ts";
import { MAX_PID } from "../events/schema.ts";
import type { EndedAnswer } from "../query/ended.ts";
import type { ConditionEvidence, SceneMatch, WhyAnswer } from "../query/why.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, ClientError, clientFromFlags, type Client } from "./client.ts";
import type { Status } from "../query/queries.ts";
import { cittyArgs, parseFlags, type FlagDefs } from "./flags.ts";
import { writeOut } from "../stdio.ts";

export const WHY_FLAGS: FlagDefs = {
  ...CLIENT_FLAGS,
  ended: { type: "boolean", default: false, description: "The last answer of the process that left the graph on this pid, even where a new one holds it now", env: false },
};

export async function runWhy(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(WHY_FLAGS, argv);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "why: give a PID" : `why: unexpected argument "${positionals[1]}"`);
  const pid = positionals[0];
  if (!/^\d{1,10}$/.test(pid) || Number(pid) > MAX_PID) throw new UsageError(`why: "${pid}" is not a pid (an integer from 0 to ${MAX_PID})`);
  const client = await clientFromFlags(values);
  let answer: WhyAnswer | EndedAnswer;
  try {
    answer = await client.getJson<WhyAnswer | EndedAnswer>(`/api/v1/why/${pid}${values.ended ? "?ended=true" : ""}`);
  } catch (e) {
    if (e instanceof ClientError && e.status === 404 && values.ended) throw new ClientError(`no process with pid ${pid} left the graph lately at ${client.base}`);
    if (e instanceof ClientError && e.status === 404) throw new ClientError(`no process with pid ${pid} at ${client.base}${await _namedBy(client, Number(pid))}`);
    throw e;
  }
  writeOut(values.json ? JSON.stringify(answer, null, 2) + "\n" : formatWhy(answer));
}

const _e = escapeControl;

// A pid the exporter does not know is most often a process of the host that no probe reported
// (an SRE asks about the stuck job they see in `ps aux`): "no process" alone reads as "no such
// process", which the host contradicts.
const _NOT_REPORTED =
  ": no probe reported it, or it ended longer ago than --error-window (the graph holds the processes that probes, pushes and the nvidia-smi and npu-smi collectors report, not every process of the host: xctl-exporter ps lists them)";

/**
 * For a pid the graph no longer holds (an OOM-killed or crashed process leaves a second after
 * it ended): the active scenes that still name it, so `why` does not end in a dead end.
 */
async function _namedBy(client: Client, pid: number): Promise<string> {
  let st: Status;
  try {
    st = await client.getJson<Status>("/api/v1/status");
  } catch {
    return _NOT_REPORTED;
  }
  const scenes = Array.isArray(st?.scenes) ? st.scenes.filter((s) => Array.isArray(s.affected_pids) && s.affected_pids.includes(pid)) : [];
  if (scenes.length === 0) return _NOT_REPORTED;
  const jobs = [...new Set(scenes.flatMap((s) => s.affected_jobs ?? []))];
  const names = scenes.map((s) => _e(s.scene)).join(", ");
  return `: it has left the graph; active scene${scenes.length === 1 ? "" : "s"} ${names} name${scenes.length === 1 ? "s" : ""} it${jobs.length > 0 ? ` (job ${jobs.map(_e).join(", ")})` : ""}: see xctl-exporter status`;
}

export function formatWhy(a: WhyAnswer | EndedAnswer): string {
  const out = [`pid ${a.pid}  job ${_e(a.job_id ?? "-")}  state ${_e(a.state)}`];
  if (a.ended === true) out.push(..._ended(a as EndedAnswer));
  const before = a.ended === true ? undefined : a.ended_before;
  if (before != null && typeof before === "object") {
    out.push(`(an earlier process on this pid, job ${_e(before.job_id ?? "-")}, state ${_e(String(before.state))}, left the graph at ${_e(String(before.left_at))}: xctl-exporter why ${a.pid} --ended gives its last answer)`);
  }
  out.push("");
  out.push(`root causes${_cut(a.root_causes.length, a.root_causes_total, "newest first")}:`);
  if (a.root_causes.length === 0) out.push(a.scenes.length === 0 ? "  none known" : "  no blocking error (the scenes below say what holds)");
  for (const c of a.root_causes) {
    out.push(
      `  ${_e(c.error_type || "error")} on ${_e(c.entity)} (${_e(c.error)}${c.since ? `, since ${c.since}` : ""}${c.updated_at && c.updated_at !== c.since ? `, last reported ${c.updated_at}` : ""})`,
    );
  }
  out.push(`waits on${_cut(a.waits_on.length, a.waits_on_total, "by name")}:`);
  if (a.waits_on.length === 0) out.push("  nothing");
  for (const w of a.waits_on) out.push(`  ${_e(w.resource)}${_meta(w.meta)}`);
  out.push(`consumes${_cut(a.consumes.length, a.consumes_total, "by name")}:`);
  if (a.consumes.length === 0) out.push("  nothing");
  for (const w of a.consumes) out.push(`  ${_e(w.resource)}${_meta(w.meta)}`);
  const peers = a.ended === true ? undefined : a.job_blocked;
  if (Array.isArray(peers) && peers.length > 0) {
    // Beside its causes, not among them: a collective waits for its slowest rank.
    const total = a.ended === true ? undefined : a.job_blocked_total;
    const more = typeof total === "number" && total > peers.length ? ` (${peers.length} of ${total}, lowest pids first)` : "";
    out.push(`other processes of job ${_e(a.job_id ?? "-")} blocked by errors${more}:`);
    for (const q of peers) {
      const errors = (Array.isArray(q.errors) ? q.errors : []).map((x) => `${_e(String(x?.error_type ?? "").split(" ")[0])}@${_e(String(x?.entity ?? ""))}`);
      out.push(`  pid ${q.pid} (${_e(String(q.state))}): ${errors.join(", ")}`);
    }
  }
  const spared = a.ended === true ? undefined : a.not_charged;
  if (Array.isArray(spared) && spared.length > 0) {
    out.push(`faults on what it uses, not charged to it${_cut(spared.length, a.ended === true ? undefined : a.not_charged_total, "newest first")}:`);
    for (const f of spared) {
      const why = f?.reason === "another_process" ? `pid ${Number(f.pid)}'s own fault` : Object.hasOwn(_SPARED, String(f?.reason)) ? _SPARED[f.reason] : _e(String(f?.reason));
      out.push(`  ${_e(String(f?.error_type ?? "").split(" ")[0])} on ${_e(String(f?.entity))} at ${_e(String(f?.at ?? "?"))}: ${why}`);
    }
  }
  out.push("scenes:");
  if (a.ended === true && (a as EndedAnswer).scenes_asked === false) out.push("  not asked as it left (more processes left at once than the rules are asked about): see xctl-exporter status");
  else if (a.scenes.length === 0) out.push("  none matching");
  for (const s of a.scenes) out.push(..._scene(s));
  const settling = a.ended === true ? undefined : a.settling;
  if (Array.isArray(settling) && settling.length > 0) {
    // ps and status show them; said apart, as what held and no longer does.
    out.push("settling (active until --scene-settle passes; they no longer match this process):");
    for (const s of settling) out.push(`  ${_e(String(s?.scene))} (${_e(String(s?.rule))}): last found for it at ${_e(String(s?.matched_at ?? "?"))}; its evidence then: GET /api/v1/diagnoses`);
  }
  return out.join("\n") + "\n";
}

/** ` (16 of 40, newest first)` after a list's heading when the answer cut it, else nothing. */
function _cut(shown: number, total: unknown, order: string): string {
  return typeof total === "number" && total > shown ? ` (${shown} of ${total}, ${order})` : "";
}

/** What an answer about a process that has left the graph says first: that it ended, and that this is its last answer. */
function _ended(a: EndedAnswer): string[] {
  const why = Object.hasOwn(_LEFT, a.left_because) ? _LEFT[a.left_because] : _e(String(a.left_because));
  const last = a.last_event_at ? `; its last event ${_e(String(a.last_event_at))}` : "";
  return [
    `ended: this process has ended and left the graph at ${_e(String(a.left_at ?? "?"))} (${why}${last}).`,
    `This is its last answer, as it stood just before it left; kept until ${_e(String(a.kept_until ?? "?"))}.`,
  ];
}

const _SPARED: Record<string, string> = {
  started_after: "it started after that fault; a new report of the fault would charge it",
  start_unknown: "the fault came before the exporter saw who used the device, and this process's start is not known (it may have come later); a new report of the fault would charge it",
  came_after: "it came to the device after that fault; a new report of the fault would charge it",
};

const _LEFT: Record<string, string> = {
  ended: "removed after it ended",
  idle: "removed after it stayed neither running nor ended without news for the idle time",
  pid_reused: "another process took its pid; its end was never reported",
  evicted: "evicted at --max-nodes",
};

function _meta(meta: Record<string, string>): string {
  const parts = Object.entries(meta).map(([k, v]) => `${_e(k)}=${_e(v)}`);
  return parts.length > 0 ? `  ${parts.join(" ")}` : "";
}

function _scene(s: Partial<SceneMatch>): string[] {
  if (s === null || typeof s !== "object" || typeof s.scene !== "string") return [`  ${_e(JSON.stringify(s))}`];
  let head = `  ${_e(s.scene)}`;
  if (typeof s.rule === "string") head += ` (${_e(s.rule)})`;
  if (typeof s.severity === "string") head += `, ${s.severity}`;
  if (typeof s.confidence === "number") head += `, confidence ${s.confidence.toFixed(2)}`;
  const out = [head];
  const primary = s.root_cause?.primary;
  if (typeof primary === "string" && primary) out.push(`    root cause: ${_e(primary)}`);
  const evidence = Array.isArray(s.evidence) ? s.evidence : [];
  if (evidence.length > 0) out.push("    evidence:");
  for (const c of evidence) out.push(..._evidence(c));
  const steps = Array.isArray(s.solution_steps) ? s.solution_steps : [];
  if (steps.length > 0) out.push("    steps:");
  for (const st of steps) {
    if (st === null || typeof st !== "object") continue;
    const cmd = typeof st.command === "string" && st.command ? `: ${_e(st.command)}` : "";
    out.push(`      ${st.step ?? "-"}. ${_e(st.action ?? "")}${cmd}${st.manual === true ? " (manual)" : ""}`);
  }
  return out;
}

/** One condition and what made it hold, one line each. */
function _evidence(c: ConditionEvidence): string[] {
  const out = [`      ${_e(c.condition)}  [${_e(c.path)}]`];
  for (const ev of c.events ?? []) {
    const who = `${ev.pid !== null ? ` pid ${ev.pid}` : " (no pid: device)"}${ev.job_id !== null ? ` job ${_e(ev.job_id)}` : ""}`;
    out.push(`        ${_time(ev.ts)}  ${ev.event_type} ${_e(ev.entity_id)} "${_e(ev.value)}"${who}`);
  }
  for (const ed of c.edges ?? []) out.push(`        ${_e(ed.from)} -${ed.type}-> ${_e(ed.to)}`);
  for (const n of c.nodes ?? []) out.push(`        ${_e(n.id)}${_meta(n.values)}`);
  return out;
}

function _time(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

export const whyCommand = defineCommand({
  meta: { name: "why", description: "Root cause of one process of a running exporter, with the evidence of every scene" },
  args: { ...cittyArgs(WHY_FLAGS), pid: { type: "positional" as const, description: "Process id", required: false } },
  run: ({ rawArgs }) => runWhy(rawArgs),
});
