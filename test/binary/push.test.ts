// JSON pushes through the compiled binary (issue 13): depth is bounded before parsing, a
// too-deep element is rejected alone and counted, no body yields a 500, a big or hostile body
// never stalls other requests, and the content type (not the first byte) picks JSON or NDJSON.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { scrape, sleep, startExporter, type RunningExporter } from "../_helpers.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";
import { loopCpuMs } from "./_proc.ts";

const BINARY = process.env.XCTL_BINARY;

function ev(i: number): string {
  return JSON.stringify({ ts: Date.now(), event_type: "compute.util", entity_id: `gpu-${i % 8}`, pid: 1000 + (i % 50), value: String(i % 100) });
}

async function post(ex: RunningExporter, body: string, type: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", headers: { "Content-Type": type }, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the assertion message
  }
  return { status: res.status, body: parsed };
}

/**
 * Polls /healthz every 10 ms until `done` settles: the slowest answer in ms by the clock, and the
 * most CPU the exporter's event loop spent while one waited (_proc.ts loopCpuMs): what the pushes
 * made it wait, which a loaded machine does not stretch (by the clock, 397 ms of a 500 ms bound
 * was seen under load).
 */
async function slowestHealth(ex: RunningExporter, done: Promise<unknown>): Promise<{ max: number; loop: number; n: number }> {
  let finished = false;
  void done.finally(() => (finished = true));
  let max = 0;
  let loop = 0;
  let n = 0;
  const deadline = performance.now() + 30_000;
  while (!finished && performance.now() < deadline) {
    const c0 = loopCpuMs(ex.child.pid!);
    const t0 = performance.now();
    const res = await fetch(`${ex.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    max = Math.max(max, performance.now() - t0);
    loop = Math.max(loop, loopCpuMs(ex.child.pid!) - c0);
    n++;
    await sleep(10);
  }
  return { max, loop, n };
}

describe("JSON pushes, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("an element nested 100k levels deep is rejected as too_deep and counted; the elements around it count", { timeout: 30_000 }, async () => {
    const ex = await startExporter([]);
    try {
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      const r = await post(ex, `[${ev(1)},${deep},${ev(2)}]`, "application/json");
      assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
      assert.deepEqual(_lineReasons(r.body), { accepted: 2, rejected: [{ line: 2, reason: "too_deep" }], rejected_total: 1 });
      const m = await scrape(ex.url);
      assert.equal(m.get('xctl_events_rejected_total{reason="too_deep"}'), 1);
      assert.equal(m.get("xctl_events_total"), 2);
      assert.doesNotMatch(ex.stderr(), /\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[\[/, "the log shows only the start of a rejected element");
    } finally {
      await ex.stop();
    }
  });

  it("hostile and big JSON bodies never stall other requests", { timeout: 60_000 }, async () => {
    const ex = await startExporter([]);
    try {
      // Ten deeply nested elements in 2 MB, and an array of 60,000 valid events (~6 MiB).
      const nested = Array.from({ length: 10 }, () => "[".repeat(100_000) + "]".repeat(100_000));
      const hostile = post(ex, `[${ev(0)},${nested.join(",")},${ev(1)}]`, "application/json");
      const big = post(ex, "[" + Array.from({ length: 60_000 }, (_, i) => ev(i)).join(",") + "]", "application/json");
      const both = Promise.all([hostile, big]);
      const { max, loop, n } = await slowestHealth(ex, both);
      const [h, b] = await both;
      console.log(`slowest /healthz during the pushes: ${max.toFixed(1)} ms of ${n} (the loop's CPU meanwhile: ${loop.toFixed(1)} ms at most)`);
      assert.equal(h.status, 200);
      assert.equal(h.body.accepted, 2);
      assert.equal(h.body.rejected_total, 10);
      assert.equal(b.status, 200);
      assert.equal(b.body.accepted, 60_000);
      assert.ok(loop < 500, `/healthz waited behind ${loop.toFixed(0)} ms of the pushes' work (${max.toFixed(0)} ms by the clock)`);
    } finally {
      await ex.stop();
    }
  });

  it("a JSON push says what was wrong with each rejected element, as an NDJSON push does for each line", { timeout: 30_000 }, async () => {
    const ex = await startExporter([]);
    try {
      const bad = [
        JSON.stringify({ event_type: "compute.util" }),
        JSON.stringify({ ts: 1_732_500_000, event_type: "compute.util", entity_id: "gpu-0", value: "1" }),
        JSON.stringify({ event_type: "gpu.util", entity_id: "gpu-0" }),
        JSON.stringify({ event_type: "compute.util", entity_id: "gpu-0", pid: "12" }),
        "5",
      ];
      const nd = await post(ex, bad.join("\n"), "application/x-ndjson");
      const js = await post(ex, `[${bad.join(",")},${"[".repeat(100)}${"]".repeat(100)}]`, "application/json");
      assert.equal(js.status, 200);
      const details = (b: { rejected: { detail: string }[] }) => b.rejected.map((r) => r.detail);
      // The same elements get the same explanation whichever way they came.
      assert.deepEqual(details(js.body).slice(0, bad.length), details(nd.body));
      assert.deepEqual(details(js.body), [
        "missing_field: entity_id",
        "bad_ts: ts 1732500000 is before 2001; it looks like seconds, not milliseconds",
        `unknown_event_type: "gpu.util" (known: ${EVENT_TYPES.join(", ")})`,
        "bad_type: pid must be an integer 0..2147483647 or null, got a string",
        "not_object: an event is a JSON object, got the number 5",
        "too_deep: nested 100 levels deep (at most 64)",
      ]);
    } finally {
      await ex.stop();
    }
  });

  it("the content type decides: an array sent as NDJSON is a line that is not an event; no body gets a 500", { timeout: 30_000 }, async () => {
    const ex = await startExporter([]);
    try {
      const r = await post(ex, `[${ev(1)}]`, "application/x-ndjson");
      assert.deepEqual(_lineReasons(r.body), { accepted: 0, rejected: [{ line: 1, reason: "not_object" }], rejected_total: 1 });
      for (const body of ["[", "]", "[}", "{]", '["\\', "[1,]", "[,]", "\u0000", "[" + "{".repeat(70_000), "[\"\\u12\"]", "{} {}", "[\xff]"]) {
        const res = await post(ex, body, "application/json");
        assert.equal(res.status, 200, `${JSON.stringify(body.slice(0, 20))}: ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    } finally {
      await ex.stop();
    }
  });
});

/** A push answer without each rejection's detail text, for comparing lines and reasons. */
function _lineReasons(body: unknown): unknown {
  const b = body as { rejected?: { line: number; reason: string }[] };
  return b.rejected === undefined ? body : { ...b, rejected: b.rejected.map(({ line, reason }) => ({ line, reason })) };
}
