// The README is part of the interface: every flag and every metric the exporter has is in it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./_helpers.ts";
import { SERVE_FLAGS } from "../src/cli/serve.ts";
import { envName } from "../src/cli/flags.ts";
import { EXTRA_METRICS, SEED_METRICS } from "../src/metrics/names.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README", () => {
  it("opens with the two commands that run the exporter and the tests", () => {
    const firstBlock = readme.slice(readme.indexOf("```sh"), readme.indexOf("```", readme.indexOf("```sh") + 5));
    assert.match(firstBlock, /npm ci && npm start/);
    assert.match(firstBlock, /npm ci && npm test/);
  });

  it("lists every serve flag with its environment variable", () => {
    for (const [name, def] of Object.entries(SERVE_FLAGS)) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`--${name}`));
      assert.ok(row, `no row for --${name}`);
      const env = envName(name, def);
      if (env) assert.ok(row.includes(env), `--${name} row lacks ${env}`);
    }
  });

  it("lists every metric with its type", () => {
    for (const [name, type] of Object.entries({ ...SEED_METRICS, ...EXTRA_METRICS })) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${name}\``));
      assert.ok(row, `no row for ${name}`);
      assert.ok(row.includes(`| ${type} |`), `${name} row lacks its type ${type}`);
    }
  });
});
