// `xctl-exporter status`: what is wrong on a running exporter's host now, in one screen:
// active scenes with their root cause and the pids and jobs affected, the sources with their
// state, and the graph's counts. --json prints the API's answer; --watch redraws.
import { defineCommand } from "citty";
import type { Status } from "../query/queries.ts";
import { escapeControl } from "../escape.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, clientFromFlags } from "./client.ts";
import { cittyArgs, parseFlags, type FlagDefs } from "./flags.ts";
import { formatAge, formatTable } from "./table.ts";
import { WATCH_FLAGS, watchLoop } from "./watch.ts";

export const STATUS_FLAGS: FlagDefs = { ...CLIENT_FLAGS, ...WATCH_FLAGS };

export async function runStatus(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(STATUS_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`status: unexpected argument "${positionals[0]}"`);
  const client = await clientFromFlags(values);
  await watchLoop(values, async () => {
    const st = await client.getJson<Status>("/api/v1/status");
    if (st === null || typeof st !== "object" || !Array.isArray(st.scenes)) throw new UsageError(`${client.base}/api/v1/status did not answer a status: is it an xctl-exporter?`);
    return values.json ? JSON.stringify(st, null, 2) + "\n" : formatStatus(st, client.base);
  }, { json: values.json === true });
}

export function formatStatus(st: Status, base: string): string {
  const e = escapeControl;
  const out: string[] = [`xctl-exporter ${e(st.version)} at ${e(base)}: ${st.ready ? "ready" : "NOT READY"}`, ""];
  // A refused reload leaves older rules in force than the files say: said first, with why.
  const rules = st.rules;
  if (rules !== undefined && rules.last_reload_successful === false) {
    const when = rules.last_failure === null ? "" : ` at ${e(rules.last_failure.at)}`;
    out.push(`RULE RELOAD FAILED${when}: ${e(rules.last_failure?.error ?? "(no reason given)")}`);
    out.push(`  the ${_count(rules.loaded, "rule")} loaded at ${e(rules.loaded_at)} stay in force; fix the file, check it (rules check), reload again`, "");
  }
  if (st.scenes.length === 0) out.push("No scene is active.");
  else out.push(`${st.scenes.length} active scene${st.scenes.length === 1 ? "" : "s"}:`);
  for (const s of st.scenes) {
    const settling = s.matching === false ? `  (settling: not found by the latest run${s.matched_at ? `; last found ${e(s.matched_at)}` : ""})` : "";
    out.push(`  ${e(s.scene)}  ${e(s.rule)}${settling}`);
    out.push(`    root cause: ${e(s.root_cause)}`);
    const more = s.affected_pids_cut === true ? `, ... (the first ${s.affected_pids.length}; more are affected: xctl-exporter ps)` : "";
    out.push(`    pids: ${s.affected_pids.length > 0 ? s.affected_pids.join(", ") + more : "-"}   jobs: ${s.affected_jobs.length > 0 ? s.affected_jobs.map(e).join(", ") + (more ? ", ..." : "") : "-"}`);
  }
  // A fault the graph holds that no scene explains is said, not hidden behind "No scene is active".
  const loose = Array.isArray(st.unexplained_errors) ? st.unexplained_errors : [];
  if (loose.length > 0) {
    // An older exporter sends no total: then only what it listed is known.
    const total = typeof st.unexplained_errors_total === "number" ? Math.max(st.unexplained_errors_total, loose.length) : loose.length;
    const cut = total > loose.length ? ` (the newest ${loose.length}; xctl-exporter why PID or GET /api/v1/graph shows the rest)` : "";
    out.push("", `${total} error${total === 1 ? "" : "s"} no active scene explains${cut}:`);
    for (const x of loose) out.push(`  ${e(x.error_type)} on ${e(x.entity)} (since ${e(x.since)}${x.updated_at !== x.since ? `, last reported ${e(x.updated_at)}` : ""})`);
  }
  out.push("");
  if (st.sources.length === 0) out.push("No source configured: only pushes to POST /api/v1/events feed the graph.");
  else {
    out.push("Sources:");
    // Why a source is down, where it says (a probe that cannot be started; how the last run of
    // one that is down or crash-looping ended): the last column.
    const whyOf = (s: (typeof st.sources)[number]) => s.reason ?? (s.state !== "up" && s.last_exit ? `last run ${s.last_exit}` : "");
    const why = st.sources.some((s) => whyOf(s) !== "");
    const rows = st.sources.map((s) => {
      const row = [s.name, s.state, String(s.restarts), s.last_event_age_s === null ? "never" : `${formatAge(s.last_event_age_s)} ago`];
      return why ? [...row, e(whyOf(s))] : row;
    });
    const head = ["NAME", "STATE", "RESTARTS", "LAST EVENT", ...(why ? ["WHY"] : [])];
    out.push(...formatTable(head, rows).trimEnd().split("\n").map((l) => `  ${l.trimEnd()}`));
  }
  const skipped = Array.isArray(st.collectors_skipped) ? st.collectors_skipped : [];
  if (skipped.length > 0) out.push(`Collectors skipped: ${skipped.map((c) => `${e(c.name)} (${e(c.reason)})`).join(", ")}`);
  const c = st.counts;
  out.push("");
  out.push(
    `Graph: ${_count(c.processes, "process", "processes")} (${c.active_processes} running), ${_count(c.resources, "resource")}, ${_count(c.errors, "error")}; ` +
      `edges ${c.edges.consumes} consumes, ${c.edges.waits_on} waits_on, ${c.edges.blocked_by} blocked_by`,
  );
  out.push(`Events: ${c.events_accepted} accepted, ${c.events_rejected} rejected; ${_count(c.diagnosis_runs, "diagnosis run")} over ${_count(c.rules, "rule")}`);
  return out.join("\n") + "\n";
}

/** `1 error`, `2 errors`. */
function _count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export const statusCommand = defineCommand({
  meta: { name: "status", description: "What is wrong on a running exporter's host now: active scenes, sources, counts" },
  args: { ...cittyArgs(STATUS_FLAGS) },
  run: ({ rawArgs }) => runStatus(rawArgs),
});
