// The landing page of GET /: what is wrong on this host now (active scenes with their root
// causes and the jobs they hit), the sources with their state, the graph's size, the rules
// loaded, and links to the rest. Server-rendered HTML, readable without JavaScript; every
// text that came from an event or a rule file is escaped.
import type { Queries, Status } from "../query/queries.ts";
import type { ActiveScene } from "../query/status.ts";
import type { SourceStatus } from "../query/sources.ts";
import { escapeControl } from "../escape.ts";

export interface LandingOptions {
  metricsPath: string;
}

/**
 * The page's stylesheet and icon, served from this origin (`/landing.css`, `/favicon.svg`) rather
 * than inline: a `Content-Security-Policy` such as `default-src 'self'` (a header the web-config
 * file may set) then still lets the page be styled, and the browser asks for no `/favicon.ico`
 * (a 404, or a 401 behind basic auth: an error in the console either way).
 */
export const LANDING_CSS = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;line-height:1.45;color:#1d1d1d}
h1{margin-bottom:.2rem}h2{margin-top:1.6rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
code{background:#f3f3f3;padding:0 .2rem}.ok{color:#1a7f37}.bad{color:#b00020;font-weight:600}.warn{color:#9a6700}
.scene{border-left:4px solid #b00020;padding:.3rem .8rem;margin:.6rem 0;background:#fdf3f3}.muted{color:#666}
ul.links li{white-space:nowrap}
`;

/** A red dot on a dark square: the tab of a page about faults. */
export const LANDING_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d1d1d"/><circle cx="8" cy="8" r="4" fill="#e5484d"/></svg>
`;

export function landingPage(q: Queries, opts: LandingOptions): string {
  const st = q.status();
  const rel = opts.metricsPath.replace(/^\//, "");
  const c = st.counts;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="landing.css">
<title>xctl-exporter${st.scenes.length > 0 ? ` (${st.scenes.length} active)` : ""}</title>
</head>
<body>
<h1>xctl-exporter</h1>
<p class="muted">Causal diagnosis graph of this AI compute host, as Prometheus metrics. Version ${_h(st.version)}; ${st.ready ? '<span class="ok">ready</span>' : '<span class="bad">not ready</span>'}.</p>
<h2 id="now">What is wrong now</h2>
${_rulesReload(st)}${_scenes(st.scenes, q)}
<h2 id="sources">Sources</h2>
${_sources(st.sources)}${_skipped(st)}
<h2 id="graph">Graph</h2>
<p>${_count(c.processes, "process", "processes")} (${c.active_processes} running), ${_count(c.resources, "resource")}, ${_count(c.errors, "error")} in the window;
edges: ${c.edges.consumes} consumes, ${c.edges.waits_on} waits_on, ${c.edges.blocked_by} blocked_by.
${_count(c.events_accepted, "event")} accepted, ${c.events_rejected} rejected; ${_count(c.diagnosis_runs, "diagnosis run")} over ${_count(c.rules, "rule")}.</p>
<h2 id="links">Everything else</h2>
<ul class="links">
<li><a href="${_h(rel)}">Metrics</a> for Prometheus to scrape</li>
<li><a href="api/v1/status">Status</a> (JSON: what <code>xctl-exporter status</code> shows)</li>
<li><a href="api/v1/processes">Processes</a> (JSON: what <code>xctl-exporter ps</code> shows)</li>
<li><a href="api/v1/graph">Graph as JSON</a> and <a href="api/v1/graph?format=dot">as Graphviz</a></li>
<li><a href="api/v1/diagnoses">Diagnoses</a>: recent runs</li>
<li>Event streams: <a href="api/v1/events/stream?type=scene">scene changes</a>, <a href="api/v1/events/stream?type=error.hw,error.net,topo.link_down,scene">errors and scenes</a>, <a href="api/v1/events/stream">everything</a></li>
<li><a href="healthz">Health</a> and <a href="readyz">readiness</a></li>
</ul>
</body>
</html>
`;
}

function _scenes(scenes: ActiveScene[], q: Queries): string {
  if (scenes.length === 0) return '<p class="ok">No scene is active.</p>';
  const rules = new Map(q.rules.map((r) => [r.scene, r]));
  return scenes
    .map((s) => {
      const types = rules.get(s.scene)?.related_evidences ?? [];
      const stream = `api/v1/events/stream?type=${encodeURIComponent([...types, "scene"].join(","))}`;
      // A list cut at its cap says so (eight tenants past the 32 named are affected too).
      const more = s.affected_pids_cut ? `, ... <span class="muted">(the first ${s.affected_pids.length}; more are affected: see <a href="api/v1/processes">the processes</a>)</span>` : "";
      const jobs = s.affected_jobs.length > 0 ? s.affected_jobs.map((j) => `<code>${_h(j)}</code>`).join(", ") + (more ? ", ..." : "") : '<span class="muted">none known</span>';
      const pids = s.affected_pids.length > 0 ? s.affected_pids.join(", ") + more : '<span class="muted">none</span>';
      // Held only by --scene-settle: say so, and that the pids are those of the last run that found it.
      const settling = s.matching ? "" : ` <span class="muted">(settling: not found by the latest run${s.matched_at === null ? "" : `; last found ${_h(s.matched_at)}`})</span>`;
      return `<div class="scene"><strong class="bad">${_h(s.scene)}</strong> ${_h(s.rule)}${settling}<br>
Root cause: ${_h(s.root_cause)}<br>
Jobs: ${jobs}; pids: ${pids} &middot; <a href="${_h(stream)}">its events</a></div>`;
    })
    .join("\n");
}

/** A refused rule reload (the rules in force are older than the files), with why; nothing otherwise. */
function _rulesReload(st: Status): string {
  const r = st.rules;
  if (r === undefined || r.last_reload_successful) return "";
  const when = r.last_failure === null ? "" : ` at ${_h(r.last_failure.at)}`;
  return `<p class="bad" id="rules-reload">The last rule reload failed${when}: ${_h(r.last_failure?.error ?? "no reason given")}</p>
<p>The ${_count(r.loaded, "rule")} loaded at ${_h(r.loaded_at)} stay in force. Fix the file, check it (<code>xctl-exporter rules check</code>) and reload again.</p>
`;
}

function _sources(sources: SourceStatus[]): string {
  if (sources.length === 0) return '<p class="warn">No source is configured: nothing feeds the graph but pushes to <code>POST /api/v1/events</code>.</p>';
  const rows = sources.map((s) => {
    const cls = s.state === "up" ? "ok" : "bad";
    const age = s.last_event_age_s === null ? '<span class="muted">never</span>' : `${_age(s.last_event_age_s)} ago`;
    const reason = s.reason ?? (s.state !== "up" && s.last_exit ? `last run ${s.last_exit}` : "");
    const why = reason ? `<br><span class="muted">${_h(reason)}</span>` : "";
    return `<tr><td><code>${_h(s.name)}</code></td><td class="${cls}">${s.state}${why}</td><td>${s.restarts}</td><td>${age}</td></tr>`;
  });
  return `<table><thead><tr><th>source</th><th>state</th><th>restarts</th><th>last event</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>`;
}

/** The collectors `--collectors auto` left out, with why. */
function _skipped(st: Status): string {
  const list = st.collectors_skipped ?? [];
  if (list.length === 0) return "";
  return `\n<p><span class="muted">Collectors skipped:</span> ${list.map((c) => `<code>${_h(c.name)}</code> (${_h(c.reason)})`).join(", ")}</p>`;
}

function _age(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** HTML text and attribute escape, after making control characters visible. */
function _h(s: string): string {
  return escapeControl(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `1 error`, `2 errors`. */
function _count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
