// What the kmsg resolvers (devices.ts, stack.ts) share: a small cache of sysfs answers, so a
// burst of errors costs a few reads, and sysfs reads that answer "nothing" when a path is not
// there (devices come and go with hot-plug).
import { readdir } from "node:fs/promises";

/** Entries kept at most; past it the cache starts again empty. */
const _MAX_CACHED = 256;

/** Answers by key, each kept `ttlMs` (bounded). */
export class TtlCache {
  private readonly _map = new Map<string, { at: number; value: unknown }>();

  constructor(private readonly _ttlMs: number) {}

  /** The answer for `key`, made by `make` when none is kept or it is older than `ttlMs` (default the cache's). */
  async get<T>(key: string, make: () => Promise<T>, ttlMs = this._ttlMs): Promise<T> {
    const now = Date.now();
    const hit = this._map.get(key);
    if (hit !== undefined && now - hit.at < ttlMs) return hit.value as T;
    const value = await make();
    if (this._map.size >= _MAX_CACHED) this._map.clear();
    this._map.set(key, { at: now, value });
    return value;
  }
}

/** A directory's entries, sorted; none when it cannot be listed. */
export async function listSorted(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
