// xctl_kmsg_records_total{kind}: records read, per matcher kind that took them (`other`: none);
// xctl_kmsg_thread_map{what}: what the thread map holds, and left out for its bounds.
// Registered once per metrics registry, summing every kmsg source feeding it; labels bounded
// by KMSG_KINDS.
import { Counter, Gauge, type Registry } from "prom-client";
import { KMSG_KINDS, type KmsgKind } from "./matchers.ts";
import type { ThreadMapStats } from "./threads.ts";

export const KMSG_RECORDS_METRIC = "xctl_kmsg_records_total";

export type KmsgCounts = Record<KmsgKind, number>;

export function newCounts(): KmsgCounts {
  return Object.fromEntries(KMSG_KINDS.map((k) => [k, 0])) as KmsgCounts;
}

const _fed = new WeakMap<Registry, Set<KmsgCounts>>();

export function registerKmsgCounter(registry: Registry, counts: KmsgCounts): void {
  _feeding(_fed, registry, (sources) => {
    const reported = newCounts();
    new Counter({
      name: KMSG_RECORDS_METRIC,
      help: "Kernel log records read by builtin:kmsg, per matcher kind that took them (other: none).",
      labelNames: ["kind"],
      registers: [registry],
      collect() {
        for (const kind of KMSG_KINDS) {
          let total = 0;
          for (const c of sources) total += c[kind];
          // Always inc, even by 0, so every kind shows from the first scrape.
          if (total >= reported[kind]) this.inc({ kind }, total - reported[kind]);
          reported[kind] = total;
        }
      },
    });
  }).add(counts);
}

export const KMSG_THREAD_MAP_METRIC = "xctl_kmsg_thread_map";

const _maps = new WeakMap<Registry, Set<ThreadMapStats>>();
const _MAP_WHAT = ["processes", "threads", "processes_left_out", "threads_left_out"] as const;

/**
 * xctl_kmsg_thread_map{what}: what each kmsg source's thread map (threads.ts) holds after its
 * last refresh (`processes`, `threads`), and what that refresh left out for its bounds
 * (`processes_left_out`: not looked at; `threads_left_out`: not kept).
 */
export function registerThreadMapGauge(registry: Registry, stats: ThreadMapStats): void {
  _feeding(_maps, registry, (sources) => {
    new Gauge({
      name: KMSG_THREAD_MAP_METRIC,
      help: "Processes and threads whose owner builtin:kmsg holds (to tell whose a dead thread was), and what its last refresh left out for its bounds.",
      labelNames: ["what"],
      registers: [registry],
      collect() {
        for (const what of _MAP_WHAT) {
          let total = 0;
          for (const l of sources) total += l[what];
          this.set({ what }, total);
        }
      },
    });
  }).add(stats);
}

/** The sources feeding `registry`'s metric in `all`; the first time, `register` makes that metric over them. */
function _feeding<T>(all: WeakMap<Registry, Set<T>>, registry: Registry, register: (sources: ReadonlySet<T>) => void): Set<T> {
  let sources = all.get(registry);
  if (sources === undefined) {
    all.set(registry, (sources = new Set()));
    register(sources);
  }
  return sources;
}
