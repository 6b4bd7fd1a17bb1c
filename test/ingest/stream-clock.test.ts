// Replay's clock rule (SPEC §2) at the feed: an event more than the skew ahead of the stream's
// clock is held until the next event confirms the jump (both applied, in order) or does not
// (it is future_ts); the valid lines around it always count, and a live feed is unchanged.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsola } from "consola";
import { IngestPipeline } from "../../src/ingest/pipeline.ts";
import type { XEvent } from "../../src/events/schema.ts";

const enc = new TextEncoder();
const quiet = createConsola({ level: -999 });
const T0 = Date.UTC(2025, 5, 1); // a recording from June 2025, replayed later
const MIN = 60_000;

function ev(ts: number, value: string): string {
  return JSON.stringify({ ts, event_type: "compute.util", entity_id: "gpu-0", job_id: null, pid: 7, value });
}

interface Run {
  applied: string[];
  rejected: { reason: string; value: string; detail?: string }[];
  held: string[];
  accepted: number;
  tallyRejected: number;
  pipeline: IngestPipeline;
}

/** Feeds `lines` to one feed in pieces cut at `cuts` (byte offsets); `streamClock` as replay. */
function feed(lines: string[], opts: { streamClock?: boolean; cuts?: number[]; skewMs?: number } = {}): Run {
  const applied: string[] = [];
  const p = new IngestPipeline({ log: quiet, sink: (e: XEvent) => applied.push(e.value), fair: false, clock: { maxSkewMs: opts.skewMs } });
  const rejected: Run["rejected"] = [];
  const held: string[] = [];
  const valueOf = (sample: string) => /"value":"([^"]*)"/.exec(sample)?.[1] ?? sample;
  const f = p.feed("replay", {
    streamClock: opts.streamClock ?? true,
    onHold: (sample) => held.push(valueOf(sample)),
    onReject: (reason, sample, detail) => rejected.push(detail === undefined ? { reason, value: valueOf(sample) } : { reason, value: valueOf(sample), detail }),
  });
  const bytes = enc.encode(lines.join("\n") + "\n");
  let at = 0;
  for (const cut of [...(opts.cuts ?? []), bytes.length]) {
    f.push(bytes.subarray(at, cut));
    at = cut;
  }
  f.end();
  return { applied, rejected, held, accepted: f.accepted, tallyRejected: f.rejected, pipeline: p };
}

describe("replay's stream clock", () => {
  it("rejects a lone jump the stream does not follow, keeping every valid line around it in order", () => {
    const r = feed([ev(T0, "a"), ev(T0 + 1000, "b"), ev(Date.UTC(2026, 0, 1), "jump"), ev(T0 + 2000, "c"), ev(T0 + 3000, "d")]);
    assert.deepEqual(r.applied, ["a", "b", "c", "d"]);
    assert.deepEqual(r.held, ["a", "jump"], "the first event is held too, until the next confirms it");
    assert.equal(r.rejected.length, 1);
    assert.equal(r.rejected[0].reason, "future_ts");
    assert.equal(r.rejected[0].value, "jump");
    assert.equal(
      r.rejected[0].detail,
      "future_ts: ts 1767225600000 = 2026-01-01T00:00:00.000Z is more than 5m ahead of the stream's clock (ts 1748736001000 = 2025-06-01T00:00:01.000Z), " +
        "and the next event (ts 1748736002000 = 2025-06-01T00:00:02.000Z) did not confirm the jump",
    );
    assert.equal(r.accepted, 4);
    assert.equal(r.tallyRejected, 1);
    assert.equal(r.pipeline.accepted, 4);
    assert.equal(r.pipeline.rejected("future_ts"), 1);
  });

  it("applies a real gap whole: the held event first, then the one that confirmed it", () => {
    const r = feed([ev(T0, "a"), ev(T0 + 6 * MIN, "after-gap"), ev(T0 + 6 * MIN + 10, "confirms"), ev(T0 + 6 * MIN + 20, "more")]);
    assert.deepEqual(r.applied, ["a", "after-gap", "confirms", "more"]);
    assert.deepEqual(r.held, ["a", "after-gap"]);
    assert.deepEqual(r.rejected, []);
    assert.equal(r.accepted, 4);
    assert.equal(r.tallyRejected, 0);
  });

  it("holds across reads: the same answer wherever the bytes are cut", () => {
    const lines = [ev(T0, "a"), ev(T0 + 6 * MIN, "gap"), ev(T0 + 6 * MIN + 5, "b"), ev(T0 + 40 * MIN, "lone"), ev(T0 + 6 * MIN + 9, "c"), ev(T0 + 90 * MIN, "tail")];
    const total = enc.encode(lines.join("\n") + "\n").length;
    for (let cut = 1; cut < total; cut++) {
      const r = feed(lines, { cuts: [cut] });
      assert.deepEqual(r.applied, ["a", "gap", "b", "c"], `cut at ${cut}`);
      assert.deepEqual(r.rejected.map((x) => x.value), ["lone", "tail"], `cut at ${cut}`);
      assert.match(r.rejected[1].detail!, /the stream ended before any event confirmed the jump$/);
      assert.equal(r.accepted, 4);
      assert.equal(r.tallyRejected, 2);
    }
  });

  it("leaves the hold alone on lines rejected for other reasons, and rejects them in their place", () => {
    const micros = Date.now() * 1000;
    const r = feed([ev(T0, "a"), ev(T0 + 6 * MIN, "gap"), "not json", ev(micros, "micros"), ev(T0 + 6 * MIN + 1, "confirms")]);
    assert.deepEqual(r.applied, ["a", "gap", "confirms"]);
    assert.deepEqual(r.rejected.map((x) => [x.reason, x.value, x.detail]), [
      ["invalid_json", "not json", undefined],
      ["future_ts", "micros", undefined],
    ]);
    assert.equal(r.accepted, 3);
    assert.equal(r.tallyRejected, 2);
  });

  it("a second jump far from the held one rejects the first and is held in turn", () => {
    const r = feed([ev(T0, "a"), ev(T0 + 20 * MIN, "first"), ev(T0 + 60 * MIN, "second"), ev(T0 + 60 * MIN + 1, "confirms")]);
    assert.deepEqual(r.applied, ["a", "second", "confirms"]);
    assert.deepEqual(r.held, ["a", "first", "second"]);
    assert.deepEqual(r.rejected.map((x) => x.value), ["first"]);
    assert.match(r.rejected[0].detail!, /the next event \(ts \d+ = 2025-06-01T01:00:00\.000Z\) did not confirm the jump/);
  });

  it("keeps the wall-clock bound: microseconds are future_ts at once, first event included, with the unit", () => {
    const micros = Date.now() * 1000;
    const r = feed([ev(micros, "first"), ev(T0, "a"), ev(micros + 1, "again"), ev(T0 + 1, "b")]);
    assert.deepEqual(r.applied, ["a", "b"]);
    assert.deepEqual(r.held, ["a"]);
    assert.deepEqual(r.rejected.map((x) => x.value), ["first", "again"]);
    const p = r.pipeline;
    assert.match(p.describe("future_ts", ev(micros, "first")), /looks like microseconds/);
  });

  it("follows --max-clock-skew", () => {
    const r = feed([ev(T0, "a"), ev(T0 + 2 * MIN, "two-minutes"), ev(T0 + 2 * MIN + 1, "b")], { skewMs: MIN });
    assert.deepEqual(r.held, ["a", "two-minutes"]);
    assert.deepEqual(r.applied, ["a", "two-minutes", "b"]);
    const strict = feed([ev(T0, "a"), ev(T0 + 2 * MIN, "two-minutes"), ev(T0 + 1, "b")], { skewMs: MIN });
    assert.match(strict.rejected[0].detail!, /more than 1m ahead of the stream's clock/);
  });

  it("is replay's alone: a live feed checks the wall clock only", () => {
    const r = feed([ev(T0, "a"), ev(Date.UTC(2026, 0, 1), "jump"), ev(T0 + 1, "b")], { streamClock: false });
    assert.deepEqual(r.applied, ["a", "jump", "b"]);
    assert.deepEqual(r.rejected, []);
  });
  it("the first event has no clock to be ahead of: the next one refutes it by being more than the skew behind", () => {
    const r = feed([ev(Date.UTC(2026, 0, 1), "lead"), ev(T0, "a"), ev(T0 + 1000, "b")]);
    assert.deepEqual(r.applied, ["a", "b"]);
    assert.deepEqual(r.held, ["lead", "a"], "once the lead is rejected, the next is the stream's first");
    assert.deepEqual(r.rejected.map((x) => [x.reason, x.value]), [["future_ts", "lead"]]);
    assert.equal(
      r.rejected[0].detail,
      "future_ts: ts 1767225600000 = 2026-01-01T00:00:00.000Z is the stream's first event and more than 5m ahead of the next one " +
        "(ts 1748736000000 = 2025-06-01T00:00:00.000Z), which did not confirm the jump",
    );
    assert.equal(r.accepted, 2);
    assert.equal(r.tallyRejected, 1);
  });

  it("a first event is applied when the next is near it, ahead of it, or when it is the only one", () => {
    assert.deepEqual(feed([ev(T0, "a"), ev(T0 - 1000, "b")]).applied, ["a", "b"], "a little behind is near");
    const gap = feed([ev(T0, "a"), ev(T0 + 10 * MIN, "gap"), ev(T0 + 10 * MIN + 1, "c")]);
    assert.deepEqual(gap.applied, ["a", "gap", "c"]);
    const one = feed([ev(T0, "only")]);
    assert.deepEqual(one.applied, ["only"]);
    assert.deepEqual(one.rejected, []);
    assert.equal(one.accepted, 1);
  });
});
