import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseLine } from "../../src/events/parse.ts";
import { EVENT_TYPES, REJECT_REASONS } from "../../src/events/schema.ts";
import { LineFramer } from "../../src/events/lines.ts";
import { createConsola } from "consola";
import { ClockGuard } from "../../src/ingest/clock.ts";
import { Exporter } from "../../src/exporter.ts";
import type { XEvent } from "../../src/events/schema.ts";

const NOW = 1_732_500_000_000;

describe("parseLine", () => {
  it("accepts the SPEC §2 example and normalises it", () => {
    const ev = parseLine('{"ts": 1732500000000, "event_type": "compute.util", "entity_id": "gpu-03", "job_id": "job-567", "pid": 1234, "value": "85"}', NOW);
    assert.deepEqual(ev, { ts: 1732500000000, event_type: "compute.util", entity_id: "gpu-03", job_id: "job-567", pid: 1234, value: "85" });
  });

  it("fills what upstream probes leave null or absent", () => {
    const ev = parseLine('{"ts": null, "event_type": "error.hw", "entity_id": "gpu-0", "job_id": null, "pid": null, "value": "XID_79", "extra": [1]}', NOW);
    assert.deepEqual(ev, { ts: NOW, event_type: "error.hw", entity_id: "gpu-0", job_id: null, pid: null, value: "XID_79" });
    const bare = parseLine('{"event_type": "topo.link_down", "entity_id": "mlx5_0"}', NOW);
    assert.deepEqual(bare, { ts: NOW, event_type: "topo.link_down", entity_id: "mlx5_0", job_id: null, pid: null, value: "" });
  });

  it("reads an empty job id as no job, as probes write one they do not know", () => {
    // os.environ.get("SLURM_JOB_ID", ""): as a job of its own, "" made the pid's process a new
    // one (pid reuse) each time it met the job the graph holds, and its faults were lost.
    const ev = parseLine('{"event_type": "compute.mem", "entity_id": "gpu-0", "job_id": "", "pid": 7, "value": "80"}', NOW);
    assert.equal(ev && typeof ev === "object" ? ev.job_id : ev, null);
  });

  it("keeps a numeric value as its decimal text", () => {
    const ev = parseLine('{"event_type":"compute.util","entity_id":"gpu-1","value":85.5}', NOW);
    assert.equal(typeof ev === "object" && ev.value, "85.5");
  });

  const cases: [string, string][] = [
    ["{not json", "invalid_json"],
    ["[1,2]", "not_object"],
    ["42", "not_object"],
    ["null", "not_object"],
    ['{"entity_id":"gpu-1"}', "missing_field"],
    ['{"event_type":"compute.util"}', "missing_field"],
    ['{"event_type":"compute.fan","entity_id":"gpu-1"}', "unknown_event_type"],
    ['{"event_type":7,"entity_id":"gpu-1"}', "bad_type"],
    ['{"event_type":"compute.util","entity_id":3}', "bad_type"],
    ['{"event_type":"compute.util","entity_id":""}', "bad_value"],
    [`{"event_type":"compute.util","entity_id":"${"g".repeat(257)}"}`, "bad_value"],
    ['{"event_type":"compute.util","entity_id":"g","ts":"now"}', "bad_type"],
    ['{"event_type":"compute.util","entity_id":"g","ts":1.5}', "bad_value"],
    ['{"event_type":"compute.util","entity_id":"g","pid":"12"}', "bad_type"],
    ['{"event_type":"compute.util","entity_id":"g","pid":-1}', "bad_value"],
    ['{"event_type":"compute.util","entity_id":"g","pid":2147483648}', "bad_value"],
    ['{"event_type":"compute.util","entity_id":"g","job_id":5}', "bad_type"],
    ['{"event_type":"compute.util","entity_id":"g","value":{}}', "bad_type"],
  ];
  for (const [line, reason] of cases) {
    it(`rejects ${line.slice(0, 50)} as ${reason}`, () => assert.equal(parseLine(line, NOW), reason));
  }
});

// A small seeded generator so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

describe("parser property: garbage never throws, valid lines always count", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}`, () => {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
      // Untouched lines carry entity "v-N"; mutated ones "m-N", and no mutation writes a "v".
      const valid = (entity: string) =>
        JSON.stringify({ ts: 1_700_000_000_000 + Math.floor(rand() * 1e6), event_type: pick(EVENT_TYPES), entity_id: entity, pid: Math.floor(rand() * 1e5), value: String(Math.floor(rand() * 100)) });
      const mutate = (s: string) => {
        const b = [...s];
        const n = 1 + Math.floor(rand() * 4);
        for (let i = 0; i < n; i++) {
          const at = Math.floor(rand() * (b.length + 1));
          const op = rand();
          if (op < 0.33) b.splice(at, 1);
          else if (op < 0.66) b.splice(at, 0, pick(['"', "{", "}", ",", ":", "\\", "\u0000", "é", "\n", "\r", "x", "9"]));
          else b[at] = pick(["[", "]", "n", "'", " "]);
        }
        return b.join("");
      };
      const randomBytes = () => Uint8Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256));

      const enc = new TextEncoder();
      const chunks: Uint8Array[] = [];
      const expected = new Set<string>();
      for (let i = 0; i < 2000; i++) {
        const r = rand();
        if (r < 0.4) {
          chunks.push(enc.encode(valid(`v-${i}`) + "\n"));
          expected.add(`v-${i}`);
        } else if (r < 0.8) chunks.push(enc.encode(mutate(valid(`m-${i}`)) + "\n"));
        else chunks.push(Uint8Array.from([...randomBytes().filter((b) => b !== 10), 10]));
      }
      // Re-chunk at random boundaries, as pipes do.
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      const seen = new Set<string>();
      const clock = new ClockGuard();
      const accepted: XEvent[] = [];
      const reasons: string[] = [];
      const framer = new LineFramer(
        4096,
        (line) => {
          const parsed = parseLine(line, 0);
          // The exporter's clock checks too (a mutation can make a ts implausible); no ts: receipt time.
          const r = typeof parsed === "string" || parsed.ts === 0 ? parsed : (clock.check(parsed.ts, Date.now()) ?? parsed);
          if (typeof r === "string") {
            assert.ok((REJECT_REASONS as readonly string[]).includes(r));
            reasons.push(r);
          } else {
            accepted.push(r);
            if (r.entity_id.startsWith("v-")) seen.add(r.entity_id);
          }
        },
        (r) => reasons.push(r),
      );
      // The same bytes through the exporter's own input, where the byte scanner goes first.
      const began = Date.now();
      const ex = new Exporter({ log: createConsola({ level: -999 }), liveClock: false, processMetrics: false, rules: [] });
      const viaExporter: XEvent[] = [];
      const sub = ex.hub.subscribe(null)!;
      const exReasons: string[] = [];
      const input = ex.ingest.feed("test", { onReject: (r) => exReasons.push(r) });
      for (let i = 0; i < all.length; ) {
        const n = 1 + Math.floor(rand() * 700);
        framer.push(all.subarray(i, i + n));
        input.push(all.subarray(i, i + n));
        viaExporter.push(...sub.buffer.splice(0));
        i += n;
      }
      framer.end();
      input.end();
      viaExporter.push(...sub.buffer.splice(0));
      // Every untouched line among the garbage was accepted, exactly once.
      assert.deepEqual([...seen].sort(), [...expected].sort());
      assert.ok(reasons.length > 0);
      // Both paths accept the same events, in order, and reject the rest for the same reasons.
      // (An event without ts gets the time of receipt: 0 above, the clock in the exporter.)
      assert.equal(viaExporter.length, accepted.length);
      for (let i = 0; i < accepted.length; i++) {
        const want = accepted[i];
        const got = viaExporter[i];
        if (want.ts === 0) assert.ok(got.ts === 0 || got.ts >= began, `event ${i}: ts ${got.ts}`);
        assert.deepEqual({ ...got, ts: want.ts }, want, `event ${i}`);
      }
      assert.deepEqual(exReasons, reasons);
      assert.equal(ex.ingest.accepted, accepted.length);
    });
  }
});
