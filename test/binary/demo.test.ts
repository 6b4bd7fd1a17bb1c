// builtin:demo run faster than the clock through the compiled binary: its events must keep
// passing the exporter's clock checks however long it runs (a simulated clock stamped on the
// events ran ahead of the wall clock, past --max-clock-skew, and every event was then refused).
// Runs only with XCTL_BINARY set (scripts/test.sh builds the binary and sets it).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { scrape, sleep, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

describe("builtin:demo at high speed, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("keeps its events accepted after more simulated time than --max-clock-skew", { timeout: 30_000 }, async () => {
    // 120x with a 1-minute skew: the simulation passes the skew within half a second.
    const ex = await startExporter(["--probe", "builtin:demo?speed=120&rate=50&seed=11", "--max-clock-skew", "1m"]);
    try {
      // 1.5 s is three simulated minutes, two past the skew.
      await sleep(1500);
      const before = await scrape(ex.url);
      await sleep(500);
      const now = Date.now();
      const m = await scrape(ex.url);
      assert.equal(m.get('xctl_events_rejected_total{reason="future_ts"}'), 0, ex.stderr().slice(-600));
      assert.ok(m.get("xctl_events_total")! > before.get("xctl_events_total")!, "events still come in and count");
      // What the graph shows happened no later than now.
      const graph = (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as { nodes: { updated_at?: string }[] };
      const latest = Math.max(...graph.nodes.map((n) => Date.parse(n.updated_at ?? "") || 0));
      assert.ok(latest > 0 && latest <= now + 1000, `latest update ${new Date(latest).toISOString()}, now ${new Date(now).toISOString()}`);
    } finally {
      await ex.stop();
    }
  });
});
