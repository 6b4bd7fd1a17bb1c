// Reloading the rule set (SIGHUP) keeps what the diagnosis knows for what did not change: an
// event condition's window (by its canonical form), a scene's active state, activations and
// settle time; a removed scene leaves the metrics, a new one shows at 0; a bad rule file leaves
// the rules in force and says so in the metrics; reloads are serialised; the asynchronous reading
// refuses exactly what start-up refuses.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadRuleSet, parseRule } from "../../src/diagnosis/rules-load.ts";
import { describeReload, loadRuleSetAsync } from "../../src/diagnosis/rules-reload.ts";
import type { Rule } from "../../src/diagnosis/rule.ts";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { ev, scenario, start } from "./_scenario.ts";

const BAD = fileURLToPath(new URL("../fixtures/rules-bad/", import.meta.url));
const TMP = mkdtempSync(join(tmpdir(), "xctl-reload-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** A site rule on a GPU fault held by the event window: nothing in the graph keeps it. */
const XID = `name: Site Xid
scene: site_xid
priority: 80
conditions:
  - {type: event, event_type: error.hw, entity_id_pattern: "gpu-*", value_pattern: XID_79}
solution_steps: [{step: 1, action: drain the node, manual: true}]
`;

/** A site threshold rule on GPU utilisation. */
function util(threshold: number, scene = "site_util"): string {
  return `name: Site util
scene: ${scene}
priority: 30
conditions:
  - {type: metric, node_type: resource, entity_id_pattern: "gpu-*", metrics: [{key: util, op: gte, target: ${threshold}}]}
solution_steps: [{step: 1, action: look, manual: true}]
`;
}

const rule = (text: string): Rule => parseRule(text, "site.yaml");

/** A scenario running the two site rules alone, with a GPU fault in the window and util 60 on gpu-0. */
function _busyHost(threshold = 50) {
  const s = scenario({ rules: [rule(XID), rule(util(threshold))] });
  s.send(start(7));
  s.send(ev("compute.util", "gpu-0", "60", 7));
  s.send(ev("error.hw", "gpu-1", "XID_79"));
  return s;
}

describe("a reload keeps what is known", () => {
  it("keeps a window-held event condition through a reload that changes an unrelated rule's threshold", () => {
    const s = _busyHost();
    const st = s.ex.diagnosis;
    try {
      assert.deepEqual(s.scenes().sort(), ["site_util", "site_xid"]);
      const change = s.ex.engine.setRules([rule(XID), rule(util(80))]);
      assert.deepEqual([change.added, change.removed, change.changed], [[], [], ["site_util"]]);
      assert.equal(change.windowsKept, 1, "the Xid condition's window was taken over");
      assert.equal(change.windowsNew, 0);
      assert.deepEqual(s.scenes(), ["site_xid"], "the fault before the reload still holds; util 60 is under 80");
      assert.ok(st.active.has("site_xid"));
      assert.equal(st.activations.get("site_xid"), 1, "active before and after: not activated again");
      assert.ok(!st.active.has("site_util"), "the changed rule's verdict (settle 0 here)");
      assert.equal(st.activations.get("site_util"), 1);
    } finally {
      void s.ex.stop();
    }
  });

  it("a changed event condition starts with an empty window; an unchanged one in a changed rule keeps its own", () => {
    const s = _busyHost();
    try {
      s.scenes();
      // The same condition spelt with its keys in another order shares the canonical form.
      const respelt = XID.replace('{type: event, event_type: error.hw, entity_id_pattern: "gpu-*", value_pattern: XID_79}', '{value_pattern: XID_79, entity_id_pattern: "gpu-*", event_type: error.hw, type: event}');
      let change = s.ex.engine.setRules([rule(respelt.replace("priority: 80", "priority: 81")), rule(util(50))]);
      assert.deepEqual([change.changed, change.windowsKept], [["site_xid"], 1]);
      assert.deepEqual(s.scenes().sort(), ["site_util", "site_xid"]);
      change = s.ex.engine.setRules([rule(XID.replace("XID_79", "XID_79|XID_48")), rule(util(50))]);
      assert.deepEqual([change.changed, change.windowsKept, change.windowsNew], [["site_xid"], 0, 1]);
      assert.deepEqual(s.scenes(), ["site_util"], "a new condition has seen no event yet");
    } finally {
      void s.ex.stop();
    }
  });

  it("keeps a scene active across a reload with its activations and its settle time", () => {
    const s = scenario({ rules: [rule(XID), rule(util(50))], sceneSettleMs: 60_000 });
    const st = s.ex.diagnosis;
    try {
      s.send(start(7));
      s.send(ev("compute.util", "gpu-0", "60", 7));
      s.scenes();
      const runs = st.runs;
      assert.equal(st.byScene.get("site_util"), 1);
      s.ex.engine.setRules([rule(XID), rule(util(90))]);
      s.ex.engine.runNow("auto");
      assert.ok(st.active.has("site_util"), "it stopped holding, and clears only after the settle time");
      assert.equal(st.activations.get("site_util"), 1);
      assert.equal(st.byScene.get("site_util"), 1, "counts kept");
      assert.equal(st.runs, runs + 1);
      s.send(ev("compute.util", "gpu-0", "95", 7), 61_000);
      s.scenes();
      assert.equal(st.activations.get("site_util"), 1, "held again within the settle time: the same activation");
    } finally {
      void s.ex.stop();
    }
  });

  it("reports a brief match of an unchanged rule, seen before the reload, in the run after it", () => {
    const s = scenario({ rules: [rule(XID), rule(util(50))], errorWindowMs: 100, diagnosisIntervalMs: 10_000 });
    try {
      s.send(ev("error.hw", "gpu-1", "XID_79"), 1);
      s.send(ev("compute.util", "gpu-0", "10"), 500); // the fault has left the window: a brief match
      s.ex.engine.setRules([rule(XID), rule(util(80))]);
      const run = s.ex.engine.runNow("auto");
      assert.deepEqual(run.matches.map((m) => m.scene), ["site_xid"]);
      assert.equal(s.ex.diagnosis.activations.get("site_xid"), 1);
    } finally {
      void s.ex.stop();
    }
  });

  it("takes a removed scene out of the state and /metrics, and shows a new one at 0", async () => {
    const s = _busyHost();
    try {
      s.scenes();
      assert.match(await s.ex.metrics.render(), /^xctl_scene_active\{scene="site_util"\} 1$/m);
      const change = s.ex.engine.setRules([rule(XID), rule(util(50, "site_util_hot"))]);
      assert.deepEqual([change.added, change.removed], [["site_util_hot"], ["site_util"]]);
      s.ex.engine.runNow("auto");
      const st = s.ex.diagnosis;
      assert.deepEqual([...st.byScene.keys()].sort(), ["site_util_hot", "site_xid"]);
      const page = await s.ex.metrics.render();
      assert.doesNotMatch(page, /scene="site_util"/, "no series of the removed scene");
      assert.match(page, /^xctl_scene_activations_total\{scene="site_xid"\} 1$/m);
      assert.match(page, /^xctl_scene_active\{scene="site_util_hot"\} 1$/m, "the new rule judged at once");
      assert.match(page, /^xctl_scene_info\{scene="site_util_hot",severity="info"\} 1$/m);
    } finally {
      void s.ex.stop();
    }
  });

  it("starts a scene removed and loaded again between two scrapes at 0, not at its old count", async () => {
    const s = _busyHost();
    try {
      s.scenes();
      let page = await s.ex.metrics.render();
      assert.match(page, /^xctl_diagnoses_by_scene\{scene="site_xid"\} 1$/m);
      s.ex.engine.setRules([rule(util(50))]);
      s.ex.engine.setRules([rule(XID), rule(util(50))]);
      page = await s.ex.metrics.render();
      assert.match(page, /^xctl_diagnoses_by_scene\{scene="site_xid"\} 0$/m);
      assert.match(page, /^xctl_scene_activations_total\{scene="site_xid"\} 0$/m);
    } finally {
      void s.ex.stop();
    }
  });
});

describe("reloading from a directory", () => {
  function _exporter(dir: string) {
    const lines: string[] = [];
    const log = createLogger("silent");
    for (const level of ["info", "warn", "error"] as const) log[level] = ((m: string) => lines.push(`${level} ${m}`)) as never;
    const ex = new Exporter({ log, processMetrics: false, liveClock: false, sceneSettleMs: 0, rules: loadRuleSet({ dir, defaults: false }), ruleSource: { dir, defaults: false } });
    return { ex, lines };
  }

  it("keeps the rules in force when a file is bad, says where in one line and in the metrics, and loads the fixed set", async () => {
    const dir = join(TMP, "site");
    mkdirSync(dir);
    writeFileSync(join(dir, "xid.yaml"), XID);
    writeFileSync(join(dir, "util.yaml"), util(50));
    const { ex, lines } = _exporter(dir);
    try {
      ex.ingest.object(ev("error.hw", "gpu-1", "XID_79"), "test");
      ex.engine.runNow("auto");
      assert.ok(ex.diagnosis.active.has("site_xid"));
      writeFileSync(join(dir, "util.yaml"), util(50).replace("priority: 30", "priority: high"));
      const out = await ex.reloadRules();
      assert.equal(out.ok, false);
      assert.deepEqual(lines, [`error rules reload failed, the 2 rules loaded before stay in force: ${join(dir, "util.yaml")}:3: priority: must be an integer (got "high")`]);
      assert.deepEqual(ex.engine.rules.map((r) => r.scene).sort(), ["site_util", "site_xid"]);
      assert.ok(ex.diagnosis.active.has("site_xid"), "the old rules still answer");
      let page = await ex.metrics.render();
      assert.match(page, /^xctl_rules_last_reload_successful 0$/m);
      assert.match(page, /^xctl_rules_reloads_total\{result="failure"\} 1$/m);
      const before = ex.rulesReload.lastSuccessMs;

      writeFileSync(join(dir, "util.yaml"), util(55));
      writeFileSync(join(dir, "more.yaml"), util(99, "site_util_hot"));
      lines.length = 0;
      assert.equal((await ex.reloadRules()).ok, true);
      assert.deepEqual(lines, [`info rules reloaded: 3 loaded (3 from ${dir}); added site_util_hot; changed site_util`]);
      page = await ex.metrics.render();
      assert.match(page, /^xctl_rules_last_reload_successful 1$/m);
      assert.match(page, /^xctl_rules_reloads_total\{result="success"\} 1$/m);
      assert.ok(ex.rulesReload.lastSuccessMs >= before);
      assert.equal(ex.diagnosis.activations.get("site_xid"), 1);
    } finally {
      await ex.stop();
    }
  });

  it("runs requests made during a reload once more after it, not once each", async () => {
    const dir = join(TMP, "serial");
    mkdirSync(dir);
    writeFileSync(join(dir, "xid.yaml"), XID);
    const { ex } = _exporter(dir);
    try {
      const all = await Promise.all([ex.reloadRules(), ex.reloadRules(), ex.reloadRules()]);
      assert.ok(all.every((o) => o.ok));
      assert.equal(ex.rulesReload.reloads.get("success"), 2);
      await ex.reloadRules();
      assert.equal(ex.rulesReload.reloads.get("success"), 3);
    } finally {
      await ex.stop();
    }
  });

  it("refuses each broken file (and a missing directory) with the error start-up gives", async () => {
    const cases: string[] = [join(TMP, "no-such-dir"), join(BAD, "dup-scene")];
    for (const name of readdirSync(BAD)) {
      if (!/\.ya?ml$/.test(name) || !statSync(join(BAD, name)).isFile()) continue;
      const d = join(TMP, `bad-${name}`);
      mkdirSync(d);
      copyFileSync(join(BAD, name), join(d, name));
      cases.push(d);
    }
    assert.ok(cases.length > 20);
    for (const dir of cases) {
      let sync: string | undefined;
      try {
        loadRuleSet({ dir });
      } catch (e) {
        sync = (e as Error).message;
      }
      const got = await loadRuleSetAsync({ dir }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      assert.ok(sync !== undefined, `${dir} loads at start-up`);
      assert.equal(got, sync, dir);
    }
  });

  it("says the rule counts and the changes in one line", () => {
    const rules = [{ ...rule(XID), source: "embedded:gpu_xid.yaml" }, rule(util(50))];
    assert.equal(describeReload(rules, { added: [], removed: [], changed: [] }, "/etc/xctl"), "rules reloaded: 2 loaded (1 embedded, 1 from /etc/xctl); nothing changed");
    assert.equal(describeReload(rules, { added: ["a", "b"], removed: ["c"], changed: ["d"] }, "/etc/xctl"), "rules reloaded: 2 loaded (1 embedded, 1 from /etc/xctl); added a, b; removed c; changed d");
  });
});
