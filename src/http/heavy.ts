// Answers that cost tens of milliseconds of CPU and megabytes of memory (the graph dump, its
// DOT) are built one at a time, each in a turn of the event loop of its own: however many
// clients ask at once, a scrape or a health check waits behind at most one of them, and the
// dumps in flight hold the memory of one answer being built, not of all.
// A request whose client went away before its turn is skipped: a client that times out and
// asks again (a dashboard polling a big graph with a short timeout) would otherwise queue a
// dump per try that nobody reads, and every later answer would wait longer than the last.
// At most MAX_HEAVY_WAITING wait; past that the request is refused (503) rather than queued.

const _nextTurn: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0);

/** Heavy answers waiting for their turn, at most. */
export const MAX_HEAVY_WAITING = 16;

/** The queue of heavy answers is full: the route answers 503. */
export class HeavyBusy extends Error {
  override name = "HeavyBusy";
}

/** The client left before the answer's turn: it was not built. */
export class HeavyAborted extends Error {
  override name = "HeavyAborted";
}

let _chain: Promise<unknown> = Promise.resolve();
let _waiting = 0;

/** Heavy answers queued now (for tests). */
export function heavyWaiting(): number {
  return _waiting;
}

/**
 * Runs `work` after every heavy answer asked for before it, and after a turn of the loop;
 * not at all when `signal` (the request's) was aborted by then.
 */
export function heavy<T>(work: () => T, signal?: AbortSignal): Promise<T> {
  if (_waiting >= MAX_HEAVY_WAITING) return Promise.reject(new HeavyBusy(`${MAX_HEAVY_WAITING} graph dumps already waiting`));
  _waiting++;
  const run = _chain
    .then(() => new Promise<void>((r) => _nextTurn(r)))
    .then(() => {
      _waiting--;
      if (signal?.aborted) throw new HeavyAborted("the client went away");
      return work();
    });
  _chain = run.catch(() => undefined);
  return run;
}
