// xctl_kmsg_records_total{kind}: records read, per matcher kind that took them (`other`: none).
// Registered once per metrics registry, summing every kmsg source feeding it; labels bounded
// by KMSG_KINDS.
import { Counter, type Registry } from "prom-client";
import { KMSG_KINDS, type KmsgKind } from "./matchers.ts";

export const KMSG_RECORDS_METRIC = "xctl_kmsg_records_total";

export type KmsgCounts = Record<KmsgKind, number>;

export function newCounts(): KmsgCounts {
  return Object.fromEntries(KMSG_KINDS.map((k) => [k, 0])) as KmsgCounts;
}

const _fed = new WeakMap<Registry, Set<KmsgCounts>>();

export function registerKmsgCounter(registry: Registry, counts: KmsgCounts): void {
  let all = _fed.get(registry);
  if (all === undefined) {
    const sources = (all = new Set());
    _fed.set(registry, all);
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
  }
  all.add(counts);
}
