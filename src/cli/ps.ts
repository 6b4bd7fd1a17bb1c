// `xctl-exporter ps [--url]`: the processes of a running exporter as a table.
import { defineCommand } from "citty";
import type { ProcessRow } from "../graph/views.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, clientFromFlags } from "./client.ts";
import { cittyArgs, parseFlags } from "./flags.ts";

export const PS_FLAGS = CLIENT_FLAGS;

export async function runPs(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(PS_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`ps: unexpected argument "${positionals[0]}"`);
  const client = clientFromFlags(values);
  const rows = await client.getJson<ProcessRow[]>("/api/v1/processes");
  if (!Array.isArray(rows)) throw new Error(`${client.base}/api/v1/processes did not answer a list`);
  process.stdout.write(values.json ? JSON.stringify(rows, null, 2) + "\n" : formatProcessTable(rows));
}

/** PID, JOB_ID, RESOURCES, STATE in aligned columns; "-" for what is unknown. */
export function formatProcessTable(rows: ProcessRow[]): string {
  const table = [["PID", "JOB_ID", "RESOURCES", "STATE"]];
  for (const r of rows) {
    table.push([String(r.pid), r.job_id ?? "-", r.resources.length > 0 ? r.resources.join(",") : "-", r.state]);
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ")).join("\n") + "\n";
}

export const psCommand = defineCommand({
  meta: { name: "ps", description: "List the processes of a running exporter" },
  args: { ...cittyArgs(PS_FLAGS) },
  run: ({ rawArgs }) => runPs(rawArgs),
});
