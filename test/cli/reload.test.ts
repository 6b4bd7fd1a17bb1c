// SIGHUP reloads the rules of a running serve, from source on whichever runtime runs the test
// (Node, Bun, Deno): process.on("SIGHUP") in src/runtime/serve.ts. The compiled binary's reload
// is test/binary/rules-site.test.ts's.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, scrape, startExporter } from "../_helpers.ts";

const RULE = (scene: string) => `name: ${scene}
scene: ${scene}
priority: 50
conditions:
  - {type: event, event_type: error.hw}
solution_steps: [{step: 1, action: look, manual: true}]
`;

describe("SIGHUP on this runtime", { skip: process.platform === "win32" && "no SIGHUP on Windows" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-reload-cli-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reloads the --rules directory, and keeps serving", async () => {
    writeFileSync(join(dir, "a.yaml"), RULE("site_a"));
    const ex = await startExporter(["--rules", dir, "--no-default-rules"]);
    try {
      assert.equal((await scrape(ex.url)).get('xctl_scene_info{scene="site_a",severity="warning"}'), 1);
      writeFileSync(join(dir, "b.yaml"), RULE("site_b"));
      process.kill(ex.child.pid!, "SIGHUP");
      const m = await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get('xctl_scene_active{scene="site_b"}') === 0 ? s : undefined;
      }, 10_000, `site_b loaded\n${ex.stderr()}`);
      await eventually(() => ex.stderr().includes(`rules reloaded: 2 loaded (2 from ${dir}); added site_b`), 5000, `the reload line\n${ex.stderr()}`);
      assert.equal(m.get('xctl_rules_reloads_total{result="success"}'), 1);
      assert.equal(m.get("xctl_rules_last_reload_successful"), 1);
      assert.equal(await ex.stop("SIGTERM"), 0);
    } finally {
      await ex.stop();
    }
  });
});
