// Where ingest time goes: the same file through cumulative stages of the pipeline, in one
// process, so each step's cost is the difference to the one before. Runs under Bun, Deno and
// Node. Prints one JSON object: {stage: seconds} (CPU time of this process, user + system).
// STAGES=a,b runs only those (without the others, the JIT is colder: compare like with like).
//
//   bun scripts/bench/stages.ts FILE
import { closeSync, openSync, readSync } from "node:fs";
import { createConsola } from "consola";
import { Exporter } from "../../src/exporter.ts";
import { LineFramer } from "../../src/events/lines.ts";
import { parseLine } from "../../src/events/parse.ts";
import { EventScanner } from "../../src/events/scan.ts";
import type { XEvent } from "../../src/events/schema.ts";
import { StateGraph } from "../../src/graph/graph.ts";

const file = process.argv[process.argv.length - 1];
const log = createConsola({ level: 1 });

function _feed(push: (chunk: Uint8Array) => void): void {
  const fd = openSync(file, "r");
  const buf = new Uint8Array(1024 * 1024);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    push(buf.subarray(0, n));
  }
  closeSync(fd);
}

function _cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** A framer as the exporter builds it: the scanner first, parseLine for what it declines. */
function _scanningFramer(now: () => number, take: (ev: XEvent) => void): LineFramer {
  const sc = new EventScanner();
  return new LineFramer(
    65536,
    (line) => {
      const r = parseLine(line, now());
      if (typeof r !== "string") take(r);
    },
    () => {},
    (buf, from, to) => {
      let at = from;
      while (at < to) {
        const ev = sc.scanLine(buf, at, to, 65536, now());
        if (ev === undefined) break;
        at = sc.next;
        take(ev);
      }
      return at;
    },
  );
}

const stages: Record<string, () => void> = {
  // The floor: decode, split, JSON.parse.
  floor() {
    const decoder = new TextDecoder();
    let tail = "";
    let sink = 0;
    _feed((chunk) => {
      const text = tail + decoder.decode(chunk, { stream: true });
      let from = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", from)) {
        if (nl > from) sink += JSON.parse(text.slice(from, nl)).ts & 1;
        from = nl + 1;
      }
      tail = text.slice(from);
    });
    if (sink < 0) console.log(sink);
  },
  framer() {
    let n = 0;
    const f = new LineFramer(65536, (line) => (n += line.length), () => {});
    _feed((c) => f.push(c));
    f.end();
  },
  // The full path alone: decode, JSON.parse, validate (what a line the scanner declines takes).
  "framer+parse+validate"() {
    let n = 0;
    const f = new LineFramer(65536, (line) => {
      const r = parseLine(line, 0);
      if (typeof r !== "string") n += r.ts & 1;
    }, () => {});
    _feed((c) => f.push(c));
    f.end();
  },
  // What the exporter does: each line's bytes through the scanner, the full path for the rest.
  "framer+scan"() {
    let n = 0;
    const f = _scanningFramer(() => 0, (ev) => (n += ev.ts & 1));
    _feed((c) => f.push(c));
    f.end();
  },
  // The least any graph does per event, as a lower bound for a redesign: the entity's node and
  // the pid's found or made in a Map, the reading kept, and the edge between them in a Set. No
  // edge kinds, faults, expiry, counters or observers.
  "+maps"() {
    const resources = new Map<string, { ts: number; value: string }>();
    const processes = new Map<number, { ts: number; uses: Set<object> }>();
    const f = _scanningFramer(() => 0, (ev) => {
      let r = resources.get(ev.entity_id);
      if (r === undefined) resources.set(ev.entity_id, (r = { ts: ev.ts, value: ev.value }));
      else {
        r.ts = ev.ts;
        r.value = ev.value;
      }
      if (ev.pid === null) return;
      let p = processes.get(ev.pid);
      if (p === undefined) processes.set(ev.pid, (p = { ts: ev.ts, uses: new Set() }));
      p.ts = ev.ts;
      if (!p.uses.has(r)) p.uses.add(r);
    });
    _feed((c) => f.push(c));
    f.end();
  },
  "+graph"() {
    const g = new StateGraph();
    let wall = 0;
    const f = _scanningFramer(() => wall, (ev) => g.apply(ev, wall));
    // One clock read per chunk, as the exporter does.
    _feed((c) => {
      wall = Date.now();
      f.push(c);
    });
    f.end();
  },
  // The exporter as replay configures it (automatic runs only count).
  "exporter-no-rules"() {
    const x = new Exporter({ log, rules: [], processMetrics: false, liveClock: false, describeAutoRuns: false });
    const input = x.ingest.feed("bench", { streamClock: true });
    _feed((c) => input.push(c));
    input.end();
  },
  "exporter-default-rules"() {
    const x = new Exporter({ log, processMetrics: false, liveClock: false, describeAutoRuns: false });
    const input = x.ingest.feed("bench", { streamClock: true });
    _feed((c) => input.push(c));
    input.end();
  },
};

const only = process.env.STAGES?.split(",");
const out: Record<string, number> = {};
const time = (name: string, run: () => void): void => {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = _cpu();
  run();
  out[name] = Math.round((_cpu() - t0) * 1000) / 1000;
};
for (const [name, run] of Object.entries(stages)) {
  if (!only || only.includes(name)) time(name, run);
}
// The floor and the whole exporter once more, with the JIT warm: the first pass above pays for
// tiering up (the exporter's code runs in lower tiers for tens of thousands of events; JSON.parse is
// native from the start). What a long-running exporter pays per event is the warm pass.
if (!only) {
  time("floor (warm)", stages.floor);
  time("+maps (warm)", stages["+maps"]);
  time("exporter-no-rules (warm)", stages["exporter-no-rules"]);
  time("exporter-default-rules (warm)", stages["exporter-default-rules"]);
}
process.stdout.write(JSON.stringify(out) + "\n");
