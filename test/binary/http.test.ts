// What the compiled binary serves over HTTP, as a client sees it on the wire (node:http, so
// nothing is decoded or added on the way): HEAD answers with GET's headers.
// Runs only with XCTL_BINARY set (scripts/test.sh builds the binary and sets it).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { eventually, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request; the answer's status, headers and raw bytes, undecoded. */
function raw(url: string, method: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP on the wire, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter;
  before(async () => {
    ex = await startExporter([]);
    // A graph that stands still: a few processes, an error, and a diagnosis run.
    const ts = Date.now() - 1000;
    const lines = [];
    for (let pid = 100; pid < 130; pid++) {
      lines.push(JSON.stringify({ ts, event_type: "process.state", entity_id: "host", pid, job_id: `job-${pid}`, value: "start" }));
      lines.push(JSON.stringify({ ts, event_type: "compute.util", entity_id: `gpu-${pid % 8}`, pid, value: "50" }));
    }
    lines.push(JSON.stringify({ ts, event_type: "error.hw", entity_id: "gpu-1", value: "XID_79" }));
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: lines.join("\n") });
    assert.equal(((await res.json()) as { accepted: number }).accepted, lines.length);
    await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).arrayBuffer();
  });
  after(async () => {
    await ex?.stop();
  });

  const paths = ["/", "/landing.css", "/favicon.svg", "/healthz", "/readyz", "/api/v1/status", "/api/v1/processes", "/api/v1/graph", "/api/v1/graph?format=dot", "/api/v1/diagnoses", "/api/v1/why/100", "/api/v1/why/1", "/nope", "/api/v1/events"];
  /** Errors that name the method (`not found: HEAD /nope`): a HEAD body would say HEAD. */
  const namesMethod = (path: string) => path === "/nope" || path === "/api/v1/events";
  const asHead = (get: Buffer) => Buffer.byteLength(get.toString("utf8").replace(/\bGET\b/, "HEAD"));

  it("HEAD gives GET's status, type and length, never a Content-Length of 0 for a body GET sends", async () => {
    for (const path of paths) {
      // Ages in seconds may tick between the two requests: a few tries.
      let last = "";
      for (let attempt = 0; attempt < 3; attempt++) {
        const head = await raw(`${ex.url}${path}`, "HEAD", { "Accept-Encoding": "identity" });
        const get = await raw(`${ex.url}${path}`, "GET", { "Accept-Encoding": "identity" });
        assert.equal(head.status, get.status, path);
        assert.equal(head.headers["content-type"], get.headers["content-type"], path);
        assert.equal(head.body.length, 0, `${path}: HEAD has no body`);
        assert.ok(get.body.length > 0, `${path}: GET has a body`);
        const want = namesMethod(path) ? asHead(get.body) : get.body.length;
        last = `${path}: HEAD says Content-Length ${head.headers["content-length"]}, GET sent ${get.body.length} bytes`;
        if (head.headers["content-length"] === String(want)) break;
        assert.ok(attempt < 2, last);
      }
    }
  });

  it("HEAD with Accept-Encoding: gzip announces the gzip GET applies, and the length of a gzip body", async () => {
    for (const path of paths) {
      for (let attempt = 0; ; attempt++) {
        const head = await raw(`${ex.url}${path}`, "HEAD", { "Accept-Encoding": "gzip" });
        const get = await raw(`${ex.url}${path}`, "GET", { "Accept-Encoding": "gzip" });
        assert.equal(head.status, get.status, path);
        assert.equal(head.headers["content-encoding"], get.headers["content-encoding"], path);
        assert.equal(head.headers.vary, get.headers.vary, path);
        const length = Number(head.headers["content-length"]);
        assert.ok(length > 0, `${path}: HEAD says Content-Length ${head.headers["content-length"]}`);
        // Where both bodies are the same, so are their gzip lengths (GET streams it: no header).
        // Ages in seconds may tick between the two requests: a few tries.
        if (namesMethod(path) || length === get.body.length) break;
        assert.ok(attempt < 2, `${path}: HEAD says Content-Length ${length}, GET sent ${get.body.length} bytes`);
      }
    }
  });
});

describe("--metrics-path / --web.telemetry-path, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a path the exposition could not be served at, or that another route answers, stops start-up with one line", async () => {
    for (const [path, why] of [
      ["/healthz", /is already a route of the exporter/],
      ["/api/v1/status", /is already a route of the exporter/],
      ["/api/v1/why/7", /is already a route of the exporter/],
      ["/metrics?x=1", /must be a path alone/],
      ["/m#x", /must be a path alone/],
      ["/m%20x", /not percent-encoded/],
      ["//metrics", /empty segment/],
    ] as const) {
      const r = await runCli(["--host", "127.0.0.1", "--port", "0", "--web.telemetry-path", path], { timeoutMs: 10_000, env: { XCTL_COLLECTORS: "none" } });
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.includes(`--web.telemetry-path: "${path}" `), r.stderr);
      assert.match(r.stderr, why);
    }
  });

  it("/ serves the exposition in the landing page's place, as node_exporter does; another path is linked from the landing page", async () => {
    const root = await startExporter(["--web.telemetry-path", "/"]);
    try {
      const res = await fetch(`${root.url}/`);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /^# HELP xctl_events_total /m);
    } finally {
      await root.stop();
    }
    const deep = await startExporter(["--web.telemetry-path", "/prom/metrics"]);
    try {
      assert.match(await (await fetch(`${deep.url}/`)).text(), /<a href="prom\/metrics">Metrics<\/a>/);
      assert.equal((await fetch(`${deep.url}/prom/metrics`)).status, 200);
      assert.equal((await fetch(`${deep.url}/metrics`)).status, 404);
    } finally {
      await deep.stop();
    }
  });
});

describe("a slow event-stream reader, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("is told why its stream ends when it falls too far behind, and the stream ends cleanly", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--max-body", "16MiB"]);
    try {
      // A reader that asks for the stream and then reads nothing for a while.
      const sock = connect(ex.port, "127.0.0.1");
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", () => resolve());
        sock.once("error", reject);
      });
      sock.pause();
      sock.write("GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\n\r\n");
      await eventually(async () => (await scrape(ex.url)).get("xctl_sse_clients") === 1, 10_000, "the stream open");
      // Far more than the socket buffers hold (about 150 bytes an event on the stream).
      const ts = Date.now();
      const body = Array.from({ length: 60_000 }, (_, i) => JSON.stringify({ ts, event_type: "compute.util", entity_id: `gpu-${i % 8}`, pid: 1000 + (i % 50), value: String(i % 100) })).join("\n");
      const push = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
      assert.equal(((await push.json()) as { accepted: number }).accepted, 60_000);
      await eventually(async () => (await scrape(ex.url)).get('xctl_sse_dropped_total{reason="slow"}') === 1, 10_000, "the reader cut off");
      // Now read everything it was sent: the last record says why, then the response ends.
      const chunks: Buffer[] = [];
      sock.on("data", (d: Buffer) => chunks.push(d));
      sock.resume();
      const text = await eventually(() => {
        const all = Buffer.concat(chunks).toString("latin1");
        return all.endsWith("\r\n0\r\n\r\n") ? all : undefined;
      }, 10_000, "the end of the response");
      sock.destroy();
      const tail = text.slice(-400);
      assert.match(tail, /: cut off: this reader fell too far behind \(1024 events[^\n]*\n\n\r\n0\r\n\r\n$/, tail);
    } finally {
      await ex.stop();
    }
  });
});
