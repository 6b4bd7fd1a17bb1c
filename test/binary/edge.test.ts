// Odd clients and odd probes through the compiled binary (issue 13, points 6 to 11): HEAD on the
// event stream, a missing or malformed Host, POST /api/v1/diagnoses unguarded, a probe whose
// setsid grandchild holds its pipe, slow POSTs holding the push queue, and bcrypt under a flood
// of wrong passwords.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, scrape, sleep, startExporter } from "../_helpers.ts";
import { loopCpuMs } from "./_proc.ts";

const BINARY = process.env.XCTL_BINARY;
const FAULTS = join(ROOT, "test/fixtures/fault-probes");
// bcrypt of "right" at cost 10 (bcryptjs), the cost exporter-toolkit's docs use.
const HASH = "$2b$10$trF/U/pOYREWk1LSOZ9Gf.3xksaQq8zkxN1pUHrZiYmjLpIQNStxK";

/** One raw HTTP exchange (what fetch cannot send: no Host, a malformed one). */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const s = connect(port, "127.0.0.1", () => s.write(request));
    s.on("data", (d) => (data += d));
    s.on("close", () => resolve(data));
    s.on("error", () => resolve(data));
    setTimeout(() => {
      s.destroy();
      resolve(data);
    }, 3000);
  });
}

describe("odd clients and probes, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("HEAD on the event stream never takes a stream slot", { timeout: 20_000 }, async () => {
    const ex = await startExporter(["--max-sse-clients", "2"]);
    try {
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${ex.url}/api/v1/events/stream`, { method: "HEAD" });
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
      }
      const ctl = new AbortController();
      const res = await fetch(`${ex.url}/api/v1/events/stream`, { signal: ctl.signal });
      assert.equal(res.status, 200, "a GET still gets a stream");
      ctl.abort();
      assert.equal((await scrape(ex.url)).get('xctl_sse_dropped_total{reason="too_many_clients"}'), 0);
    } finally {
      await ex.stop();
    }
  });

  it("a missing Host is served; a malformed one gets a JSON 400; each logged in one short line", { timeout: 20_000 }, async () => {
    const ex = await startExporter([]);
    try {
      for (const path of ["/healthz", "/metrics", "/api/v1/processes"]) {
        const r = await raw(ex.port, `GET ${path} HTTP/1.0\r\n\r\n`);
        assert.match(r, /^HTTP\/1\.[01] 200 /, `${path} without Host: ${r.slice(0, 100)}`);
      }
      assert.match(await raw(ex.port, "OPTIONS / HTTP/1.0\r\n\r\n"), /^HTTP\/1\.[01] (204 No Content\r\nAllow: |(200|404|405) [^]*application\/json)/);
      const empty = await raw(ex.port, "GET /metrics HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n");
      assert.match(empty, /^HTTP\/1\.1 200 /, `empty Host: ${empty.slice(0, 100)}`);
      for (const host of ["a b", "x/y", "[::1", "127.0.0.1:99999"]) {
        const r = await raw(ex.port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.match(r, /^HTTP\/1\.1 400 /, `Host ${host}: ${r.slice(0, 100)}`);
        assert.match(r, /\r\n\r\n\{"error":"bad request/);
      }
      await sleep(200);
      const log = ex.stderr();
      assert.doesNotMatch(log, /Something went wrong|at <anonymous>|\$bunfs/);
      for (const line of log.split("\n")) assert.ok(line.length < 400, `a long log line: ${line.slice(0, 200)}`);
    } finally {
      await ex.stop();
    }
  });

  it("POST /api/v1/diagnoses is guarded like pushes", { timeout: 20_000 }, async () => {
    const ex = await startExporter(["--ingest-token", "s3cret"]);
    try {
      const denied = await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" });
      assert.equal(denied.status, 401);
      assert.equal((await scrape(ex.url)).get("xctl_diagnoses_total"), 0);
      const ok = await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST", headers: { Authorization: "Bearer s3cret" } });
      assert.equal(ok.status, 200);
      assert.equal((await fetch(`${ex.url}/api/v1/diagnoses`)).status, 200, "reading results stays open");
    } finally {
      await ex.stop();
    }
  });

  it("a probe that exits is restarted although a setsid grandchild holds its pipe", { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-setsid-"));
    const ex = await startExporter(["--probe", `${join(FAULTS, "setsid-child.sh")} ${dir}`]);
    try {
      const series = 'xctl_probe_restarts_total{probe="setsid-child.sh"}';
      const deadline = Date.now() + 8000;
      let restarts = 0;
      while (Date.now() < deadline && restarts < 1) {
        restarts = (await scrape(ex.url)).get(series) ?? 0;
        await sleep(200);
      }
      assert.ok(restarts >= 1, "the probe was restarted");
    } finally {
      await ex.stop();
      for (const f of readdirSync(dir).filter((f) => f.startsWith("grandchild."))) {
        try {
          process.kill(Number(readFileSync(join(dir, f), "utf8").trim()), "SIGKILL");
        } catch {
          // gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("slow POSTs that declare big bodies and trickle bytes do not lock other pushes out", { timeout: 20_000 }, async () => {
    const ex = await startExporter(["--max-body", "8MiB"]);
    const sockets = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = connect(ex.port, "127.0.0.1");
        s.on("error", () => {});
        s.write(`POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n{"ev`);
        sockets.push(s);
      }
      await sleep(300);
      const line = JSON.stringify({ event_type: "compute.util", entity_id: "gpu-0", value: "1" }) + "\n";
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body: line });
        assert.equal(res.status, 200, `push ${i}: ${await res.text()}`);
      }
    } finally {
      for (const s of sockets) s.destroy();
      await ex.stop();
    }
  });

  it("a first correct login answers within a second while 100 clients send wrong passwords", { timeout: 40_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-auth-"));
    writeFileSync(join(dir, "web.yml"), `basic_auth_users:\n  admin: ${HASH}\n`);
    const ex = await startExporter(["--web-config", join(dir, "web.yml")], { waitHealthy: false });
    let stop = false;
    const auth = (pw: string) => ({ Authorization: "Basic " + Buffer.from(`admin:${pw}`).toString("base64") });
    try {
      // Up (any answer from /healthz, 401 included).
      for (let i = 0; i < 200; i++) {
        try {
          await fetch(`${ex.url}/healthz`);
          break;
        } catch {
          await sleep(50);
        }
      }
      const attackers = Array.from({ length: 100 }, async () => {
        while (!stop) {
          try {
            await (await fetch(`${ex.url}/metrics`, { headers: auth("wrong"), signal: AbortSignal.timeout(15_000) })).arrayBuffer();
          } catch {
            // a refused or timed-out attempt: keep going
          }
        }
      });
      await sleep(1500);
      const c0 = loopCpuMs(ex.child.pid!);
      const t0 = performance.now();
      const res = await fetch(`${ex.url}/metrics`, { headers: auth("right"), signal: AbortSignal.timeout(15_000) });
      const ms = performance.now() - t0;
      const loop = loopCpuMs(ex.child.pid!) - c0;
      console.log(`first correct login under 100 wrong-password clients: ${res.status} in ${ms.toFixed(0)} ms (the loop's CPU meanwhile: ${loop.toFixed(0)} ms)`);
      assert.equal(res.status, 200);
      // The target is 1 s (6.35 s before: queued behind the wrong ones' bcrypt, which runs on the
      // event loop). What the login waited for is the loop's CPU meanwhile (_proc.ts loopCpuMs):
      // the clock also counts the waits of a busy machine, the 100 clients in this test runner too.
      assert.ok(loop < 1000, `the correct login waited behind ${loop.toFixed(0)} ms of the loop's work (${ms.toFixed(0)} ms by the clock)`);
      stop = true;
      await Promise.all(attackers);
    } finally {
      stop = true;
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
