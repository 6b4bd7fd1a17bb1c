// replay's two summary lines read as English for one event and one run.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatSummary } from "../../src/cli/replay-run.ts";
import { runCli } from "../_helpers.ts";

describe("replay summary", () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-summary-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("says 1 event accepted in the singular, and keeps the plural otherwise", () => {
    assert.match(formatSummary({ accepted: 1, rejected: new Map([["bad_ts", 1]]), seconds: 1 }), /^replay: 1 event accepted, 1 rejected \(bad_ts 1\) in 1\.000 s: 1 events\/s$/);
    assert.match(formatSummary({ accepted: 2, rejected: new Map(), seconds: 1 }), /^replay: 2 events accepted, 0 rejected in/);
  });

  it("says 1 diagnosis run for a file whose only run is the final one", { timeout: 60_000 }, async () => {
    const file = join(dir, "one.ndjson");
    writeFileSync(file, JSON.stringify({ ts: 1_732_500_000_000, event_type: "compute.util", entity_id: "gpu-0", value: "1" }) + "\n");
    const r = await runCli(["replay", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^replay: 1 diagnosis run; final: no scene$/m, r.stderr);
    assert.match(r.stderr, /^replay: 1 event accepted, 0 rejected in /m, r.stderr);
  });

  it("a file whose one line is rejected: exit 1, 1 line rejected", { timeout: 60_000 }, async () => {
    const file = join(dir, "bad.ndjson");
    writeFileSync(file, "garbage\n");
    const r = await runCli(["replay", file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^xctl-exporter: replay: no event accepted from .*bad\.ndjson \(1 line rejected\)$/m, r.stderr);
  });
});
