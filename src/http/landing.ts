// The landing page of GET /: what this is and where everything lives, like node_exporter's.
import { VERSION } from "../version.ts";

export function landingPage(metricsPath: string): string {
  const link = (href: string, text: string, note: string) =>
    `<li><a href="${href}">${text}</a> ${note}</li>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>xctl-exporter</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:0 .2rem}</style>
</head>
<body>
<h1>xctl-exporter</h1>
<p>Causal diagnosis graph of this AI compute host, as Prometheus metrics. Version ${_escape(VERSION)}.</p>
<ul>
${link(_escape(metricsPath), "Metrics", "for Prometheus to scrape")}
${link("healthz", "Health", "200 while serving")}
${link("readyz", "Readiness", "200 once rules are loaded and sources started")}
${link("api/v1/processes", "Processes", "what <code>xctl-exporter ps</code> shows")}
${link("api/v1/graph", "Graph", "nodes and edges as JSON")} (<a href="api/v1/graph?format=dot">Graphviz</a>)
${link("api/v1/diagnoses", "Diagnoses", "recent diagnosis runs")}
${link("api/v1/events/stream", "Event stream", "accepted events as Server-Sent Events")}
</ul>
</body>
</html>
`;
}

function _escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
