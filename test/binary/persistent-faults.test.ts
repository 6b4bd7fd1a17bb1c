// A fault that persists must not log for as long as it lasts: against the compiled binary, a
// probe that keeps sending an unknown event type logs its first lines and then stops adding
// any (the next line comes a minute later, with the count), while every rejection is counted
// and the valid events beside them are kept. Runs only with XCTL_BINARY set (scripts/test.sh).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, scrape, sleep, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const FAULTS = join(ROOT, "test/fixtures/fault-probes");
const REJECTED = 'xctl_events_rejected_total{reason="unknown_event_type"}';

describe("persistent faults, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a probe that keeps sending a bad event type logs five lines, not five a second", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--probe", join(FAULTS, "bad-forever.sh"), "--log-format", "json"]);
    try {
      const lines = () =>
        ex
          .stderr()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => String(JSON.parse(l).msg))
          .filter((m) => m.startsWith("rejected event from bad-forever.sh"));
      const reach = async (n: number) => {
        for (let i = 0; i < 100; i++) {
          const v = (await scrape(ex.url)).get(REJECTED) ?? 0;
          if (v >= n) return v;
          await sleep(100);
        }
        throw new Error(`fewer than ${n} rejections after 10 s`);
      };
      await reach(50);
      const first = lines().length;
      // Three times as many rejections later (seconds at five lines a second before the bound).
      const total = await reach(150);
      await sleep(300);
      assert.equal(first, 5, ex.stderr());
      assert.equal(lines().length, 5, `the log kept growing: ${lines().length} lines for ${total} rejections`);
      assert.match(lines()[0], /rejected event from bad-forever\.sh: unknown_event_type: "gpu\.temp"/);
      const m = await scrape(ex.url);
      // Each was counted, and none cost the valid event beside it.
      assert.ok((m.get("xctl_events_total") ?? 0) >= total - 1, `${m.get("xctl_events_total")} valid for ${total} rejected`);
    } finally {
      await ex.stop();
    }
  });
});
