// HTTPS end to end under whichever runtime runs this file: the real server edge, a real
// client (curl) on 127.0.0.1, certificates made by openssl for the test.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import bcrypt from "bcryptjs";
import { Hono } from "hono";
import { basicAuth, securityHeaders } from "../../src/http/basic-auth.ts";
import { loadWebConfig } from "../../src/http/web-config.ts";
import type { ClientAuthType, TlsSettings } from "../../src/http/web-config.ts";
import { ConfigError } from "../../src/config-error.ts";
import { runtimeName } from "../../src/runtime-name.ts";
import type { RuntimeName } from "../../src/runtime-name.ts";
import { serve } from "../../src/runtime/serve.ts";
import { checkTlsSupport, tlsSupportProblem } from "../../src/runtime/tls.ts";
import { hasOpenssl, makeCerts } from "../fixtures/tls/certs.ts";
import type { TestCerts } from "../fixtures/tls/certs.ts";

const hasCurl = (() => {
  try {
    return spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;
  } catch {
    return false;
  }
})();

const settings = (clientAuth: ClientAuthType, extra: Partial<TlsSettings> = {}): TlsSettings => ({
  cert: "c", key: "k", ca: "ca", clientAuth, minVersion: "TLSv1.2", maxVersion: "TLSv1.3", ...extra,
});

describe("tlsSupportProblem", () => {
  const refused = (rt: RuntimeName, t: TlsSettings) => tlsSupportProblem(t, rt)?.field;
  it("lets Node serve every mode and version range", () => {
    for (const m of ["NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] as const) {
      assert.equal(refused("node", settings(m, { minVersion: "TLSv1.3" })), undefined);
      assert.equal(refused("node", settings(m, { minVersion: "TLSv1", maxVersion: "TLSv1.2" })), undefined);
    }
  });
  it("refuses under Bun the client-cert modes it cannot enforce", () => {
    assert.equal(refused("bun", settings("RequireAndVerifyClientCert", { minVersion: "TLSv1.3" })), undefined);
    assert.equal(refused("bun", settings("RequestClientCert", { maxVersion: "TLSv1.2" })), undefined);
    assert.equal(refused("bun", settings("RequireAnyClientCert")), "tls_server_config.client_auth_type");
    assert.equal(refused("bun", settings("VerifyClientCertIfGiven")), "tls_server_config.client_auth_type");
  });
  it("refuses under Deno client certs and version bounds it cannot enforce", () => {
    assert.equal(refused("deno", settings("NoClientCert", { minVersion: "TLSv1" })), undefined);
    assert.equal(refused("deno", settings("RequestClientCert")), undefined);
    assert.equal(refused("deno", settings("RequireAndVerifyClientCert")), "tls_server_config.client_auth_type");
    assert.equal(refused("deno", settings("RequireAnyClientCert")), "tls_server_config.client_auth_type");
    assert.equal(refused("deno", settings("NoClientCert", { minVersion: "TLSv1.3" })), "tls_server_config.min_version");
    assert.equal(refused("deno", settings("NoClientCert", { maxVersion: "TLSv1.2" })), "tls_server_config.max_version");
  });
  it("throws a ConfigError naming the file", () => {
    assert.throws(() => checkTlsSupport(settings("RequireAndVerifyClientCert"), "web.yml", "deno"), (e: unknown) =>
      e instanceof ConfigError && e.message.startsWith("web.yml: tls_server_config.client_auth_type: "));
  });
});

type Outcome = number | "refused";

describe(`HTTPS under ${runtimeName}`, { skip: !(hasOpenssl && hasCurl) && "needs openssl and curl" }, () => {
  let certs: TestCerts;
  const hash = bcrypt.hashSync("pw", 4);
  let n = 0;

  before(() => {
    certs = makeCerts();
  });
  after(() => certs?.cleanup());

  /** Loads a web-config with these TLS lines, serves a small app with it, runs `body`, stops. */
  async function withServer(tlsLines: string, body: (url: string) => Promise<void>): Promise<"refused" | void> {
    const file = certs.path(`web-${n++}.yml`);
    writeFileSync(file, `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n${tlsLines}` +
      `basic_auth_users:\n  alice: '${hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`);
    const cfg = await loadWebConfig(file);
    assert.ok(cfg.tls);
    const problem = tlsSupportProblem(cfg.tls, runtimeName);
    if (problem) {
      // The edge must refuse too, never serve weaker than asked.
      await assert.rejects(serve({ port: 0, hostname: "127.0.0.1", tls: cfg.tls, fetch: () => new Response("") }));
      return "refused";
    }
    const app = new Hono();
    app.use(securityHeaders(cfg.headers));
    app.use(basicAuth(cfg.users));
    app.get("/metrics", (c) => c.text("up 1\n"));
    const server = await serve({ port: 0, hostname: "127.0.0.1", tls: cfg.tls, fetch: (req) => app.fetch(req) });
    try {
      await body(`https://127.0.0.1:${server.port}/metrics`);
    } finally {
      await server.close();
    }
  }

  /** The HTTP status curl got, or "refused" when no HTTP answer came back. */
  function curl(url: string, ...args: string[]): Promise<Outcome> {
    const cmd = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", "--cacert", certs.path("ca.crt"), "-u", "alice:pw", ...args, url];
    return new Promise((resolve) => {
      execFile("curl", cmd, (_err, stdout) => {
        const code = Number(String(stdout).trim());
        resolve(code > 0 ? code : "refused");
      });
    });
  }
  const client = (who: "none" | "client" | "rogue") => (who === "none" ? [] : ["--cert", certs.path(`${who}.crt`), "--key", certs.path(`${who}.key`)]);

  it("serves HTTPS with basic auth and headers; plain HTTP gets a 400 saying to use https", async () => {
    await withServer("", async (url) => {
      assert.equal(await curl(url), 200);
      assert.equal(await curl(url, "-u", "alice:wrong"), 401);
      assert.equal(await curl(url.replace("https:", "http:")), 400);
      const plain = await new Promise<string>((resolve) => execFile("curl", ["-s", "-m", "10", url.replace("https:", "http:")], (_e, out) => resolve(String(out))));
      assert.match(plain, /^\{"error":"this port serves HTTPS: use https:\/\//);
      const headers = await new Promise<string>((resolve) =>
        execFile("curl", ["-s", "-D", "-", "-o", "/dev/null", "--cacert", certs.path("ca.crt"), url], (_e, out) => resolve(String(out))));
      assert.match(headers, /^HTTP\/[\d.]+ 401/);
      assert.match(headers, /x-content-type-options: nosniff/i);
      assert.match(headers, /www-authenticate: Basic realm="xctl-exporter"/i);
    });
  });

  it("the app sees the real peer address over TLS (the ingest guard's loopback check depends on it)", async () => {
    const file = certs.path(`web-${n++}.yml`);
    writeFileSync(file, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    const cfg = await loadWebConfig(file);
    const server = await serve({ port: 0, hostname: "127.0.0.1", tls: cfg.tls, fetch: (_req, env) => new Response(`peer=${env.remoteAddress}`) });
    try {
      const out = await new Promise<string>((resolve) =>
        execFile("curl", ["-s", "-m", "10", "--cacert", certs.path("ca.crt"), `https://127.0.0.1:${server.port}/`], (_e, o) => resolve(String(o))));
      assert.equal(out, "peer=127.0.0.1");
    } finally {
      await server.close();
    }
  });

  // What each client gets, per mode: [no certificate, CA-signed certificate, self-signed one].
  const MODES: Array<[ClientAuthType, Outcome[]]> = [
    ["NoClientCert", [200, 200, 200]],
    ["RequestClientCert", [200, 200, 200]],
    ["RequireAnyClientCert", ["refused", 200, 200]],
    ["VerifyClientCertIfGiven", [200, 200, "refused"]],
    ["RequireAndVerifyClientCert", ["refused", 200, "refused"]],
  ];
  for (const [mode, expected] of MODES) {
    it(`client_auth_type ${mode}`, async () => {
      const ca = mode === "NoClientCert" ? "" : "  client_ca_file: ca.crt\n";
      const result = await withServer(`  client_auth_type: ${mode}\n${ca}`, async (url) => {
        const got = [await curl(url, ...client("none")), await curl(url, ...client("client")), await curl(url, ...client("rogue"))];
        assert.deepEqual(got, expected);
      });
      const expectRefused = (runtimeName === "bun" && (mode === "RequireAnyClientCert" || mode === "VerifyClientCertIfGiven")) ||
        (runtimeName === "deno" && mode !== "NoClientCert" && mode !== "RequestClientCert");
      assert.equal(result === "refused", expectRefused);
    });
  }

  it("min_version TLS13 turns away a TLS 1.2 client", async () => {
    const result = await withServer("  min_version: TLS13\n", async (url) => {
      assert.equal(await curl(url, "--tls-max", "1.2"), "refused");
      assert.equal(await curl(url, "--tlsv1.3"), 200);
    });
    assert.equal(result === "refused", runtimeName === "deno");
  });

  it("max_version TLS12 turns away a TLS-1.3-only client", async () => {
    const result = await withServer("  max_version: TLS12\n", async (url) => {
      assert.equal(await curl(url, "--tlsv1.3"), "refused");
      assert.equal(await curl(url, "--tls-max", "1.2"), 200);
    });
    assert.equal(result === "refused", runtimeName === "deno");
  });

  it("default versions: TLS 1.2 and 1.3 served", async () => {
    await withServer("", async (url) => {
      assert.equal(await curl(url, "--tls-max", "1.2"), 200);
      assert.equal(await curl(url, "--tlsv1.3"), 200);
    });
  });
});
