// The binary carries rules/*.yaml, parsed, as src/diagnosis/embedded.ts; this fails when the
// generated file is stale (fix: node --import tsx scripts/embed-rules.ts).
import { it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EMBEDDED_RULES } from "../../src/diagnosis/embedded.ts";
import { parseRule } from "../../src/diagnosis/rules-load.ts";

const RULES = fileURLToPath(new URL("../../rules/", import.meta.url));

it("embedded rules are rules/*.yaml as parseRule reads them", () => {
  const files = readdirSync(RULES).filter((f) => /\.ya?ml$/.test(f)).sort();
  assert.deepEqual(
    EMBEDDED_RULES.map((r) => r.file),
    files,
    "file list differs: run node --import tsx scripts/embed-rules.ts",
  );
  for (const r of EMBEDDED_RULES) {
    const fresh = parseRule(readFileSync(join(RULES, r.file), "utf8"), `embedded:${r.file}`);
    assert.deepEqual(r.rule, fresh, `${r.file} differs: run node --import tsx scripts/embed-rules.ts`);
    assert.equal(r.text, readFileSync(join(RULES, r.file), "utf8"), `${r.file}'s text differs: run node --import tsx scripts/embed-rules.ts`);
  }
});
