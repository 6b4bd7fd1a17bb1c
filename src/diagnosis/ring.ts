// A bounded ring of diagnosis results, newest first when read.

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
