// The first line `serve` logs names where the exposition is and where the landing page is; with
// `--metrics-path /` the exposition takes the landing page's place (as node_exporter does), so
// the line must not send a person to a landing page that is not there.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { logged, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

describe("the start line of the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("names the landing page beside the metrics path", { timeout: 20_000 }, async () => {
    const ex = await startExporter([]);
    try {
      await logged(ex, /listening on http:\/\/127\.0\.0\.1:\d+\/metrics; landing page http:\/\/127\.0\.0\.1:\d+\/\n/);
      assert.equal((await fetch(`${ex.url}/`)).headers.get("content-type")?.startsWith("text/html"), true);
    } finally {
      await ex.stop();
    }
  });

  it("with --metrics-path / names no landing page: / serves the exposition", { timeout: 20_000 }, async () => {
    const ex = await startExporter(["--metrics-path", "/"]);
    try {
      const first = ex.stderr().split("\n").find((l) => l.includes("listening on"));
      assert.ok(first, ex.stderr());
      assert.match(first, /listening on http:\/\/127\.0\.0\.1:\d+\/ \(metrics at \/, in place of the landing page\)$/);
      assert.match(await (await fetch(`${ex.url}/`)).text(), /^# HELP /);
    } finally {
      await ex.stop();
    }
  });
});
