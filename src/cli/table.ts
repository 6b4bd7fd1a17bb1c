// Aligned text tables for the client commands. Every cell is passed through escapeControl, so
// text from events (a job id with a newline, an ESC) can neither forge a row nor drive the
// terminal.
import { escapeControl } from "../escape.ts";

export interface TableOptions {
  headers?: boolean;
  /** Longest cell before it is cut with "..." (default: no limit). */
  maxCell?: number;
}

export function formatTable(head: readonly string[], rows: readonly (readonly string[])[], opts: TableOptions = {}): string {
  const cut = (s: string) => {
    const e = escapeControl(s);
    return opts.maxCell !== undefined && e.length > opts.maxCell ? e.slice(0, opts.maxCell - 3) + "..." : e;
  };
  const table = [...(opts.headers === false ? [] : [head.map(String)]), ...rows.map((r) => r.map(cut))];
  if (table.length === 0) return "";
  const widths = head.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd()).join("\n") + "\n";
}

/** kubectl's way of writing an age: 45s, 3m12s, 2h5m, 4d. */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ""}`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A list as one cell: comma-separated, "-" when empty. */
export function listCell(items: readonly string[] | undefined): string {
  return items !== undefined && items.length > 0 ? items.join(",") : "-";
}
