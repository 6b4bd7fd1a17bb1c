// --web-config on a running exporter: TLS, basic auth, headers, and the ingest token beside
// basic auth. Runs under each runtime, and against the compiled binary (scripts/test.sh).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { eventually, logged, runCli, startExporter, waitFor, type RunningExporter } from "../_helpers.ts";
import { hasOpenssl, makeCerts, type TestCerts } from "../fixtures/tls/certs.ts";
import { runtimeName } from "../../src/runtime-name.ts";

const SLOW = { timeout: 60_000 };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}, method = "GET", body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method, headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A web-config file in a new directory: TLS with the test server's pair, then `more` lines (inside tls_server_config first). */
function _webConfig(certs: TestCerts, prefix: string, more: string[]): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, "web.yml");
  writeFileSync(file, ["tls_server_config:", `  cert_file: ${certs.path("server.crt")}`, `  key_file: ${certs.path("server.key")}`, ...more].join("\n") + "\n");
  return { dir, file };
}

const basic = (user: string, password: string) => "Basic " + Buffer.from(`${user}:${password}`).toString("base64");

describe("serve --web-config", { skip: hasOpenssl ? false : "openssl missing" }, () => {
  let certs: TestCerts;
  let dir: string;
  let ex: RunningExporter;
  let ca: Buffer;
  let https: string;

  before(async () => {
    certs = makeCerts();
    ca = readFileSync(certs.path("ca.crt"));
    let file: string;
    ({ dir, file } = _webConfig(certs, "xctl-webcfg-", [
      "  min_version: TLS12",
      "basic_auth_users:",
      `  prometheus: ${bcrypt.hashSync("s3cret", 4)}`,
      "http_server_config:",
      "  headers:",
      "    X-Content-Type-Options: nosniff",
    ]));
    ex = await startExporter(["--web-config", file, "--ingest-token", "tok-123"], { waitHealthy: false });
    https = ex.url.replace("http:", "https:");
    // /healthz needs credentials too (as in exporter-toolkit): wait for any TLS answer.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await httpsGet(`${https}/healthz`, ca);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`no TLS answer: ${e}\n${ex.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, SLOW);
  after(async () => {
    await ex?.stop();
    certs?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves metrics over TLS to the right user, with the configured header", SLOW, async () => {
    const ok = await httpsGet(`${https}/metrics`, ca, { authorization: basic("prometheus", "s3cret") });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /# TYPE xctl_events_total counter/);
    assert.equal(ok.headers["x-content-type-options"], "nosniff");
    await logged(ex, /listening on https:\/\//);
  });

  it("answers 401 and nothing else to missing or wrong credentials", SLOW, async () => {
    for (const auth of [undefined, basic("prometheus", "wrong"), basic("nobody", "s3cret")]) {
      const r = await httpsGet(`${https}/metrics`, ca, auth ? { authorization: auth } : {});
      assert.equal(r.status, 401);
      assert.deepEqual(JSON.parse(r.body), { error: "unauthorized" });
      assert.equal(r.headers["x-content-type-options"], "nosniff");
      assert.match(String(r.headers["www-authenticate"]), /^Basic realm=/);
    }
  });

  it("answers plain HTTP on the TLS port with 400 saying to use https, and serves nothing over it", SLOW, async () => {
    const r = await fetch(`${ex.url}/metrics`);
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: string }).error, /use https:\/\//);
    await assert.rejects(waitFor(`${ex.url}/healthz`, undefined, 500));
  });

  it("clients: --ca-file trusts the CA, --insecure skips the check, and each mistake is one line saying what to do", SLOW, async () => {
    const auth = ["--user", "prometheus", "--password", "s3cret"];
    const viaCa = await runCli(["status", "--url", https, "--ca-file", certs.path("ca.crt"), ...auth]);
    assert.equal(viaCa.code, 0, viaCa.stderr);
    assert.match(viaCa.stdout, /: ready$/m);
    const insecure = await runCli(["ps", "--url", https, "--insecure", ...auth]);
    assert.equal(insecure.code, 0, insecure.stderr);
    const untrusted = await runCli(["ps", "--url", https, ...auth]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^xctl-exporter: cannot reach the exporter at https:\/\/127\.0\.0\.1:\d+: its TLS certificate is not trusted \(.*\): give --ca-file CA\.pem, or --insecure\n$/);
    const plain = await runCli(["ps", "--url", ex.url, ...auth]);
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr, `xctl-exporter: the exporter at ${ex.url} serves HTTPS: use --url ${https}\n`);
    // With the service's environment (XCTL_WEB_CONFIG says TLS), ps finds https by itself.
    const fromEnv = await runCli(["ps", "--insecure", ...auth], {
      env: { XCTL_URL: undefined, XCTL_HOST: "127.0.0.1", XCTL_PORT: String(ex.port), XCTL_WEB_CONFIG: join(dir, "web.yml") },
    });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
  });

  it("takes pushes with the ingest token alone, and refuses a wrong token", SLOW, async () => {
    const line = JSON.stringify({ event_type: "compute.util", entity_id: "gpu-00", pid: 1, value: "50" }) + "\n";
    const pushed = await httpsGet(`${https}/api/v1/events`, ca, { authorization: "Bearer tok-123", "content-type": "application/x-ndjson" }, "POST", line);
    assert.equal(pushed.status, 200, pushed.body);
    assert.equal(JSON.parse(pushed.body).accepted, 1);
    const wrong = await httpsGet(`${https}/api/v1/events`, ca, { authorization: "Bearer nope" }, "POST", line);
    assert.equal(wrong.status, 401);
  });
});

describe("a bad --web-config stops start-up", () => {
  it("exits 2 with one line naming the file and the field", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-webcfg-bad-"));
    try {
      const file = join(dir, "web.yml");
      writeFileSync(file, "basic_auth_users:\n  alice: not-a-hash\n");
      const r = await runCli(["--web-config", file, "--port", "0"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /web\.yml: basic_auth_users\.alice: /);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      const missing = await runCli(["--web-config", join(dir, "nope.yml"), "--port", "0"]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /nope\.yml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The exporter runs under this test's runtime (or is the binary): under Deno it cannot ask for client certificates.
const mtlsSkip = !hasOpenssl ? "openssl missing" : runtimeName === "deno" && !process.env.XCTL_BINARY ? "a Deno server cannot request client certificates" : false;

describe("clients of an exporter that asks for a client certificate", { skip: mtlsSkip }, () => {
  let certs: TestCerts;
  let dir: string;
  let ex: RunningExporter;
  let https: string;

  before(async () => {
    certs = makeCerts();
    let file: string;
    ({ dir, file } = _webConfig(certs, "xctl-mtls-", ["  client_auth_type: RequireAndVerifyClientCert", `  client_ca_file: ${certs.path("ca.crt")}`]));
    ex = await startExporter(["--web-config", file], { waitHealthy: false });
    https = ex.url.replace("http:", "https:");
    await eventually(() => /listening on https/.test(ex.stderr()), 20_000, "the exporter to listen");
  }, SLOW);
  after(async () => {
    await ex?.stop();
    certs?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("--cert-file and --key-file present one; without it, or with one it refuses, the line says so (exit 1)", SLOW, async () => {
    const ca = ["--url", https, "--ca-file", certs.path("ca.crt")];
    const ok = await runCli(["status", ...ca, "--cert-file", certs.path("client.crt"), "--key-file", certs.path("client.key")]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /: ready$/m);
    const none = await runCli(["ps", ...ca]);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      `xctl-exporter: cannot reach the exporter at ${https}: the exporter ended the TLS handshake: it asks for a client certificate (client_auth_type): give --cert-file and --key-file\n`,
    );
    const rogue = await runCli(["ps", ...ca, "--cert-file", certs.path("rogue.crt"), "--key-file", certs.path("rogue.key")]);
    assert.equal(rogue.code, 1);
    assert.equal(rogue.stderr, `xctl-exporter: cannot reach the exporter at ${https}: the exporter refused the client certificate: check --cert-file against its client_ca_file\n`);
    const half = await runCli(["ps", ...ca, "--cert-file", certs.path("client.crt")]);
    assert.equal(half.code, 2);
    assert.equal(half.stderr, "xctl-exporter: --cert-file: give --key-file too\n");
  });
});
