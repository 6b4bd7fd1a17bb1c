// Rule reload as operators drive it, against the compiled binary: a Kubernetes ConfigMap volume
// updated by the kubelet's atomic swap (a removed key's link still dangling when the reloader
// sidecar posts /-/reload) reloads the new version with nothing odd logged; a refused reload is
// said by `status` and the landing page with its reason until a good one; a SIGHUP while the
// exporter starts (`systemctl reload` just after a start) reloads once it serves, never kills it.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, run, scrape, startExporter } from "../_helpers.ts";
import { swapConfigMap } from "../fixtures/configmap.ts";

const BINARY = process.env.XCTL_BINARY;

const rule = (scene: string, priority: number) => `name: Rule ${scene}
scene: ${scene}
priority: ${priority}
conditions:
  - {type: event, event_type: error.hw, value_pattern: XID_79}
solution_steps: [{step: 1, action: look, manual: true}]
`;

describe("rule reload as operators drive it, compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const tmp = BINARY ? mkdtempSync(join(tmpdir(), "xctl-reload-ops-")) : "";
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("reloads a ConfigMap volume mid-update: the new version, a removed key gone, nothing odd logged", async () => {
    const dir = join(tmp, "cm");
    mkdirSync(dir);
    swapConfigMap(dir, "..2026_12_02_01_00_00.111", { "a.yaml": rule("site_a", 50), "b.yaml": rule("site_b", 40) });
    const ex = await startExporter(["--rules", dir, "--no-default-rules", "--log-level", "info"]);
    try {
      // The update lands; the sidecar posts before the kubelet deletes b.yaml's link.
      const old = swapConfigMap(dir, "..2026_12_02_01_05_00.222", { "a.yaml": rule("site_a", 60), "c.yaml": rule("site_c", 30) });
      const res = await fetch(`${ex.url}/-/reload`, { method: "POST" });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.deepEqual([body.added, body.removed, body.changed, body.warnings], [["site_c"], ["site_b"], ["site_a"], []]);
      // The kubelet finishes: the removed key's link and the old directory go; another reload changes nothing.
      rmSync(join(dir, "b.yaml"));
      rmSync(join(dir, old!), { recursive: true });
      const again = await (await fetch(`${ex.url}/-/reload`, { method: "POST" })).json();
      assert.deepEqual([again.ok, again.added, again.removed, again.changed], [true, [], [], []]);
      const m = await scrape(ex.url);
      const loaded = [...m.keys()].filter((k) => k.startsWith("xctl_scene_info{")).map((k) => /scene="(\w+)"/.exec(k)![1]);
      assert.deepEqual(loaded.sort(), ["site_a", "site_c"]);
      assert.equal(m.get('xctl_rules_reloads_total{result="failure"}'), 0);
      await eventually(() => ex.stderr().includes("rules reloaded: 2 loaded (2 from"), 5000, `the reload line\n${ex.stderr()}`);
      const odd = ex.stderr().split("\n").filter((l) => / (warn|error) /.test(l) && !l.includes("no sources"));
      assert.deepEqual(odd, []);
    } finally {
      await ex.stop();
    }
  });

  it("says a refused reload, when and why, in status and on the landing page, until a good one", async () => {
    const dir = join(tmp, "plain");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.yaml"), rule("site_a", 50));
    const ex = await startExporter(["--rules", dir, "--log-level", "error"]);
    try {
      writeFileSync(join(dir, "a.yaml"), rule("site_a", 50).replace("priority: 50", "priority: high"));
      process.kill(ex.child.pid!, "SIGHUP");
      const why = `${join(dir, "a.yaml")}:3: priority: must be an integer (got "high")`;
      await eventually(async () => (await scrape(ex.url)).get("xctl_rules_last_reload_successful") === 0, 10_000, "the failed reload");
      const status = await run(BINARY!, ["status", "--url", ex.url], { timeoutMs: 10_000 });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^RULE RELOAD FAILED at \S+: (.*)$/m);
      assert.equal(/^RULE RELOAD FAILED at \S+: (.*)$/m.exec(status.stdout)![1], why);
      assert.match(status.stdout, /^ {2}the 20 rules loaded at \S+ stay in force/m);
      const json = JSON.parse((await run(BINARY!, ["status", "--json", "--url", ex.url], { timeoutMs: 10_000 })).stdout);
      assert.equal(json.rules.last_reload_successful, false);
      assert.equal(json.rules.last_failure.error, why);
      assert.match(await (await fetch(`${ex.url}/`)).text(), /The last rule reload failed at /);

      writeFileSync(join(dir, "a.yaml"), rule("site_a", 50));
      process.kill(ex.child.pid!, "SIGHUP");
      await eventually(async () => (await scrape(ex.url)).get("xctl_rules_last_reload_successful") === 1, 10_000, "the good reload");
      const fixed = await run(BINARY!, ["status", "--url", ex.url], { timeoutMs: 10_000 });
      assert.doesNotMatch(fixed.stdout, /RELOAD FAILED/);
      assert.doesNotMatch(await (await fetch(`${ex.url}/`)).text(), /rule reload failed/);
    } finally {
      await ex.stop();
    }
  });

  it("takes a SIGHUP during start-up as a reload once it serves, not as the end of the process", async () => {
    const dir = join(tmp, "early");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.yaml"), rule("site_a", 50));
    // The web config is a FIFO: start-up, past reading the rules, waits in it until the test writes.
    const fifo = join(tmp, "web.yml");
    execFileSync("mkfifo", [fifo]);
    const ex = await startExporter(["--rules", dir, "--no-default-rules", "--web-config", fifo], { waitHealthy: false });
    try {
      const w = await open(fifo, "w"); // resolves once the exporter opened it to read
      writeFileSync(join(dir, "b.yaml"), rule("site_b", 40));
      process.kill(ex.child.pid!, "SIGHUP");
      await w.writeFile("{}\n");
      await w.close();
      const m = await eventually(async () => {
        if (ex.child.exitCode !== null || ex.child.signalCode !== null) throw new Error(`exited ${ex.child.exitCode ?? ex.child.signalCode}\n${ex.stderr()}`);
        try {
          const s = await scrape(ex.url);
          return s.get('xctl_rules_reloads_total{result="success"}') === 1 ? s : undefined;
        } catch {
          return undefined;
        }
      }, 15_000, `the reload after start-up\n${ex.stderr()}`);
      assert.equal(m.get('xctl_scene_active{scene="site_b"}'), 0, "the rule added during start-up is loaded");
      assert.equal(await ex.stop("SIGTERM"), 0);
    } finally {
      await ex.stop("SIGKILL");
    }
  });
});
