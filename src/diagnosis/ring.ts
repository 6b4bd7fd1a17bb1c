// A bounded ring of diagnosis results, newest first when read, and the two rings runs keep.
import type { SceneMatch } from "./evidence.ts";
import { toResult, type DiagnosisResult, type RunTrigger } from "./result.ts";

export class Ring<T> {
  private readonly _items: (T | undefined)[];
  private _next = 0;

  constructor(size: number) {
    this._items = new Array(Math.max(1, size));
  }

  get size(): number {
    return this._items.length;
  }

  push(item: T): void {
    this._items[this._next] = item;
    this._next = (this._next + 1) % this._items.length;
  }

  /** Up to `limit` items, newest first. */
  newest(limit = this._items.length): T[] {
    const out: T[] = [];
    const n = this._items.length;
    for (let i = 1; i <= n && out.length < limit; i++) {
      const r = this._items[(this._next - i + n) % n];
      if (r === undefined) break;
      out.push(r);
    }
    return out;
  }
}

/**
 * The results of runs: automatic ones in a ring of their own, on-demand ones (POST /api/v1/diagnoses) in
 * another, so on-demand runs never push automatic results out. Ids count every automatic run,
 * kept or not, so a gap says runs were not described (replay).
 */
export class Results {
  readonly auto: Ring<DiagnosisResult>;
  readonly onDemand: Ring<DiagnosisResult>;
  private _nextId = 1;

  constructor(autoSize: number, onDemandSize: number) {
    this.auto = new Ring(autoSize);
    this.onDemand = new Ring(onDemandSize);
  }

  /** How many are kept at most, both rings together. */
  get kept(): number {
    return this.auto.size + this.onDemand.size;
  }

  /** An automatic run that keeps no result. */
  skip(): void {
    this._nextId++;
  }

  record(ring: Ring<DiagnosisResult>, trigger: RunTrigger, pid: number | null, matches: SceneMatch[], t0: number, wall: number): DiagnosisResult {
    const result = toResult(this._nextId++, trigger, pid, matches, (performance.now() - t0) / 1000, wall);
    ring.push(result);
    return result;
  }

  /** Up to `limit` results of both rings, newest first. */
  newest(limit: number): DiagnosisResult[] {
    const all = [...this.auto.newest(limit), ...this.onDemand.newest(limit)];
    return all.sort((a, b) => b.id - a.id).slice(0, limit);
  }
}
