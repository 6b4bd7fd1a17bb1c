// Set through its XCTL_* variable, every serve setting with a bad value stops start-up with exit 2
// and one line that names the variable (not the flag, which the user never typed) and the value;
// `replay` likewise for the settings it shares. The README's Flags section promises this.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { SERVE_FLAGS } from "../../src/cli/serve.ts";
import { envName } from "../../src/cli/flags.ts";

const BINARY = process.env.XCTL_BINARY;

/** A bad value per serve flag. Files (--rules, --web-config) are named by their path instead. */
const BAD: Record<string, string> = {
  port: "x",
  host: "256.1.1.1",
  "metrics-path": "metrics",
  probe: "builtin:nope",
  collectors: "foo",
  "path.procfs": "/nonexistent-xctl",
  "path.sysfs": "/nonexistent-xctl",
  stdin: "maybe",
  "error-window": "soon",
  "max-nodes": "0",
  "resource-ttl": "soon",
  "max-line-bytes": "1",
  "max-clock-skew": "soon",
  "max-sse-clients": "0",
  "max-body": "0",
  "ingest-allow-remote": "maybe",
  "ingest-queue-bytes": "x",
  "no-default-rules": "maybe",
  "diagnosis-interval": "soon",
  "scene-settle": "soon",
  "log-level": "loud",
  "log-format": "x",
};
const NOT_CHECKED = new Set(["ingest-token", "rules", "web-config"]);

function _run(args: string[], env: Record<string, string>) {
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", XCTL_HOST: "127.0.0.1", XCTL_PORT: "0", XCTL_COLLECTORS: "none" };
  const r = spawnSync(BINARY!, args, { env: { ...base, ...env }, timeout: 5000, input: "" });
  return { status: r.status, stderr: r.stderr.toString() };
}

describe("bad values set through variables, in the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("has a bad value for every serve flag with a variable", () => {
    for (const [name, def] of Object.entries(SERVE_FLAGS)) {
      if (envName(name, def) === undefined || NOT_CHECKED.has(name)) continue;
      assert.ok(name in BAD, `no bad value for --${name}`);
    }
  });

  for (const [name, value] of Object.entries(BAD)) {
    it(`XCTL variable of --${name}=${JSON.stringify(value)}: exit 2, one line naming the variable and the value`, () => {
      const variable = envName(name, SERVE_FLAGS[name])!;
      const r = _run([], { [variable]: value });
      assert.equal(r.status, 2, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(`xctl-exporter: ${variable}: `), lines[0]);
      assert.ok(lines[0].includes(value), lines[0]);
    });
  }

  it("a probe option refused in XCTL_PROBE names the variable", () => {
    const r = _run([], { XCTL_PROBE: "builtin:procfs?dwait=soon" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'xctl-exporter: XCTL_PROBE builtin:procfs?dwait=soon: dwait must be a duration from 100ms to 24h (e.g. 15s), got "soon"\n');
  });

  it("a diagnosis interval below 1ms names what was set and the value", () => {
    assert.equal(_run(["--diagnosis-interval", "0s"], {}).stderr, 'xctl-exporter: --diagnosis-interval: "0s" is too small (at least 1ms)\n');
    assert.equal(_run([], { XCTL_DIAGNOSIS_INTERVAL: "0ms" }).stderr, 'xctl-exporter: XCTL_DIAGNOSIS_INTERVAL: "0ms" is too small (at least 1ms)\n');
  });

  it("replay names the variables of the rule settings too", () => {
    const r = _run(["replay", "-"], { XCTL_SCENE_SETTLE: "soon" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'xctl-exporter: XCTL_SCENE_SETTLE: "soon" is not a duration (use e.g. 500ms, 30s, 5m, 1h)\n');
  });
});
