// The /metrics page as Prometheus's own tools read it: promtool's linter, the Accept header a
// Prometheus server sends, gzip, HEAD. Runs only with XCTL_BINARY set (scripts/test.sh sets it).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import { run, startExporter, type RunningExporter } from "../_helpers.ts";
import { SEED_METRICS } from "../../src/metrics/names.ts";

const BINARY = process.env.XCTL_BINARY;

/**
 * promtool's findings on the page, all on seed names that SPEC §5 fixes (the README lists them):
 * counters whose names do not end in `_total`.
 */
const EXPECTED_FINDINGS = ["xctl_diagnoses_by_scene", "xctl_events_by_type"];

/** What Prometheus 2.x sends when it scrapes (scrape.go, acceptHeader). */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8";

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request whose body is read as sent (fetch would decompress it). */
function raw(url: string, method: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    request(url, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    })
      .on("error", reject)
      .end();
  });
}

function families(page: string): string[] {
  return [...page.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
}

describe("the exposition, as Prometheus's tools read it", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter;
  let metrics = "";
  before(async () => {
    ex = await startExporter(["--probe", "builtin:demo?speed=20"]);
    metrics = `${ex.url}/metrics`;
    // Let scenes and diagnoses happen, so every family has samples.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const page = await (await fetch(metrics)).text();
      if (/^xctl_diagnoses_total [1-9]/m.test(page)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(() => ex?.stop());

  it("promtool check metrics finds nothing but the listed seed names", async () => {
    const page = await (await fetch(metrics)).text();
    const r = await run("promtool", ["check", "metrics"], { input: page });
    assert.notEqual(r.code, null);
    const findings = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "");
    // A parse error would be a line without a metric name in front: every line must name one.
    const named = findings.map((l) => l.split(" ")[0]);
    for (const name of named) assert.ok(name in SEED_METRICS, `promtool finding on a name outside SPEC §5:\n${findings.join("\n")}`);
    assert.deepEqual([...new Set(named)].sort(), EXPECTED_FINDINGS, findings.join("\n"));
    for (const line of findings) assert.match(line, /counter metrics should have "_total" suffix/);
  });

  it("answers Prometheus's Accept header with the text format 0.0.4", async () => {
    const res = await raw(metrics, "GET", { accept: PROMETHEUS_ACCEPT, "accept-encoding": "gzip" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], TEXT_FORMAT);
    assert.equal(res.headers["content-encoding"], "gzip");
    const page = gunzipSync(res.body).toString();
    // Counters keep their names as served: OpenMetrics would have renamed the seed counters
    // that lack `_total` (xctl_events_by_type would be stored as xctl_events_by_type_total).
    assert.match(page, /^xctl_events_by_type\{event_type="compute.util"\} \d+$/m);
    assert.doesNotMatch(page, /^# EOF/m);
  });

  it("answers the text format whatever the Accept header asks", async () => {
    for (const accept of ["application/openmetrics-text;version=1.0.0", "text/plain", "*/*", "application/json"]) {
      const res = await raw(metrics, "GET", { accept });
      assert.equal(res.status, 200, accept);
      assert.equal(res.headers["content-type"], TEXT_FORMAT, accept);
    }
  });

  it("compresses only when asked, and says it varies on Accept-Encoding", async () => {
    const plain = await raw(metrics, "GET", {});
    assert.equal(plain.headers["content-encoding"], undefined);
    const gz = await raw(metrics, "GET", { "accept-encoding": "gzip" });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.match(String(gz.headers["vary"]), /accept-encoding/i);
    assert.ok(gz.body.length < plain.body.length / 2, `${gz.body.length} gzip bytes for ${plain.body.length}`);
    assert.deepEqual(families(gunzipSync(gz.body).toString()), families(plain.body.toString()));
  });

  it("answers HEAD with the headers of GET and no body", async () => {
    const head = await raw(metrics, "HEAD", {});
    const get = await raw(metrics, "GET", {});
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers["content-type"], TEXT_FORMAT);
    // The length of the page GET would send (values move between the two requests, a little).
    const length = Number(head.headers["content-length"] ?? Number.NaN);
    assert.ok(Math.abs(length - get.body.length) < get.body.length * 0.05, `HEAD says ${head.headers["content-length"]}, GET sent ${get.body.length}`);
  });
});
