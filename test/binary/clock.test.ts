// Clocks are not trusted (SPEC §2, issue 13), through the compiled binary: one event with a
// far-future ts (a probe writing microseconds) must not move the graph's clock and expire every
// error; it is rejected as future_ts, and a ts in seconds as bad_ts, each log line naming the unit.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseExposition, runCli, scrape, sleep, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

async function push(url: string, events: object[]): Promise<{ accepted: number; rejected: { line: number; reason: string }[] }> {
  const res = await fetch(`${url}/api/v1/events`, {
    method: "POST",
    headers: { "Content-Type": "application/x-ndjson" },
    body: events.map((e) => JSON.stringify(e)).join("\n") + "\n",
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { accepted: number; rejected: { line: number; reason: string; detail: string }[] };
  // Each rejection's detail starts with its reason; lines and reasons are compared below.
  for (const r of body.rejected) assert.ok(r.detail.startsWith(r.reason), r.detail);
  return { accepted: body.accepted, rejected: body.rejected.map(({ line, reason }) => ({ line, reason })) };
}

describe("clock trust, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a far-future ts is rejected as future_ts and errors stay; a ts in seconds is bad_ts; fresh errors still count", { timeout: 30_000 }, async () => {
    const ex = await startExporter([]);
    try {
      const now = Date.now();
      const first = await push(ex.url, [
        { ts: now, event_type: "process.state", entity_id: "host", pid: 4242, job_id: "job-1", value: "start" },
        { ts: now, event_type: "compute.util", entity_id: "gpu-0", pid: 4242, value: "90" },
        { ts: now, event_type: "error.hw", entity_id: "gpu-0", value: "XID_79" },
      ]);
      assert.equal(first.accepted, 3);
      assert.equal((await scrape(ex.url)).get("xctl_error_nodes"), 1);

      const bad = await push(ex.url, [
        { ts: Date.now() * 1000, event_type: "action.exec", entity_id: "x", value: "noop" },
        { ts: Number.MAX_SAFE_INTEGER, event_type: "action.exec", entity_id: "x", value: "noop" },
        { ts: Math.floor(Date.now() / 1000), event_type: "action.exec", entity_id: "x", value: "noop" },
      ]);
      assert.equal(bad.accepted, 0);
      assert.deepEqual(bad.rejected, [
        { line: 1, reason: "future_ts" },
        { line: 2, reason: "future_ts" },
        { line: 3, reason: "bad_ts" },
      ]);
      // The wall-clock cleanup runs each second: give it two.
      await sleep(2200);
      let m = await scrape(ex.url);
      assert.equal(m.get("xctl_error_nodes"), 1, "the error node is still there");
      assert.equal(m.get('xctl_events_rejected_total{reason="future_ts"}'), 2);
      assert.equal(m.get('xctl_events_rejected_total{reason="bad_ts"}'), 1);

      const fresh = await push(ex.url, [{ ts: Date.now(), event_type: "error.hw", entity_id: "gpu-1", value: "XID_79" }]);
      assert.equal(fresh.accepted, 1);
      await sleep(1200);
      m = await scrape(ex.url);
      assert.equal(m.get("xctl_error_nodes"), 2, "a fresh Xid still counts");

      const log = ex.stderr();
      assert.match(log, /future_ts: ts \d+ is more than 5m ahead of the clock; it looks like microseconds/);
      assert.match(log, /bad_ts: ts \d+ is before 2001; it looks like seconds/);
    } finally {
      await ex.stop();
    }
  });

  it("--max-clock-skew is a serve flag with its variable; a bad value stops start-up with exit 2", { timeout: 20_000 }, async () => {
    const ex = await startExporter([], { env: { XCTL_MAX_CLOCK_SKEW: "1m" } });
    try {
      const r = await push(ex.url, [
        { ts: Date.now() + 30_000, event_type: "action.exec", entity_id: "x", value: "noop" },
        { ts: Date.now() + 10 * 60_000, event_type: "action.exec", entity_id: "x", value: "noop" },
      ]);
      assert.equal(r.accepted, 1, "30 s ahead is inside a skew of 1m");
      assert.deepEqual(r.rejected, [{ line: 2, reason: "future_ts" }], "10 minutes ahead is not");
    } finally {
      await ex.stop();
    }
    const broken = await startExporter(["--max-clock-skew", "soon"], { waitHealthy: false });
    const code = await broken.exited;
    assert.equal(code, 2);
    assert.match(broken.stderr(), /max-clock-skew/);
  });
  it("replay: a lone date ahead of the recording (behind the wall clock) is future_ts; a six-minute gap loses nothing", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-bin-replay-clock-"));
    try {
      const t = Date.UTC(2025, 5, 1);
      const ev = (ts: number, event_type: string, entity_id: string, value: string, pid?: number) => JSON.stringify({ ts, event_type, entity_id, pid, value });
      const lines = [
        ev(t, "process.state", "host", "start", 4242),
        ev(t + 10, "compute.util", "gpu-0", "97", 4242),
        ev(t + 20, "error.hw", "gpu-0", "XID_79"),
        ev(Date.UTC(2026, 0, 1), "action.exec", "x", "noop"), // line 4: the lone jump
        ev(t + 1000, "compute.util", "gpu-0", "96", 4242),
        ev(t + 6 * 60_000, "compute.util", "gpu-0", "95", 4242), // a quiet gap longer than the skew
        ev(t + 6 * 60_000 + 500, "compute.util", "gpu-0", "94", 4242),
      ];
      const file = join(dir, "rec.ndjson");
      writeFileSync(file, lines.join("\n") + "\n");
      const r = await runCli(["replay", "--error-window", "30m", file]);
      assert.equal(r.code, 0, r.stderr);
      const m = parseExposition(r.stdout);
      assert.equal(m.get('xctl_events_rejected_total{reason="future_ts"}'), 1);
      assert.equal(m.get("xctl_error_nodes"), 1, "the jump did not expire the Xid");
      assert.match(r.stderr, /^replay: 6 events accepted, 1 rejected \(future_ts 1\)/m);
      assert.match(r.stderr, /rec\.ndjson:4: rejected: future_ts: ts 1767225600000 = 2026-01-01T00:00:00\.000Z is more than 5m ahead of the stream's clock/);
      assert.match(r.stderr, /final: gpu_xid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
