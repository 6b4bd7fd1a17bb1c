// A --rules directory that is a Kubernetes ConfigMap volume, as the kubelet writes it: each key a
// link `x.yaml -> ..data/x.yaml`, `..data` a link to a timestamped directory, an update a new
// directory, `..data` swapped by rename, the links of new keys made, those of removed keys and the
// old directory deleted (in that order). Reading it at start-up and on reload sees one version.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuleSet, type RuleProblem } from "../../src/diagnosis/rules-load.ts";
import { loadRuleSetAsync } from "../../src/diagnosis/rules-reload.ts";
import { finishConfigMap, swapConfigMap } from "../fixtures/configmap.ts";

const TMP = mkdtempSync(join(tmpdir(), "xctl-configmap-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

function rule(scene: string, priority: number): string {
  return `name: Rule ${scene}
scene: ${scene}
priority: ${priority}
conditions:
  - {type: event, event_type: error.hw, value_pattern: XID_79}
solution_steps: [{step: 1, action: look, manual: true}]
`;
}

let _version = 0;

/** The kubelet's atomic update, step by step; `stop` ends it after the swap of `..data` (what a reader may see meanwhile). */
function project(dir: string, files: Record<string, string>, stop?: "swapped"): void {
  mkdirSync(dir, { recursive: true });
  const ts = `..2026_12_02_01_0${_version}_00.${100 + _version++}`;
  const old = swapConfigMap(dir, ts, files);
  if (stop === "swapped") return;
  finish(dir, Object.keys(files), old);
}

/** The rest of an update: the links of removed keys and the old directory go. */
function finish(dir: string, keys: string[], old?: string): void {
  finishConfigMap(dir, keys, ["a.yaml", "b.yaml", "c.yaml"], old);
}

const scenes = (rules: { scene: string; priority: number }[]) => rules.map((r) => `${r.scene}:${r.priority}`).sort();

describe("a ConfigMap volume as --rules", () => {
  it("loads the projected keys, skipping ..data and the timestamped directory, with no warning", async () => {
    const dir = join(TMP, "plain");
    project(dir, { "a.yaml": rule("site_a", 50), "b.yaml": rule("site_b", 40) });
    const warnings: RuleProblem[] = [];
    assert.deepEqual(scenes(loadRuleSet({ dir, defaults: false, warnings })), ["site_a:50", "site_b:40"]);
    assert.deepEqual(scenes(await loadRuleSetAsync({ dir, defaults: false, warnings })), ["site_a:50", "site_b:40"]);
    assert.deepEqual(warnings, []);
  });

  it("reads the new version between the swap of ..data and the removal of a removed key's link", async () => {
    const dir = join(TMP, "removed");
    project(dir, { "a.yaml": rule("site_a", 50), "b.yaml": rule("site_b", 40) });
    // b.yaml is now a link to ..data/b.yaml, which the new version does not have.
    project(dir, { "a.yaml": rule("site_a", 60), "c.yaml": rule("site_c", 30) }, "swapped");
    const warnings: RuleProblem[] = [];
    assert.deepEqual(scenes(await loadRuleSetAsync({ dir, defaults: false, warnings })), ["site_a:60", "site_c:30"]);
    assert.deepEqual(scenes(loadRuleSet({ dir, defaults: false, warnings })), ["site_a:60", "site_c:30"], "start-up, in the same moment");
    assert.deepEqual(warnings, []);
  });

  it("reads one version when the kubelet swaps ..data while the files are read", async () => {
    const dir = join(TMP, "racing");
    project(dir, { "a.yaml": rule("site_a", 50), "b.yaml": rule("site_b", 40) });
    // Between listing (a.yaml, b.yaml) and reading them, a whole update lands: site_b moved to
    // c.yaml, the old directory deleted. A reading that went on would mix the versions.
    let swaps = 0;
    const rules = await loadRuleSetAsync({ dir, defaults: false }, () => {
      if (swaps++ === 0) project(dir, { "a.yaml": rule("site_a", 60), "c.yaml": rule("site_b", 45) });
    });
    assert.deepEqual(scenes(rules), ["site_a:60", "site_b:45"]);
    assert.equal(swaps, 2, "read again once");
  });

  it("still refuses a link to nothing that is not a ConfigMap key", async () => {
    const dir = join(TMP, "dangling");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.yaml"), rule("site_a", 50));
    symlinkSync(join(TMP, "nowhere.yaml"), join(dir, "b.yaml"));
    await assert.rejects(loadRuleSetAsync({ dir, defaults: false }), /b\.yaml: cannot read: no such file/);
    assert.throws(() => loadRuleSet({ dir, defaults: false }), /b\.yaml: cannot read: no such file/);
  });
});
