// xctl_collector_reads_denied_total{probe,kind}: host-collector reads refused for lack of
// privilege (another user's /proc/<pid>/environ or fd without CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH). Each kind is logged once per collector and counted every time. Labels
// are bounded: `probe` by the configured sources, `kind` by a fixed set per collector.
import { Counter, type Registry } from "prom-client";
import type { SourceContext } from "./source.ts";

export const READS_DENIED_METRIC = "xctl_collector_reads_denied_total";

export class DeniedReads {
  readonly counts = new Map<string, number>();

  constructor(private readonly _hint: string) {}

  note(ctx: SourceContext, kind: string, path: string): void {
    const n = this.counts.get(kind) ?? 0;
    this.counts.set(kind, n + 1);
    if (n === 0) ctx.log.warn(`cannot read ${path} (permission denied); further ${kind} reads refused are counted, not logged. ${this._hint}`);
  }
}

// One family per registry, fed by every collector registered in it.
const _fed = new WeakMap<Registry, Map<string, DeniedReads>>();

export function registerDeniedCounter(registry: Registry, probe: string, denied: DeniedReads): void {
  let sources = _fed.get(registry);
  if (sources === undefined) {
    const all = (sources = new Map());
    _fed.set(registry, all);
    const reported = new Map<string, number>();
    new Counter({
      name: READS_DENIED_METRIC,
      help: "Host-collector reads refused for lack of privilege, per collector and kind of file.",
      labelNames: ["probe", "kind"],
      registers: [registry],
      collect() {
        for (const [p, d] of all) {
          for (const [kind, n] of d.counts) {
            const key = `${p}\0${kind}`;
            const before = reported.get(key) ?? 0;
            if (n > before) this.inc({ probe: p, kind }, n - before);
            reported.set(key, n);
          }
        }
      },
    });
  }
  sources.set(probe, denied);
}
