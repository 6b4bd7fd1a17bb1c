import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { loadWebConfig } from "../../src/http/web-config.ts";
import { ConfigError } from "../../src/config-error.ts";
import { hasOpenssl, makeCerts } from "../fixtures/tls/certs.ts";
import type { TestCerts } from "../fixtures/tls/certs.ts";

const HASH = bcrypt.hashSync("s3cret", 4);
const TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

// Each bad file, the field its error must name, and a piece of the reason.
const BAD: Array<[string, string, string, RegExp]> = [
  ["not YAML", "tls_server_config: [unclosed\n", "", /not valid YAML/],
  ["duplicate key", "basic_auth_users: {}\nbasic_auth_users: {}\n", "", /not valid YAML/],
  ["a list at the top", "- a\n- b\n", "", /mapping/],
  ["unknown top-level key", "basic_auth_user: {}\n", "basic_auth_user", /unknown key/],
  ["rate_limit", "rate_limit:\n  interval: 1s\n  burst: 2\n", "rate_limit", /not supported/],
  ["tls section not a mapping", "tls_server_config: 3\n", "tls_server_config", /mapping/],
  ["unknown tls key", TLS + "  foo: bar\n", "tls_server_config.foo", /unknown key/],
  ["cipher_suites", TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "tls_server_config.cipher_suites", /not supported/],
  ["client_allowed_sans", TLS + "  client_allowed_sans: [a]\n", "tls_server_config.client_allowed_sans", /not supported/],
  ["cert_file not a string", "tls_server_config:\n  cert_file: 12\n  key_file: server.key\n", "tls_server_config.cert_file", /string/],
  ["no key_file", "tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file", /required/],
  ["no cert_file", "tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file", /required/],
  ["only min_version", "tls_server_config:\n  min_version: TLS13\n", "tls_server_config.cert_file", /required/],
  ["cert_file missing", "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n", "tls_server_config.cert_file", /no such file/],
  ["cert_file a directory", "tls_server_config:\n  cert_file: subdir\n  key_file: server.key\n", "tls_server_config.cert_file", /directory/],
  ["cert_file not PEM", "tls_server_config:\n  cert_file: garbage.txt\n  key_file: server.key\n", "tls_server_config.cert_file", /no PEM certificate/],
  ["cert_file corrupt PEM", "tls_server_config:\n  cert_file: corrupt.crt\n  key_file: server.key\n", "tls_server_config.cert_file", /cannot be parsed/],
  ["key_file is a certificate", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n", "tls_server_config.key_file", /no PEM private key/],
  ["key_file corrupt", "tls_server_config:\n  cert_file: server.crt\n  key_file: corrupt.key\n", "tls_server_config.key_file", /cannot be parsed/],
  ["key_file encrypted", "tls_server_config:\n  cert_file: server.crt\n  key_file: encrypted.key\n", "tls_server_config.key_file", /encrypted/],
  ["key_file of another cert", "tls_server_config:\n  cert_file: server.crt\n  key_file: rogue.key\n", "tls_server_config.key_file", /does not match/],
  ["cert and cert_file", TLS + "  cert: x\n", "tls_server_config.cert_file", /not both/],
  ["bad client_auth_type", TLS + "  client_auth_type: Always\n", "tls_server_config.client_auth_type", /one of .*RequireAndVerifyClientCert/],
  ["verify without CA", TLS + "  client_auth_type: RequireAndVerifyClientCert\n", "tls_server_config.client_ca_file", /required/],
  ["verify-if-given without CA", TLS + "  client_auth_type: VerifyClientCertIfGiven\n", "tls_server_config.client_ca_file", /required/],
  ["CA without client auth", TLS + "  client_ca_file: ca.crt\n", "tls_server_config.client_auth_type", /NoClientCert/],
  ["CA file without certificates", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n", "tls_server_config.client_ca_file", /no PEM certificate/],
  ["CA file missing", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: no-ca.crt\n", "tls_server_config.client_ca_file", /no such file/],
  ["unknown min_version", TLS + "  min_version: TLS14\n", "tls_server_config.min_version", /TLS10, TLS11, TLS12, TLS13/],
  ["numeric min_version", TLS + "  min_version: 1.2\n", "tls_server_config.min_version", /string/],
  ["min above max", TLS + "  min_version: TLS13\n  max_version: TLS12\n", "tls_server_config.min_version", /above/],
  ["users as a list", "basic_auth_users:\n  - alice\n", "basic_auth_users", /mapping/],
  ["plain password", "basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice", /not a bcrypt hash/],
  ["numeric password", "basic_auth_users:\n  alice: 1234\n", "basic_auth_users.alice", /bcrypt hash string/],
  ["unknown bcrypt version", `basic_auth_users:\n  alice: '${HASH.replace(/^\$2b\$/, "$2x$")}'\n`, "basic_auth_users.alice", /not a bcrypt hash/],
  ["bcrypt cost too low", `basic_auth_users:\n  alice: '${HASH.replace(/^\$2b\$04\$/, "$2b$03$")}'\n`, "basic_auth_users.alice", /not a bcrypt hash/],
  ["truncated hash", `basic_auth_users:\n  alice: '${HASH.slice(0, 59)}'\n`, "basic_auth_users.alice", /not a bcrypt hash/],
  ["user with a colon", `basic_auth_users:\n  "al:ice": '${HASH}'\n`, "basic_auth_users.al:ice", /':'/],
  ["http section not a mapping", "http_server_config: [a]\n", "http_server_config", /mapping/],
  ["unknown http key", "http_server_config:\n  gzip: true\n", "http_server_config.gzip", /unknown key/],
  ["http2 not a boolean", "http_server_config:\n  http2: 'yes'\n", "http_server_config.http2", /true or false/],
  ["forbidden header", "http_server_config:\n  headers:\n    Content-Type: text/html\n", "http_server_config.headers.Content-Type", /cannot be configured/],
  ["forbidden header Set-Cookie", "http_server_config:\n  headers:\n    Set-Cookie: a=b\n", "http_server_config.headers.Set-Cookie", /cannot be configured/],
  ["header not a string", "http_server_config:\n  headers:\n    X-XSS-Protection: 1\n", "http_server_config.headers.X-XSS-Protection", /string/],
  ["header with a line break", 'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n', "http_server_config.headers.Content-Security-Policy", /line breaks/],
  ["bad X-Frame-Options", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "http_server_config.headers.X-Frame-Options", /deny, sameorigin/],
  ["bad X-Content-Type-Options", "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", "http_server_config.headers.X-Content-Type-Options", /nosniff/],
  ["excluded path without slash", "auth_excluded_paths: [healthz]\n", "auth_excluded_paths[0]", /'\/'/],
];

describe("loadWebConfig", { skip: !hasOpenssl && "openssl is not installed" }, () => {
  let certs: TestCerts;
  let n = 0;
  const write = (text: string): string => {
    const file = join(certs.dir, `web-${n++}.yml`);
    writeFileSync(file, text);
    return file;
  };

  before(() => {
    certs = makeCerts();
    mkdirSync(certs.path("subdir"));
    writeFileSync(certs.path("garbage.txt"), "not a certificate\n");
    writeFileSync(certs.path("corrupt.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    writeFileSync(certs.path("corrupt.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  });
  after(() => certs?.cleanup());

  it("refuses a file that does not exist, naming it", async () => {
    const file = join(certs.dir, "absent.yml");
    await assert.rejects(loadWebConfig(file), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.file, file);
      assert.equal(e.field, "");
      assert.match(e.message, /^.*absent\.yml: cannot read the file: no such file$/);
      return true;
    });
  });

  for (const [name, text, field, reason] of BAD) {
    it(`refuses ${name} (${field || "the file"})`, async () => {
      const file = write(text);
      await assert.rejects(loadWebConfig(file), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.field, field);
        assert.match(e.reason, reason);
        assert.equal(e.message, field ? `${file}: ${field}: ${e.reason}` : `${file}: ${e.reason}`);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      });
    });
  }

  it("does not echo a bad password value in the error", async () => {
    const file = write("basic_auth_users:\n  alice: hunter2\n");
    await assert.rejects(loadWebConfig(file), (e: Error) => !e.message.includes("hunter2"));
  });

  it("loads an empty file as no TLS, no auth, no headers", async () => {
    const cfg = await loadWebConfig(write(""));
    assert.equal(cfg.tls, undefined);
    assert.equal(cfg.users.size, 0);
    assert.deepEqual(cfg.headers, {});
    assert.deepEqual(cfg.authExcludedPaths, []);
  });

  it("loads a full file, resolving cert paths against the file's directory", async () => {
    const y = HASH.replace(/^\$2b\$/, "$2y$");
    const file = write(
      TLS +
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n  prefer_server_cipher_suites: true\n" +
        "http_server_config:\n  http2: false\n  headers:\n    x-frame-options: DENY\n    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n" +
        `basic_auth_users:\n  alice: '${HASH}'\n  bob: '${y}'\n` +
        "auth_excluded_paths: [/healthz]\n",
    );
    const cfg = await loadWebConfig(file);
    assert.ok(cfg.tls);
    assert.equal(cfg.tls.cert, readFileSync(certs.path("server.crt"), "utf8"));
    assert.equal(cfg.tls.key, readFileSync(certs.path("server.key"), "utf8"));
    assert.equal(cfg.tls.ca, readFileSync(certs.path("ca.crt"), "utf8"));
    assert.equal(cfg.tls.clientAuth, "RequireAndVerifyClientCert");
    assert.equal(cfg.tls.minVersion, "TLSv1.3");
    assert.equal(cfg.tls.maxVersion, "TLSv1.3");
    assert.deepEqual([...cfg.users], [["alice", HASH], ["bob", y]]);
    // Names in canonical spelling; a blank value means unset.
    assert.deepEqual(cfg.headers, { "X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=31536000" });
    assert.deepEqual(cfg.authExcludedPaths, ["/healthz"]);
  });

  it("defaults to TLS 1.2 up to 1.3 and no client certificate", async () => {
    const cfg = await loadWebConfig(write(TLS));
    assert.deepEqual(
      { auth: cfg.tls?.clientAuth, min: cfg.tls?.minVersion, max: cfg.tls?.maxVersion, ca: cfg.tls?.ca },
      { auth: "NoClientCert", min: "TLSv1.2", max: "TLSv1.3", ca: undefined },
    );
  });

  it("accepts inline PEM and the old RequireClientCert name", async () => {
    const indent = (s: string) => s.trim().replace(/\n/g, "\n    ");
    const file = write(
      "tls_server_config:\n" +
        `  cert: |\n    ${indent(readFileSync(certs.path("server.crt"), "utf8"))}\n` +
        `  key: |\n    ${indent(readFileSync(certs.path("server.key"), "utf8"))}\n` +
        "  client_auth_type: RequireClientCert\n",
    );
    const cfg = await loadWebConfig(file);
    assert.equal(cfg.tls?.clientAuth, "RequireAnyClientCert");
    assert.match(cfg.tls?.cert ?? "", /BEGIN CERTIFICATE/);
  });

  it("accepts an absolute cert path", async () => {
    const file = write(`tls_server_config:\n  cert_file: ${certs.path("server.crt")}\n  key_file: ${certs.path("server.key")}\n`);
    assert.ok((await loadWebConfig(file)).tls);
  });

  it("reports an unreadable cert file", { skip: process.getuid?.() === 0 && "root reads everything" }, async () => {
    const { chmodSync, copyFileSync } = await import("node:fs");
    copyFileSync(certs.path("server.crt"), certs.path("locked.crt"));
    chmodSync(certs.path("locked.crt"), 0o000);
    const file = write("tls_server_config:\n  cert_file: locked.crt\n  key_file: server.key\n");
    await assert.rejects(loadWebConfig(file), (e: ConfigError) => e.field === "tls_server_config.cert_file" && /permission denied/.test(e.reason));
  });
});
