// docs/rules.md and the runbooks are generated from the rules (scripts/gen-runbooks.ts) and
// must say what the rules say: current files, every step's command, working links.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadDefaults, ROOT, RULES_DOC, RUNBOOKS, severityOf, stale } from "../../scripts/gen-runbooks.ts";

const defaults = loadDefaults();
const doc = readFileSync(RULES_DOC, "utf8");

/** Relative markdown links of a file that do not resolve to a file. */
function _brokenLinks(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/.test(target)) continue;
    if (!existsSync(resolve(dirname(file), target))) out.push(target);
  }
  return out;
}

describe("runbooks and docs/rules.md", () => {
  it("are what scripts/gen-runbooks.ts writes from rules/*.yaml", () => {
    assert.deepEqual(stale(), [], "run: node --import tsx scripts/gen-runbooks.ts");
  });

  it("have one runbook per default scene with its title, severity, causes, every step's command and how to confirm", () => {
    assert.equal(defaults.length, 19);
    for (const { rule } of defaults) {
      const text = readFileSync(join(RUNBOOKS, `${rule.scene}.md`), "utf8");
      assert.ok(text.includes(`# ${rule.name} (\`${rule.scene}\`)`), `${rule.scene} title`);
      assert.ok(text.includes(`Severity **${severityOf(rule)}**`), `${rule.scene} severity`);
      assert.ok(text.includes(rule.root_cause_pattern.primary), `${rule.scene} root cause`);
      for (const s of rule.root_cause_pattern.secondary) assert.ok(text.includes(s), `${rule.scene}: ${s}`);
      for (const s of rule.solution_steps) {
        assert.ok(text.includes(`${s.step}. ${s.action}`), `${rule.scene} step ${s.step}`);
        if (s.command) assert.ok(text.includes(s.command), `${rule.scene} step ${s.step} command`);
      }
      assert.match(text, /xctl-exporter why <pid>/);
      assert.match(text, /xctl-exporter status/);
      assert.deepEqual(_brokenLinks(join(RUNBOOKS, `${rule.scene}.md`)), []);
    }
    assert.deepEqual(_brokenLinks(join(RUNBOOKS, "README.md")), []);
  });

  it("docs/rules.md documents every field, condition kind, scope, severity, fault scope and the testing commands", () => {
    for (const f of ["name", "scene", "priority", "conditions", "scope", "severity", "root_cause_pattern", "solution_steps", "related_evidences", "applicability", "fault_scope"]) {
      assert.ok(doc.includes(`| \`${f}\` |`), `field ${f}`);
    }
    for (const kind of ["event", "graph", "metric", "any", "all"]) assert.ok(doc.includes(`**\`${kind}\`**`), `condition ${kind}`);
    for (const cmd of ["xctl-exporter rules check", "xctl-exporter replay --rules", "xctl-exporter why 4242"]) assert.ok(doc.includes(cmd), cmd);
    assert.match(doc, /## Confidence/);
    for (const { rule } of defaults) assert.ok(doc.includes(`[\`${rule.scene}\`](../deploy/runbooks/${rule.scene}.md)`), `${rule.scene} in the table`);
    assert.deepEqual(_brokenLinks(RULES_DOC), []);
  });

  it("is linked from the README and packed in the release", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    assert.match(readme, /\[docs\/rules\.md\]\(docs\/rules\.md\)/);
    // scripts/release.sh packs with scripts/pack.sh (test/binary/release.test.ts unpacks a real tarball).
    const release = readFileSync(join(ROOT, "scripts/pack.sh"), "utf8");
    assert.match(release, /^\s*cp -r deploy docs "\$stage\/\$name\/"$/m);
  });
});
