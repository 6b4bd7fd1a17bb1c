// The Host header at the edge, on the runtime running this test (issue 13 point 7): a missing or
// empty Host is served as if sent to this host; a malformed one (`a b`, `x/y`, ...) gets a JSON
// 400 before the app sees it and one short log line. Deno passes the raw header on and builds
// the URL from it unchecked (`x/y` was served at /y/metrics), so serve.ts checks it there.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { serve, type RunningServer } from "../../src/runtime/serve.ts";
import { runtimeName } from "../../src/runtime-name.ts";

/** One raw exchange on a fresh connection (what fetch cannot send): the whole answer. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const s = connect(port, "127.0.0.1", () => s.write(request));
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on("data", (d) => (data += d));
    s.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.on("error", () => {});
  });
}

describe("the Host header at the edge", () => {
  let server: RunningServer;
  const seen: string[] = [];
  const logged: string[] = [];
  before(async () => {
    server = await serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        seen.push(new URL(req.url).pathname);
        return new Response(`path=${new URL(req.url).pathname}`);
      },
      log: (line) => logged.push(line),
    });
  });
  after(() => server.close());

  it("serves a request without Host, with an empty one, or with a well-formed one, at its own path", { timeout: 20_000 }, async () => {
    const p = server.port;
    for (const req of [
      "GET /metrics HTTP/1.0\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
      `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nConnection: close\r\n\r\n`,
      "GET /metrics HTTP/1.1\r\nHost: Exporter.Example:9100\r\nConnection: close\r\n\r\n",
      `GET /metrics HTTP/1.1\r\nHost: [::1]:${p}\r\nConnection: close\r\n\r\n`,
    ]) {
      const r = await raw(p, req);
      assert.match(r, /^HTTP\/1\.[01] 200 /, `${JSON.stringify(req)}: ${r.slice(0, 120)}`);
      assert.match(r, /path=\/metrics$/, JSON.stringify(req));
    }
  });

  it("answers a malformed Host with a JSON 400 the app never sees, one short log line each", { timeout: 20_000 }, async () => {
    const p = server.port;
    const before = seen.length;
    const logsBefore = logged.length;
    // Five: the edge logs at most five lines a second.
    const bad = ["a b", "x/y", "a@b", "[::1", "127.0.0.1:99999"];
    for (const host of bad) {
      const r = await raw(p, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.match(r, /^HTTP\/1\.1 400 /, `Host ${host}: ${r.slice(0, 120)}`);
      assert.match(r, /content-type: application\/json/i, `Host ${host}`);
      assert.match(r, /\r\n\r\n\{"error":"bad request: [^"]+"\}$/, `Host ${host}: ${r}`);
    }
    assert.deepEqual(seen.slice(before), [], "the app saw none of them");
    const lines = logged.slice(logsBefore);
    assert.equal(lines.length, bad.length, lines.join("\n"));
    for (const line of lines) {
      assert.match(line, /bad request/);
      assert.ok(line.length <= 200, line);
    }
  });
  it("two Host headers: as the runtime's HTTP parser takes them (README, Security)", { timeout: 20_000 }, async () => {
    const before = seen.length;
    const r = await raw(server.port, "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
    if (runtimeName === "node") {
      // node:http keeps the first Host; the request is served for it.
      assert.match(r, /^HTTP\/1\.1 200 /, r.slice(0, 120));
      assert.deepEqual(seen.slice(before), ["/metrics"]);
    } else if (runtimeName === "bun") {
      // Bun joins them ("a, b"), which the edge answers as malformed.
      assert.match(r, /^HTTP\/1\.1 400 [^]*\r\n\r\n\{"error":"bad request: malformed Host header"\}$/, r.slice(0, 200));
      assert.deepEqual(seen.slice(before), []);
    } else {
      // Deno's parser answers 400 itself, with an empty body, before the handler runs.
      assert.match(r, /^HTTP\/1\.1 400 [^]*content-length: 0\r\n/i, r.slice(0, 200));
      assert.deepEqual(seen.slice(before), []);
    }
  });
});
