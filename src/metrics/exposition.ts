// The Prometheus text format (0.0.4), written directly. Every value here is read at scrape
// time from state kept elsewhere, so a family is just a header and a function that appends
// its samples; label strings are escaped once and reused. This replaces prom-client's
// registry, whose per-scrape promises, label hashing and re-escaping cost several times the
// rest of a scrape (see BENCHMARKS.md).

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

/** Appends sample lines to `out`; `labels` gives cached label strings. */
export type Collect = (out: string[], labels: LabelCache) => void;

/** `# HELP` and `# TYPE` lines of one family. */
export function header(name: string, help: string, type: MetricType): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** One family: its header, then what `collect` appends. */
export function family(name: string, help: string, type: MetricType, collect: Collect): Collect {
  const h = header(name, help, type);
  return (out, labels) => {
    out.push(h);
    collect(out, labels);
  };
}

/** `{a="x",b="y"}` per label set, escaped once; bounded by the (bounded) label values. */
export class LabelCache {
  private readonly _one = new Map<string, Map<string, string>>();

  /** The label string of one label pair. */
  one(name: string, value: string): string {
    let byValue = this._one.get(name);
    if (byValue === undefined) this._one.set(name, (byValue = new Map()));
    let s = byValue.get(value);
    if (s === undefined) {
      // A label value set that only grows (probe names, scenes) stays small; still, never
      // let a cache outgrow what a page could show.
      if (byValue.size >= 10_000) byValue.clear();
      s = `{${name}="${escapeLabelValue(value)}"}`;
      byValue.set(value, s);
    }
    return s;
  }
}

/** The whole page: sections (one or more families each) in the order added. */
export class Page {
  private readonly _sections: Collect[] = [];
  private readonly _labels = new LabelCache();

  add(section: Collect): void {
    this._sections.push(section);
  }

  get contentType(): string {
    return CONTENT_TYPE;
  }

  render(): string {
    const out: string[] = [];
    for (const section of this._sections) section(out, this._labels);
    return out.join("");
  }

  /** prom-client's Registry#metrics signature, for callers written against it. */
  metrics(): Promise<string> {
    return Promise.resolve(this.render());
  }
}

/** One sample line. */
export function line(out: string[], name: string, labels: string, value: number): void {
  out.push(`${name}${labels} ${formatValue(value)}\n`);
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;
}

export function escapeHelp(v: string): string {
  return /[\\\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n") : v;
}

/** A cumulative histogram with fixed buckets, observed on the hot path, rendered at scrape. */
export class Histogram {
  readonly collect: Collect;
  private readonly _counts: Float64Array;
  private _sum = 0;
  private _count = 0;

  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    this._counts = new Float64Array(buckets.length);
    const les = buckets.map((b) => `${name}_bucket{le="${formatValue(b)}"} `);
    const inf = `${name}_bucket{le="+Inf"} `;
    this.collect = family(name, help, "histogram", (out) => {
      let acc = 0;
      for (let i = 0; i < les.length; i++) {
        acc += this._counts[i];
        out.push(les[i] + formatValue(acc) + "\n");
      }
      out.push(inf + formatValue(this._count) + "\n");
      out.push(`${name}_sum ${formatValue(this._sum)}\n${name}_count ${formatValue(this._count)}\n`);
    });
  }

  observe(v: number): void {
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this._counts[i]++;
        break;
      }
    }
    this._sum += v;
    this._count++;
  }
}
