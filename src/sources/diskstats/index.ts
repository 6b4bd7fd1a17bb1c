// builtin:diskstats: IOPS and queue depth per block device, from <procfs>/diskstats.
import { join } from "node:path";
import { describeErrno } from "../../errno.ts";
import { errCode, PollingSource, readText } from "../poller.ts";
import type { SourceContext } from "../source.ts";
import { parseDiskstats } from "./parse.ts";
import { DiskTracker } from "./tracker.ts";

export const DISKSTATS_DEFAULT_INTERVAL_MS = 15_000;

export interface DiskstatsOptions {
  procfs: string;
  intervalMs?: number;
  name?: string;
  /** Wall clock for round times (tests drive it). */
  clock?: () => number;
}

export class DiskstatsSource extends PollingSource {
  readonly path: string;
  private readonly _tracker = new DiskTracker();
  private _failed = "";

  constructor(opts: DiskstatsOptions) {
    super(opts.name ?? "diskstats", opts.intervalMs ?? DISKSTATS_DEFAULT_INTERVAL_MS, (ctx, now) => this._round(ctx, now), opts.clock);
    this.path = join(opts.procfs, "diskstats");
  }

  private async _round(ctx: SourceContext, now: number): Promise<void> {
    let text: string;
    try {
      text = await readText(this.path);
    } catch (e) {
      // Said once per kind of failure, not every round.
      const code = errCode(e) || String(e);
      if (code !== this._failed) ctx.log.warn(`cannot read ${this.path}: ${code}; no disk readings until it can`);
      this._failed = code;
      ctx.setUp(false, `cannot read ${this.path}: ${describeErrno(e)}`);
      return;
    }
    if (this._failed !== "") ctx.log.info(`${this.path} readable again`);
    this._failed = "";
    ctx.setUp(true);
    for (const ev of this._tracker.round(parseDiskstats(text), now)) ctx.emit(ev);
  }
}
