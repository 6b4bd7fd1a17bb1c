// What the host collectors (builtin:infiniband, builtin:procfs, builtin:diskstats) share: a
// poll loop that never overlaps itself, their `?name=value` options, and file reads bounded
// in size and in how many are in flight.
import { Buffer } from "node:buffer";
import { close, open, read } from "node:fs";
import { UsageError } from "../errors.ts";
import type { HostPaths, Source, SourceContext } from "./source.ts";

/** One round of a collector: read, compare with the last round, emit. */
export interface Tick {
  (ctx: SourceContext, now: number): Promise<void>;
}

/**
 * A source that runs `tick` every `intervalMs`: the first round at start, the next one
 * `intervalMs` after the previous round began (or at once, when a round took longer). Rounds
 * never overlap, so the work in flight is one round's at most.
 */
export class PollingSource implements Source {
  private _ctx: SourceContext | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _running: Promise<void> | null = null;
  private _stopping = false;
  /** Rounds completed (for tests and the benchmark). */
  rounds = 0;

  constructor(
    readonly name: string,
    readonly intervalMs: number,
    private readonly _tick: Tick,
    private readonly _clock: () => number = Date.now,
  ) {}

  start(ctx: SourceContext): void {
    this.attach(ctx);
    this._schedule(0);
  }

  /** Takes the context without starting the timer: rounds then run only through `runOnce`. */
  attach(ctx: SourceContext): void {
    // A round still reading when stop() gave up on it emits nothing after.
    this._ctx = { ...ctx, emit: (ev) => void (this._stopping || ctx.emit(ev)) };
    this._stopping = false;
    ctx.setUp(true);
  }

  async stop(): Promise<void> {
    this._stopping = true;
    clearTimeout(this._timer);
    this._ctx?.setUp(false);
    // A round in flight reads files only; wait for it, but never past a second.
    if (this._running !== null) {
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this._running, new Promise<void>((r) => (t = setTimeout(r, 1000)))]);
      clearTimeout(t);
    }
  }

  /** Runs one round now (tests drive rounds themselves with this). */
  async runOnce(): Promise<void> {
    const ctx = this._ctx;
    if (ctx === null) throw new Error(`${this.name}: runOnce before start`);
    if (this._running !== null) return this._running;
    this._running = (async () => {
      try {
        await this._tick(ctx, this._clock());
        this.rounds++;
      } catch (e) {
        ctx.log.warn(`round failed: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        this._running = null;
      }
    })();
    return this._running;
  }

  private _schedule(delay: number): void {
    if (this._stopping) return;
    this._timer = setTimeout(() => {
      const began = this._clock();
      void this.runOnce().then(() => this._schedule(Math.max(0, this.intervalMs - (this._clock() - began))));
    }, delay);
    (this._timer as { unref?: () => void }).unref?.();
  }
}

type OptionKind = "duration" | "positive" | "integer";
const _DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const _UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `builtin:procfs?interval=15s&dwait=30s`: each option checked against its kind, anything
 * unknown refused with the list of known ones. Durations come back in milliseconds.
 */
export function hostOptions(spec: string, params: URLSearchParams, known: Record<string, OptionKind>): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [key, raw] of params) {
    const kind = Object.hasOwn(known, key) ? known[key] : undefined;
    if (kind === undefined) {
      throw new UsageError(`--probe ${spec}: unknown option "${key}" (known: ${[...Object.keys(known), "procfs", "sysfs"].join(", ")})`);
    }
    const t = raw.trim();
    let n = Number.NaN;
    if (kind === "duration") {
      const m = _DURATION.exec(t);
      if (m !== null) n = Math.round(Number(m[1]) * _UNIT_MS[m[2]]);
      if (!(n >= 100 && n <= 86_400_000)) {
        throw new UsageError(`--probe ${spec}: ${key} must be a duration from 100ms to 24h (e.g. 15s), got "${raw}"`);
      }
    } else {
      n = t === "" ? Number.NaN : Number(t);
      const ok = kind === "integer" ? Number.isSafeInteger(n) && n >= 1 : Number.isFinite(n) && n > 0;
      if (!ok) throw new UsageError(`--probe ${spec}: ${key} must be ${kind === "integer" ? "a positive integer" : "a positive number"}, got "${raw}"`);
    }
    out[key] = n;
  }
  return out;
}

/**
 * `?procfs=DIR&sysfs=DIR` on a host collector's spec: where that collector reads, overriding
 * --path.procfs/--path.sysfs for it alone (a second host's tree, a test's fixture). Taken out of
 * `params`, so the rest is checked by `hostOptions`.
 */
export function hostPathsFrom(spec: string, params: URLSearchParams, host: HostPaths): HostPaths {
  const out = { ...host };
  for (const key of ["procfs", "sysfs"] as const) {
    const v = params.get(key);
    if (v === null) continue;
    if (v.trim() === "" || params.getAll(key).length > 1) throw new UsageError(`--probe ${spec}: ${key} must be one directory, got "${params.getAll(key).join(",")}"`);
    out[key] = v;
    params.delete(key);
  }
  return out;
}

/** Maps `items` through `fn` with at most `limit` calls in flight (the fs thread pool is small). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The text of a small file, at most `max` bytes: open, read until the end, close. procfs and
 * sysfs files report size 0, so fs.readFile's fstat buys nothing; and on Node these three
 * callback calls cost well under half of fs.promises.readFile's CPU (its per-chunk promise
 * machinery), on Bun about the same. Fails with the fs error (`code` ENOENT, EACCES, ...).
 */
export function readText(path: string, max = 1 << 20, encoding: "utf8" | "latin1" = "utf8"): Promise<string> {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      let total = 0;
      const next = (size: number) => {
        const buf = Buffer.allocUnsafe(size);
        read(fd, buf, 0, size, null, (e, n) => {
          if (e) return close(fd, () => reject(e));
          if (n > 0) {
            chunks.push(n === size ? buf : buf.subarray(0, n));
            total += n;
          }
          if (n === 0 || total >= max) {
            close(fd, () => {});
            const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            return resolve(all.toString(encoding, 0, Math.min(total, max)));
          }
          next(Math.min(size * 2, 65536, max - total));
        });
      };
      next(Math.min(4096, max));
    });
  });
}

/** `readText`, or null when the file cannot be read (gone, denied, not there on this kernel). */
export async function readOrNull(path: string, max?: number): Promise<string | null> {
  try {
    return await readText(path, max);
  } catch {
    return null;
  }
}

/** The errno code of a failed fs call (`ENOENT`, `EACCES`, ...), or "" for anything else. */
export function errCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
}

export function isDenied(e: unknown): boolean {
  const c = errCode(e);
  return c === "EACCES" || c === "EPERM";
}

/** The file has gone, or never was (a vanished pid reads as ENOENT or ESRCH). */
export function isGone(e: unknown): boolean {
  const c = errCode(e);
  return c === "ENOENT" || c === "ESRCH" || c === "ENOTDIR";
}
