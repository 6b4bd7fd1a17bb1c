// The graph view as Graphviz DOT. An entity id from an event can hold anything (quotes,
// backslashes, newlines, NUL): a node is named by its id only when the id is plain (letters,
// digits and `_.:/@+-`), else by a generated `#n<k>` (`#` is never plain, so the two cannot
// meet, nor meet the legend's `#legend_*`), and a label shows the id with every control
// character made visible and DOT's escapes doubled, so `dot` accepts any graph. An error is
// drawn on the resource it was reported for.
import { RESOURCE_KEYS } from "../graph/nodes.ts";
import { escapeControl } from "../escape.ts";
import type { GraphEdgeView, GraphJson, GraphNodeView } from "./graph-view.ts";

const _PLAIN = /^[A-Za-z0-9_.:\/@+-]+$/;
const _FONT = 'fontname="Helvetica", fontsize=10';

// One look per node type and one per edge kind; the legend shows them.
const _NODE_STYLE: Record<GraphNodeView["type"], string> = {
  process: 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
  resource: 'shape=ellipse, style=filled, fillcolor="#e8f4e0"',
  error: 'shape=octagon, style=filled, fillcolor="#f8d4d4", color="#b00020"',
};
const _EDGE_STYLE: Record<GraphEdgeView["type"] | "on", string> = {
  consumes: 'style=solid, color="#4a6fa5"',
  waits_on: 'style=dashed, color="#d08000"',
  blocked_by: 'style=bold, color="#b00020"',
  on: 'style=dotted, color="#b00020", arrowhead=none',
};

/** The view as DOT: one font, one style per node type and edge kind, errors tied to their resource, a legend. */
export function graphDot(view: GraphJson): string {
  const out: string[] = [
    "digraph xctl {",
    "  rankdir=LR;",
    `  graph [${_FONT}];`,
    `  node [${_FONT}];`,
    `  edge [${_FONT}];`,
  ];
  if (view.truncated) out.push(`  label=${dotString("truncated: raise ?limit= to see everything")};`);
  const names = new Map<string, string>();
  const resourceIds = new Set<string>();
  for (const n of view.nodes) {
    const name = _PLAIN.test(n.id) ? `"${n.id}"` : `"#n${names.size}"`;
    names.set(n.id, name);
    if (n.type === "resource") resourceIds.add(n.id);
    out.push(`  ${name} [label=${dotLabel(_labelLines(n))}, ${_NODE_STYLE[n.type]}];`);
  }
  for (const e of view.edges) {
    const from = names.get(e.from);
    const to = names.get(e.to);
    if (from !== undefined && to !== undefined) out.push(`  ${from} -> ${to} [label=${dotString(e.type)}, ${_EDGE_STYLE[e.type]}];`);
  }
  for (const n of view.nodes) {
    if (n.type !== "error" || typeof n.entity !== "string" || !resourceIds.has(n.entity)) continue;
    out.push(`  ${names.get(n.id)} -> ${names.get(n.entity)} [label="on", ${_EDGE_STYLE.on}];`);
  }
  out.push(..._legend());
  out.push("}");
  return out.join("\n") + "\n";
}

function _legend(): string[] {
  return [
    "  subgraph cluster_legend {",
    '    label="legend"; style=dashed; color="#999999";',
    `    "#legend_process" [label="process\\njob state", ${_NODE_STYLE.process}];`,
    `    "#legend_resource" [label="resource", ${_NODE_STYLE.resource}];`,
    `    "#legend_error" [label="error\\ntype", ${_NODE_STYLE.error}];`,
    `    "#legend_wait" [label="resource waited on", ${_NODE_STYLE.resource}];`,
    `    "#legend_process" -> "#legend_resource" [label="consumes", ${_EDGE_STYLE.consumes}];`,
    `    "#legend_process" -> "#legend_wait" [label="waits_on", ${_EDGE_STYLE.waits_on}];`,
    `    "#legend_process" -> "#legend_error" [label="blocked_by", ${_EDGE_STYLE.blocked_by}];`,
    `    "#legend_error" -> "#legend_resource" [label="on", ${_EDGE_STYLE.on}];`,
    "  }",
  ];
}

function _labelLines(n: GraphNodeView): string[] {
  switch (n.type) {
    case "process":
      return [n.id, `${n.job_id ?? "-"} ${n.state}`];
    case "error":
      return [n.id, String(n.error_type)];
    case "resource": {
      const meta = RESOURCE_KEYS.filter((k) => n[k] !== undefined).map((k) => `${k}=${n[k]}`);
      return meta.length > 0 ? [n.id, meta.join(" ")] : [n.id];
    }
  }
}

/** A DOT quoted string shown literally: control characters made visible, backslash and quote escaped. */
export function dotString(s: string): string {
  return '"' + escapeControl(s).replace(/[\\"]/g, (c) => "\\" + c) + '"';
}

/** Lines shown literally, joined by DOT's centred line break. */
export function dotLabel(lines: readonly string[]): string {
  return '"' + lines.map((l) => escapeControl(l).replace(/[\\"]/g, (c) => "\\" + c)).join("\\n") + '"';
}
