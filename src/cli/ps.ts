// `xctl-exporter ps`: the processes of a running exporter, kubectl style: a table (-o table,
// the default), every column at full length (-o wide) or the API's JSON (-o json);
// --no-headers; --watch redraws until Ctrl-C (exit 0).
import { defineCommand } from "citty";
import type { ProcessRow } from "../query/processes.ts";
import { UsageError } from "./errors.ts";
import { CLIENT_FLAGS, clientFromFlags, type Client } from "./client.ts";
import { cittyArgs, flagLabel, parseFlags, type FlagDefs, type FlagValues } from "./flags.ts";
import { parseChoice } from "./parse-values.ts";
import { formatAge, formatTable, listCell } from "./table.ts";
import { WATCH_FLAGS, watchLoop } from "./watch.ts";
import { writeErr } from "../stdio.ts";

export const PS_FLAGS: FlagDefs = {
  ...CLIENT_FLAGS,
  output: { type: "string", short: "o", default: "table", description: "table, wide or json", valueHint: "format", env: false },
  "no-headers": { type: "boolean", default: false, description: "Leave out the header line", env: false },
  ...WATCH_FLAGS,
};

const _OUTPUTS = ["table", "wide", "json"] as const;
type _Output = (typeof _OUTPUTS)[number];

export async function runPs(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(PS_FLAGS, argv);
  if (positionals.length > 0) throw new UsageError(`ps: unexpected argument "${positionals[0]}"`);
  const output: _Output = values.json === true ? "json" : parseChoice(flagLabel(values, "output"), values.output as string, _OUTPUTS);
  const client = await clientFromFlags(values);
  const frame = async () => _render(await _rows(client), output, values);
  await watchLoop(values, frame, { json: output === "json" });
}

async function _rows(client: Client): Promise<ProcessRow[]> {
  let total: number | undefined;
  const rows = await client.getJson<ProcessRow[]>("/api/v1/processes", (h) => {
    if (h.get("x-truncated") === "true") total = Number(h.get("x-total-count")) || undefined;
  });
  if (!Array.isArray(rows)) throw new UsageError(`${client.base}/api/v1/processes did not answer a list: is it an xctl-exporter?`);
  // A cut list is never passed off as the whole graph.
  if (total !== undefined) writeErr(`xctl-exporter: ps: showing the first ${rows.length} of ${total} processes (by pid), the API's limit\n`);
  return rows;
}

function _render(rows: ProcessRow[], output: _Output, v: FlagValues): string {
  if (output === "json") return JSON.stringify(rows, null, 2) + "\n";
  return formatProcessTable(rows, { wide: output === "wide", headers: v["no-headers"] !== true });
}

const _HEAD = ["PID", "JOB", "STATE", "GPUS", "WAITS_ON", "BLOCKED_BY", "SCENES", "AGE"];

/**
 * PID, JOB, STATE, GPUS (consumed), WAITS_ON, BLOCKED_BY (error code@entity), SCENES, AGE (since
 * its last event); "-" for what is unknown. Cells are cut at 32 characters unless wide, which
 * adds UPDATED (the event time of the last update).
 */
export function formatProcessTable(rows: ProcessRow[], opts: { wide?: boolean; headers?: boolean } = {}): string {
  const head = opts.wide ? [..._HEAD, "UPDATED"] : _HEAD;
  const body = rows.map((r) => {
    const blocked = (r.blocked_by_errors ?? []).map((e) => `${_code(e.error_type)}@${e.entity}`);
    const row = [
      String(r.pid),
      r.job_id ?? "-",
      r.state,
      listCell(r.consumes),
      listCell(r.waits_on),
      listCell(blocked.length > 0 ? blocked : r.blocked_by),
      listCell((r.scenes ?? []).map((s) => (r.settling_scenes?.includes(s) ? `${s} (settling)` : s))),
      formatAge(r.age_s),
    ];
    if (opts.wide) row.push(r.updated_at ?? "-");
    return row;
  });
  return formatTable(head, body, { headers: opts.headers, maxCell: opts.wide ? undefined : 32 });
}

/** The code an error value starts with (`XID_79`, `IO_ERROR`, `LINK_DOWN`): collectors keep the
 *  kernel's message after it, which `why` shows in full. */
function _code(errorType: string): string {
  return errorType.trim().split(/\s+/, 1)[0] || "error";
}

export const psCommand = defineCommand({
  meta: { name: "ps", description: "List the processes of a running exporter" },
  args: { ...cittyArgs(PS_FLAGS) },
  run: ({ rawArgs }) => runPs(rawArgs),
});

