// One `--query-compute-apps` run read into a snapshot: the compute processes nvidia-smi listed,
// and the GPUs it could not ask.
//
// What nvidia-smi prints while one GPU has no device handle (fallen off the bus, Xid 79), from
// public reports (no capture of `--query-compute-apps` itself in that state was found; what the
// other query modes show, below, is what this reads it by):
// - It asks the driver GPU by GPU in index order, prints the line of each GPU it has a handle
//   for, and in the place of the lost one `Unable to determine the device handle for GPU
//   0000:18:00.0: Unknown Error` (later drivers: `... for GPU1: 0000:3B:00.0: ...`; the text after
//   the bus id may be `GPU is lost. Reboot the system to recover this GPU`,
//   https://github.com/JosephKJ/OWOD/issues/81), then goes on with
//   the GPUs after it. `nvidia-smi -L` with GPU 0 lost printed that line first, then GPU 1, 2
//   and 3 (https://github.com/NordicHPC/sonar/issues/72); asked GPU by GPU (`-i`), the healthy
//   ones answer as usual (https://github.com/wookayin/gpustat/issues/125).
// - It exits non-zero once everything it could read is printed: the exit status is the NVML
//   error, 15 for "The GPU has fallen off the bus or has otherwise become inaccessible"
//   (nvidia-smi(1), RETURN VALUE; quoted in NVIDIA/cloud-native-docs
//   gpu-operator/troubleshooting.rst, which also shows a full table printed before a warning and
//   exit 14). The line is read, not the status: an `Unknown Error` handle may end another way.
// - The processes on the lost GPU are not listed, but they have not exited: they hang in the
//   driver until the GPU is reset and cannot even be killed
//   (https://github.com/NVIDIA/nvidia-docker/issues/1553). The tracker keeps them (tracker.ts).
// So such a run is a snapshot of the other GPUs: their processes' readings, exits and starts go
// on, where taking the whole run as failed blinded the collector to every GPU of the host.
import { parseAppLine, parseLostLine, type AppSample, type LostGpu } from "./csv.ts";
import type { OnceResult } from "./once.ts";

export interface AppsRun {
  rows: AppSample[];
  /** GPUs nvidia-smi printed no processes for because it has no handle for them. */
  lost: LostGpu[];
  /** The first line that is neither a process nor a lost GPU. */
  bad?: string;
}

/** The lines of one `--query-compute-apps` run (APPS_QUERY, csv,noheader,nounits). */
export function parseAppsRun(lines: readonly string[]): AppsRun {
  const out: AppsRun = { rows: [], lost: [] };
  for (const line of lines) {
    if (line.trim() === "") continue;
    const row = parseAppLine(line);
    if (row !== null) {
      out.rows.push(row);
      continue;
    }
    const lost = parseLostLine(line);
    if (lost !== null) out.lost.push(lost);
    else out.bad ??= line;
  }
  return out;
}

/** A snapshot to conclude from: every process, or every process of the GPUs nvidia-smi could ask. */
export interface AppsSnapshot {
  rows: AppSample[];
  lost: LostGpu[];
}

/**
 * Reads each run and says what changed, once: a query that fails (nothing concluded, process
 * events paused), one that answers for all GPUs but the lost ones, and one that works again.
 */
export class AppsQuery {
  private _failKey: string | null = null;

  constructor(private readonly _log: { warn(m: string): void; info(m: string): void }) {}

  /** The snapshot of one run, or null when it failed (then nothing is concluded). */
  read(r: OnceResult): AppsSnapshot | null {
    const run = parseAppsRun(r.lines);
    const exit = r.code !== 0 && r.code !== null ? `exit ${r.code}` : undefined;
    // A run that printed anything else, or exited non-zero without naming a lost GPU, failed.
    const partial = run.bad === undefined && run.lost.length > 0;
    const failed = r.failed ?? (partial ? undefined : (exit ?? (run.bad !== undefined ? "unexpected output" : undefined)));
    if (failed !== undefined) {
      const bad = run.bad !== undefined ? `: ${run.bad.slice(0, 200)}` : "";
      if (failed !== this._failKey) this._log.warn(`compute process query failed (${failed})${bad}; process events paused`);
      this._failKey = failed;
      return null;
    }
    const key = run.lost.length === 0 ? null : `lost:${run.lost.map((l) => l.busId).join(",")}`;
    if (key !== null && key !== this._failKey) {
      const which = run.lost.map((l) => l.said).join("; ");
      this._log.warn(`compute process query${exit ? ` (${exit})` : ""}: ${which}; the processes of the other GPUs are read, those on the lost GPU kept as they were until it answers`);
    } else if (key === null && this._failKey !== null) {
      this._log.info("compute process query works again");
    }
    this._failKey = key;
    return { rows: run.rows, lost: run.lost };
  }
}
