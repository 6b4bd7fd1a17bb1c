// What a user is told about a ts in the wrong unit: the push answer and replay's warnings say
// what the service log says (the value, the bound, the unit it looks like), not the bare reason.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/log.ts";
import { runCli } from "../_helpers.ts";

const SECONDS = JSON.stringify({ ts: 1_732_500_000, event_type: "compute.util", entity_id: "gpu-0", value: "1" });
const MICROS = JSON.stringify({ ts: 1_732_500_000_000_000, event_type: "compute.util", entity_id: "gpu-0", value: "1" });
const GOOD = JSON.stringify({ ts: 1_732_500_000_000, event_type: "compute.util", entity_id: "gpu-0", value: "1" });

describe("clock rejections explained", () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-clock-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the push answer's detail names the ts and the unit it looks like", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const res = await createApp(ex).fetch(
      new Request("http://x/api/v1/events", { method: "POST", body: [SECONDS, MICROS, GOOD].join("\n"), headers: { "content-type": "application/x-ndjson" } }),
      { remoteAddress: "127.0.0.1" },
    );
    const answer = (await res.json()) as { accepted: number; rejected: { line: number; reason: string; detail: string }[] };
    assert.equal(answer.accepted, 1);
    assert.deepEqual(answer.rejected.map((r) => [r.line, r.reason, r.detail]), [
      [1, "bad_ts", "bad_ts: ts 1732500000 is before 2001; it looks like seconds, not milliseconds"],
      [2, "future_ts", "future_ts: ts 1732500000000000 is more than 5m ahead of the clock; it looks like microseconds, not milliseconds"],
    ]);
  });

  it("replay's warning names the line, the ts and the unit it looks like", { timeout: 60_000 }, async () => {
    const file = join(dir, "units.ndjson");
    writeFileSync(file, [GOOD, SECONDS, MICROS].join("\n") + "\n");
    const r = await runCli(["replay", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /units\.ndjson:2: rejected: bad_ts: ts 1732500000 is before 2001; it looks like seconds, not milliseconds: \{/);
    assert.match(r.stderr, /units\.ndjson:3: rejected: future_ts: ts 1732500000000000 is more than 5m ahead of the clock; it looks like microseconds, not milliseconds: \{/);
  });
});
