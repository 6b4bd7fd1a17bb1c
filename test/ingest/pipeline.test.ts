import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsola } from "consola";
import { IngestPipeline } from "../../src/ingest/pipeline.ts";
import type { XEvent } from "../../src/events/schema.ts";

const enc = new TextEncoder();
const quiet = createConsola({ level: -999 });

function line(i: number): string {
  return JSON.stringify({ ts: 1_732_500_000_000 + i, event_type: "compute.util", entity_id: `gpu-${i % 8}`, job_id: null, pid: i % 100, value: String(i) });
}

describe("IngestPipeline", () => {
  it("counts per feed and in all, with each rejection's reason, and hands accepted events on", async () => {
    const got: XEvent[] = [];
    const p = new IngestPipeline({ log: quiet, sink: (ev) => got.push(ev), fair: false });
    const reasons: string[] = [];
    const a = p.feed("a", { onReject: (r) => reasons.push(r) });
    const b = p.feed("b");
    a.push(enc.encode(line(1) + "\nnot json\n" + line(2).slice(0, 10)));
    b.push(enc.encode(line(3) + "\n"));
    a.push(enc.encode(line(2).slice(10) + "\n\xff\n"));
    a.end();
    b.end();
    assert.equal(p.object({ event_type: "nope", entity_id: "x" }, "c"), "unknown_event_type");
    assert.equal(p.object(JSON.parse(line(4)), "c"), undefined);
    assert.deepEqual(reasons, ["invalid_json", "invalid_json"]);
    assert.equal(a.accepted, 2);
    assert.equal(a.rejected, 2);
    assert.equal(b.accepted, 1);
    assert.equal(p.accepted, 4);
    assert.equal(p.rejected(), 3);
    assert.equal(p.rejected("unknown_event_type"), 1);
    assert.deepEqual(got.map((e) => e.value), ["1", "3", "2", "4"]);
  });

  it("counts a last line cut off mid-write as truncated, while a whole last line without newline still counts", () => {
    const p = new IngestPipeline({ log: quiet, sink: () => {}, fair: false });
    const reasons: string[] = [];
    const cut = p.feed("a", { onReject: (r) => reasons.push(r) });
    cut.push(enc.encode(line(1) + "\n" + line(2).slice(0, 30)));
    cut.end();
    const whole = p.feed("b");
    whole.push(enc.encode(line(3)));
    whole.end();
    assert.deepEqual(reasons, ["truncated"]);
    assert.equal(p.rejected("truncated"), 1);
    assert.equal(p.rejected("invalid_json"), 0);
    assert.equal(p.accepted, 2);
  });

  it("marks the source of an accepted event", () => {
    const p = new IngestPipeline({ log: quiet, sink: () => {}, fair: false });
    const mark = { lastEventMs: 0 };
    p.feed("a", { mark }).push(enc.encode(line(1) + "\n"));
    assert.ok(mark.lastEventMs > 0);
  });

  it("live: a feed past the turn's budget keeps the rest and asks its source to wait; nothing is lost or reordered", async () => {
    const got: string[] = [];
    // A budget of 0 ms: every push after the first slice of work waits for the next turn.
    const p = new IngestPipeline({ log: quiet, sink: (ev) => got.push(ev.value), fair: true, sliceMs: 0 });
    const f = p.feed("flood");
    const n = 5000;
    const text = Array.from({ length: n }, (_, i) => line(i)).join("\n") + "\n";
    const bytes = enc.encode(text);
    let waited = 0;
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      for (let at = 0; at < bytes.length; at += 64 * 1024) {
        const wait = f.push(bytes.subarray(at, at + 64 * 1024));
        if (wait !== undefined) {
          waited++;
          await wait;
        }
      }
      await f.end();
    } finally {
      clearInterval(ticker);
    }
    assert.ok(waited > 0, "the source was asked to wait");
    assert.ok(turns > 0, "timers ran while the feed was ingesting");
    assert.equal(got.length, n);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)));
    assert.equal(f.accepted, n);
  });

  it("live: end() waits behind bytes still held, so a last line without newline still counts", async () => {
    const got: string[] = [];
    const p = new IngestPipeline({ log: quiet, sink: (ev) => got.push(ev.value), fair: true, sliceMs: 0 });
    const f = p.feed("x");
    const big = enc.encode(Array.from({ length: 2000 }, (_, i) => line(i)).join("\n"));
    const w1 = f.push(big);
    const w2 = f.end();
    assert.ok(w1 !== undefined && w2 !== undefined);
    await w2;
    assert.equal(got.length, 2000);
  });
});
