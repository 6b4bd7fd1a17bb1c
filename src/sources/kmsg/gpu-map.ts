// PCI bus id of a GPU → the entity `builtin:nvidia-smi` gives it (`gpu-NN`, NN its index), by
// gpu-name.ts's rule, shared with builtin:nvidia-smi; the index table it reads first comes from
// `nvidia-smi --query-gpu=index,pci.bus_id`, run once, asynchronously, with a timeout, again when
// older than `refreshMs` or (at most once a minute) when a bus id is not in it. Without an index:
// the GPU's rank in PCI bus order under `<procfs>/driver/nvidia/gpus/`, else `gpu-<bus>`.
import { join } from "node:path";
import { runTool, startChild, StuckRuns, which, type Spawn } from "../child.ts";
import { driverGpus, gpuName, nameGpu, normaliseBus } from "../gpu-name.ts";

/** Index per normalised bus id from `--query-gpu=index,pci.bus_id --format=csv,noheader` output. */
export function parseSmiIndex(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [idx, bus] = line.split(",").map((s) => s.trim());
    if (idx === undefined || bus === undefined || !/^\d+$/.test(idx)) continue;
    const key = normaliseBus(bus);
    if (key !== null) out.set(key, Number(idx));
  }
  return out;
}

export interface GpuMapOptions {
  procfs: string;
  /** Name looked up on PATH, or a path; null: never run it. */
  command?: string | null;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  refreshMs?: number;
  /** Least time between two runs caused by unknown bus ids. */
  missRetryMs?: number;
  /** A run killed at its timeout and still there this much later is stuck in the driver. Default 2 s. */
  killWaitMs?: number;
  /** Starts a run; tests give one whose child never dies. */
  spawn?: Spawn;
  /** Told once why nvidia-smi gave no table. */
  warn?: (message: string) => void;
}

export class GpuMap {
  private readonly _o: Required<Omit<GpuMapOptions, "warn">> & Pick<GpuMapOptions, "warn">;
  /** A run that did not die when killed (a GPU fallen off the bus): none other until it is gone. */
  private readonly _stuck: StuckRuns;
  private _table = new Map<string, number>();
  private _loadedAt = -Infinity;
  private _loading: Promise<void> | null = null;
  private _warned = false;

  constructor(opts: GpuMapOptions) {
    this._o = {
      procfs: opts.procfs,
      command: opts.command === undefined ? "nvidia-smi" : opts.command,
      env: opts.env ?? process.env,
      timeoutMs: opts.timeoutMs ?? 5000,
      refreshMs: opts.refreshMs ?? 10 * 60_000,
      missRetryMs: opts.missRetryMs ?? 60_000,
      killWaitMs: opts.killWaitMs ?? 2000,
      spawn: opts.spawn ?? startChild,
      warn: opts.warn,
    };
    this._stuck = new StuckRuns(this._o.command ?? "nvidia-smi", () => undefined);
  }

  /** The entity of the GPU at `bus` (any spelling); never throws. */
  async entity(bus: string): Promise<string> {
    const key = normaliseBus(bus);
    if (key === null) return `gpu-${bus.toLowerCase()}`;
    const now = Date.now();
    if (now - this._loadedAt >= this._o.refreshMs) await this._load();
    else if (!this._table.has(key) && now - this._loadedAt > this._o.missRetryMs) await this._load();
    const idx = this._table.get(key);
    if (idx !== undefined) return gpuName(idx);
    return nameGpu(key, this._table, await driverGpus(this._o.procfs));
  }

  /**
   * Asks nvidia-smi now, before any fault: a GPU that falls off the bus is gone from its later
   * answers (or nvidia-smi hangs), so its index must be known beforehand. Quiet when it fails.
   */
  prefetch(): Promise<void> {
    return this._load(true);
  }

  private _load(quiet = false): Promise<void> {
    this._loading ??= this._query(quiet)
      .then((table) => {
        if (table !== null) this._merge(table);
        // A quiet failure leaves the next lookup free to ask again, and to say why it failed.
        if (table !== null || !quiet) this._loadedAt = Date.now();
      })
      .finally(() => {
        this._loading = null;
      });
    return this._loading;
  }

  /**
   * A new answer replaces what it names; a GPU missing from it keeps its index unless another
   * bus id took that index (a GPU that fell off the bus keeps its name).
   */
  private _merge(table: Map<string, number>): void {
    const taken = new Set(table.values());
    for (const [bus, idx] of this._table) if (!table.has(bus) && !taken.has(idx)) table.set(bus, idx);
    this._table = table;
  }

  /** nvidia-smi's table, or null (absent, failed, timed out: said once unless quiet). */
  private async _query(quiet: boolean): Promise<Map<string, number> | null> {
    const cmd = this._o.command;
    if (cmd === null) return null;
    // Each run would hang as the stuck one does: the table known so far and /proc serve meanwhile.
    if (this._stuck.first !== undefined) return null;
    const r = await this._run(cmd, ["--query-gpu=index,pci.bus_id", "--format=csv,noheader"]);
    if (r.ok) return parseSmiIndex(r.out);
    // A GPU without a handle (fallen off the bus) fails the run once the others are printed
    // ("Unable to determine the device handle for GPU ...", exit 15): their indexes stand.
    const partial = parseSmiIndex(r.out ?? "");
    if (partial.size > 0) return partial;
    if (quiet) return null;
    if (!this._warned) this._o.warn?.(`${cmd}: ${r.why}; GPU names from ${join(this._o.procfs, "driver/nvidia/gpus")} or the bus id`);
    this._warned = true;
    return null;
  }

  /** Runs a command to its end or `timeoutMs`, its stdout capped at 64 KiB. */
  private async _run(cmd: string, args: string[]): Promise<{ ok: true; out: string } | { ok: false; why: string; out?: string }> {
    const path = which(cmd, this._o.env);
    if (path === null) return { ok: false, why: "not found" };
    const run = await runTool(this._o.spawn, path, args, this._o.env, { timeoutMs: this._o.timeoutMs, killWaitMs: this._o.killWaitMs, maxOut: 65536 });
    if (run.child === null) return { ok: false, why: run.spawnError! };
    if (run.ended === null) {
      this._stuck.hold(run.child);
      return { ok: false, why: `no answer within ${this._o.timeoutMs} ms, and killed it is still there (pid ${run.child.proc.pid} stuck in the driver); not run again until it is gone` };
    }
    if (run.ended.error) return { ok: false, why: run.ended.error.message };
    if (run.timedOut) return { ok: false, why: `no answer within ${this._o.timeoutMs} ms` };
    return run.ended.code === 0 ? { ok: true, out: run.out } : { ok: false, why: `exited with code ${run.ended.code}`, out: run.out };
  }

}
