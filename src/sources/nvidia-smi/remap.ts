// builtin:nvidia-smi's row remapping poll: `--query-remapped-rows` once per health interval
// (a remapping pending waits for a reset; a failed one means replacing the GPU), once the
// driver is known to answer it, and only while the looping query is up.
import { CSV_FORMAT, REMAP_QUERY, parseLostLine, parseRemapLine, refusedField, type RemapSample } from "./csv.ts";
import { runOnce, type OnceOptions } from "./once.ts";

export interface RemapPollOptions {
  command: string;
  intervalMs: number;
  healthIntervalMs: number;
  warn: (message: string) => void;
  error: (message: string) => void;
  /** How a run is made (once.ts). */
  once: () => OnceOptions;
  /** The nvidia-smi to run now, or null: not now (down, no GPU yet, faults held), asked again next interval. */
  ready: () => string | null;
  /** Whether the driver's field lists were read (then `ok` says whether it answers). */
  known: () => boolean;
  rows: (rows: RemapSample[]) => void;
}

export class RemapPoll {
  /** Whether this driver answers the query; set from its field list. */
  ok = false;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _failKey: string | null = null;
  private _stopped = false;

  constructor(private readonly _o: RemapPollOptions) {}

  start(): void {
    this._stopped = false;
    this._schedule(this._o.intervalMs);
  }

  stop(): void {
    this._stopped = true;
    clearTimeout(this._timer);
  }

  private _schedule(delayMs: number): void {
    if (this._stopped) return;
    this._timer = setTimeout(() => {
      void this._poll()
        .catch((e) => this._o.error(`row remapping poll: ${(e as Error).message}`))
        .then((done) => this._schedule(done === true ? this._o.healthIntervalMs : this._o.intervalMs));
    }, delayMs);
  }

  /** True when a snapshot was read (or never will be); false to try again next interval. */
  private async _poll(): Promise<boolean> {
    if (this._stopped || !this._o.known()) return false;
    if (!this.ok) return true;
    const path = this._o.ready();
    if (path === null) return false;
    const r = await runOnce(path, [`--query-remapped-rows=${REMAP_QUERY.join(",")}`, CSV_FORMAT], this._o.once());
    if (this._stopped || r.stuck) return true;
    const rows = r.lines.map(parseRemapLine).filter((row) => row !== null);
    // A GPU without a handle is GPU_LOST from the looping query already; the rest still count.
    const bad = r.lines.find((l) => l.trim() !== "" && parseRemapLine(l) === null && parseLostLine(l) === null);
    const failed = r.failed ?? (bad !== undefined ? `unexpected output: ${bad.slice(0, 200)}` : rows.length === 0 && r.code !== 0 ? `exit ${r.code}` : undefined);
    if (bad !== undefined && refusedField(bad) !== undefined) {
      this._o.warn(`${this._o.command} refused the row remapping query (${bad.trim()}); not asked again`);
      this.ok = false;
      return true;
    }
    if (failed !== undefined) {
      if (failed !== this._failKey) this._o.warn(`row remapping query failed (${failed}); tried again every ${this._o.healthIntervalMs} ms`);
      this._failKey = failed;
      return true;
    }
    this._failKey = null;
    this._o.rows(rows);
    return true;
  }
}
