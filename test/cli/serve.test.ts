// The serve command as a user meets it: flags, exit statuses, endpoints, shutdown.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { request } from "node:http";
import { spawn, spawnSync } from "node:child_process";
import { eventually, exporterCommand, freePort, runCli, startExporter, waitFor, type RunningExporter } from "../_helpers.ts";
import { SEED_METRICS } from "../../src/metrics/names.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";

describe("bad usage exits 2 with one line", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown flag --bogus/],
    [["--port", "70000"], /--port: "70000" is out of range \(a port number is 0-65535\)/],
    [["--port", "-1"], /--port: "-1" is out of range/],
    [["--prot", "1"], /unknown flag --prot \(did you mean --port\?\)/],
    [["--host", "256.1.1.1"], /--host: "256\.1\.1\.1" is not an IPv4 address/],
    [["--web.listen-address", "nope"], /--web\.listen-address: "nope" is not \[host\]:port/],
    [["--web.listen-address", "127.0.0.1:99999"], /--web\.listen-address: "99999" is out of range/],
    // node_exporter listens on each address given; one address only here, said rather than the last taken in silence.
    [["--web.listen-address", "127.0.0.1:0", "--web.listen-address", "[::1]:0"], /^xctl-exporter: --web\.listen-address: given 2 times \(127\.0\.0\.1:0; \[::1\]:0\); xctl-exporter listens on one \(\[::\]:PORT is every address\)\n$/],
    [["--log.format", "pretty"], /--log\.format: "pretty" is not one of logfmt, json/],
    [["stauts"], /unknown command "stauts" \(did you mean status\?\)/],
    [["--port", "abc"], /--port: "abc" is not a port number/],
    [["--log-format", "xml"], /--log-format: "xml" is not one of pretty, logfmt, json/],
    [["--error-window", "five"], /--error-window: "five" is not a duration/],
    [["--metrics-path", "metrics"], /--metrics-path: "metrics" must start with \//],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["version", "--json"], /unknown flag --json/],
    [["version", "now"], /version: unexpected argument "now"/],
    [["help", "ps", "--foo"], /unknown flag --foo/],
    [["help", "ps", "why"], /help: unexpected argument "why"/],
    [["why", "2147483648"], /why: "2147483648" is not a pid \(an integer from 0 to 2147483647\)/],
    [["ps", "-o=yaml"], /-o: "yaml" is not one of table, wide, json/],
    [["--error-window", "0s"], /--error-window: "0s" is too small \(at least 1s\)/],
    [["--max-clock-skew", "0s"], /--max-clock-skew: "0s" is too small \(at least 1s\)/],
    [["--max-line-bytes", "10"], /--max-line-bytes: "10" is too small \(at least 256 bytes\)/],
    [["replay", "--error-window", "500ms", "x.ndjson"], /--error-window: "500ms" is too small/],
    [["rules", "chek", "rules"], /rules: unknown sub-command "chek" \(did you mean check\?\)/],
  ];
  for (const [args, message] of cases) {
    it(args.join(" "), async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    });
  }
  it("a bad XCTL_* variable names the variable, not a flag the user never typed", async () => {
    for (const [env, message] of [
      [{ XCTL_PORT: "99999" }, /^xctl-exporter: XCTL_PORT: "99999" is out of range/],
      [{ XCTL_MAX_NODES: "0" }, /^xctl-exporter: XCTL_MAX_NODES: "0" is not an integer from 100 to/],
      [{ XCTL_LOG_FORMAT: "xml" }, /^xctl-exporter: XCTL_LOG_FORMAT: "xml" is not one of/],
      [{ XCTL_COLLECTORS: "gpu" }, /^xctl-exporter: XCTL_COLLECTORS: unknown collector "gpu"/],
      [{ XCTL_PATH_PROCFS: "/nonexistent-procfs" }, /^xctl-exporter: XCTL_PATH_PROCFS: "\/nonexistent-procfs" does not exist/],
    ] as const) {
      const r = await runCli([], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });

  it("a misspelt XCTL_* variable is named at start-up with the one it resembles (a warning: it would be ignored in silence)", async () => {
    const ex = await startExporter([], { env: { XCTL_MAX_NODE: "500", XCTL_SITE_TAG: "rack-7" } });
    try {
      await eventually(() => /listening on/.test(ex.stderr()), 20_000, "the start-up log");
      assert.match(ex.stderr(), /warn +XCTL_MAX_NODE is not a variable of xctl-exporter and is ignored \(did you mean XCTL_MAX_NODES\?\)/);
      assert.doesNotMatch(ex.stderr(), /XCTL_SITE_TAG/, "a name like no variable of ours is someone else's");
    } finally {
      assert.equal(await ex.stop(), 0);
    }
  });

  it("a well-formed address this host does not have: exit 1, one line saying so", async () => {
    const r = await runCli(["--host", "192.0.2.77", "--port", "0"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot listen on 192\.0\.2\.77:0: no interface of this host has that address \(--host/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });

  it("a host name that does not resolve: exit 1, one line saying so (Bun calls it a port in use)", async () => {
    // `.invalid` never resolves (RFC 6761). Bun.serve reports a failed lookup as "Failed to start
    // server. Is port 0 in use?" (EADDRINUSE), which sent an operator after a port conflict.
    for (const [args, label] of [
      [["--host", "nosuchhost.invalid", "--port", "0"], "--host"],
      [["--web.listen-address", "nosuchhost.invalid:0"], "--web.listen-address"],
    ] as const) {
      const r = await runCli([...args, "--collectors", "none"]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim(), `xctl-exporter: cannot listen on nosuchhost.invalid:0: ${label} names a host that does not resolve`);
    }
  });
});

describe("node_exporter's flag names", () => {
  it("--web.listen-address, --web.telemetry-path and --log.format mean what they mean there", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const [cmd, ...pre] = exporterCommand();
    const child = spawn(cmd, [...pre, "--web.listen-address", `127.0.0.1:${port}`, "--web.telemetry-path", "/prom", "--log.format", "logfmt"], {
      env: { ...process.env, XCTL_COLLECTORS: "none" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await waitFor(`http://127.0.0.1:${port}/healthz`, exited);
      const res = await fetch(`http://127.0.0.1:${port}/prom`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^# HELP xctl_/m);
      assert.match(err, /^ts=\S+ level=info msg="xctl-exporter [^"]* listening on http:\/\/127\.0\.0\.1:\d+\/prom; /m);
    } finally {
      process.kill(child.pid!, "SIGTERM");
      await exited;
    }
  });
});

describe("--version and --help", () => {
  it("prints the package version", async () => {
    const r = await runCli(["--version"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
  it("lists the flags with their environment variables", async () => {
    const r = await runCli(["--help"]);
    assert.equal(r.code, 0);
    for (const flag of ["--port", "--host", "--metrics-path", "--log-level", "--log-format", "XCTL_PORT"]) assert.ok(r.stdout.includes(flag), flag);
  });
  it("one help per command, 80 columns and no colour when piped", async () => {
    const root = await runCli(["--help"]);
    assert.equal((root.stdout.match(/^Usage:/gm) ?? []).length, 1, "one help, not two run together");
    assert.match(root.stdout, /^Commands:\n {2}serve /m);
    for (const [args, usage] of [
      [["ps", "--help"], "xctl-exporter ps [FLAGS]"],
      [["help", "status"], "xctl-exporter status [FLAGS]"],
      [["rules", "check", "--help"], "xctl-exporter rules check PATH... [--strict]"],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`Usage: ${usage}\n`), r.stdout);
      assert.equal((r.stdout.match(/^Usage:/gm) ?? []).length, 1);
    }
    for (const r of [root, await runCli(["help", "ps"])]) {
      assert.ok(!r.stdout.includes("\u001b"), "no ANSI codes into a pipe");
      for (const l of r.stdout.split("\n")) assert.ok(l.length <= 80, `over 80 columns: ${l}`);
    }
  });
  const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
  it("bold headings on a terminal, none with NO_COLOR", { skip: !hasScript && "script (util-linux) not installed" }, async () => {
    const cmd = [...exporterCommand(), "help", "ps"].map((a) => `'${a}'`).join(" ");
    const tty = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "" }, timeout: 30_000 });
    assert.equal(tty.status, 0, tty.stderr);
    assert.ok(tty.stdout.includes("\u001b[1mUsage:"), JSON.stringify(tty.stdout.slice(0, 80)));
    const plain = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 30_000 });
    assert.ok(plain.stdout.includes("Usage:") && !plain.stdout.includes("\u001b["), JSON.stringify(plain.stdout.slice(0, 80)));
  });
  it("version: the version, the runtime and how it was built", async () => {
    for (const args of [["version"], ["--version"]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^\d+\.\d+\.\d+\n {2}runtime: (bun|deno|node) \S+ on linux\/\w+\n {2}build: {3}\S/);
    }
  });
});

describe("a running exporter", () => {
  let ex: RunningExporter;
  after(() => ex?.stop());

  it("serves every seed metric with its type, and all twelve event types at 0", async () => {
    ex = await startExporter(["--metrics-path", "/m"]);
    const res = await fetch(`${ex.url}/m`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    for (const [name, type] of Object.entries(SEED_METRICS)) assert.ok(body.includes(`# TYPE ${name} ${type}\n`), `${name} ${type}`);
    for (const t of EVENT_TYPES) assert.ok(body.includes(`xctl_events_by_type{event_type="${t}"} 0\n`), t);
    assert.match(body, /^xctl_build_info\{version="[^"]+",runtime="(bun|deno|node)"\} 1$/m);
    assert.match(body, /^xctl_diagnosis_latency_seconds_bucket\{le="0\.0001"\} 0$/m);
    assert.match(body, /^xctl_diagnosis_latency_seconds_bucket\{le="10"\} 0$/m);
    assert.equal((await fetch(`${ex.url}/metrics`)).status, 404, "the path moved");
  });

  it("answers HEAD without a body and gzips when asked", async () => {
    const head = await fetch(`${ex.url}/m`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
    // fetch would decompress transparently; read the raw bytes instead.
    const raw = await new Promise<{ enc: string | undefined; body: Buffer }>((resolve, reject) => {
      request(`${ex.url}/m`, { headers: { "accept-encoding": "gzip" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d) => parts.push(d));
        res.on("end", () => resolve({ enc: res.headers["content-encoding"], body: Buffer.concat(parts) }));
      }).on("error", reject).end();
    });
    assert.equal(raw.enc, "gzip");
    assert.match(gunzipSync(raw.body).toString(), /# TYPE xctl_events_total counter/);
  });

  it("has a landing page, health, readiness and JSON errors", async () => {
    const landing = await fetch(`${ex.url}/`);
    assert.equal(landing.status, 200);
    const html = await landing.text();
    assert.match(html, /href="m"/);
    assert.match(html, /healthz/);
    assert.equal((await fetch(`${ex.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${ex.url}/readyz`)).status, 200);
    const missing = await fetch(`${ex.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "not found: GET /nope" });
  });

  it("a second exporter on the same port exits 1 with one line", async () => {
    const r = await runCli(["--host", "127.0.0.1", "--port", String(ex.port)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /address already in use/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });

  it("SIGTERM exits 0", async () => {
    assert.equal(await ex.stop("SIGTERM"), 0);
  });

  it("SIGINT exits 0, flags can come from XCTL_* variables", async () => {
    const other = await startExporter([], { env: { XCTL_METRICS_PATH: "/x", XCTL_LOG_FORMAT: "json" } });
    try {
      assert.equal((await fetch(`${other.url}/x`)).status, 200);
      const firstLog = JSON.parse(other.stderr().trim().split("\n")[0]);
      assert.equal(firstLog.level, "info");
      assert.match(firstLog.msg, /listening on/);
    } finally {
      assert.equal(await other.stop("SIGINT"), 0);
    }
  });
});
