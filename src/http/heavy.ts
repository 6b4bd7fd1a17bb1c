// Answers that cost tens of milliseconds of CPU and megabytes of memory (the graph dump, its
// DOT) are built one at a time, each in a turn of the event loop of its own: however many
// clients ask at once, a scrape or a health check waits behind at most one of them, and the
// dumps in flight hold the memory of one answer being built, not of all.

const _nextTurn: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0);

let _chain: Promise<unknown> = Promise.resolve();

/** Runs `work` after every heavy answer asked for before it, and after a turn of the loop. */
export function heavy<T>(work: () => T): Promise<T> {
  const run = _chain.then(() => new Promise<void>((r) => _nextTurn(r))).then(work);
  _chain = run.catch(() => undefined);
  return run;
}
