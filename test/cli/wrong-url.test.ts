// A client pointed at the right host but the wrong path (a --url with /metrics or a typo after the
// port) is told so, and `why` does not claim that a running process does not exist.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runCli, startExporter, type RunningExporter } from "../_helpers.ts";

const SLOW = { timeout: 60_000 };

describe("a --url with a wrong path", () => {
  let ex: RunningExporter;
  before(async () => {
    ex = await startExporter([]);
    const res = await fetch(`${ex.url}/api/v1/events`, {
      method: "POST",
      body: JSON.stringify({ event_type: "process.state", entity_id: "pid-42", pid: 42, value: "start" }),
    });
    assert.equal(((await res.json()) as { accepted: number }).accepted, 1);
  });
  after(async () => {
    await ex?.stop();
  });

  it("why names the wrong base URL, not a missing pid; an unknown pid is still one", SLOW, async () => {
    const wrong = await runCli(["why", "42", "--url", `${ex.url}/wrong`]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.doesNotMatch(wrong.stderr, /no process/, wrong.stderr);
    assert.match(wrong.stderr, /^xctl-exporter: .*\/wrong\/api\/v1\/why\/42 answered 404 \(no such route\): is .*\/wrong the exporter's base URL\? \(e\.g\. http:\/\/127\.0\.0\.1:9091\)$/m);
    const unknown = await runCli(["why", "43", "--url", ex.url]);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /^xctl-exporter: no process with pid 43 at /m);
  });

  it("status and ps say the same for a metrics URL", SLOW, async () => {
    for (const cmd of ["status", "ps"]) {
      const r = await runCli([cmd, "--url", `${ex.url}/metrics`]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /answered 404 \(no such route\): is http:\/\/127\.0\.0\.1:\d+\/metrics the exporter's base URL\?/, r.stderr);
    }
  });
});
