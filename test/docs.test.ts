// The README is part of the interface: every flag and every metric the exporter has is in it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "./_helpers.ts";
import { SERVE_FLAGS } from "../src/cli/serve.ts";
import { REPLAY_FLAGS } from "../src/cli/replay.ts";
import { CLIENT_FLAGS } from "../src/cli/client.ts";
import { PS_FLAGS } from "../src/cli/ps.ts";
import { STATUS_FLAGS } from "../src/cli/status.ts";
import { WHY_FLAGS } from "../src/cli/why.ts";
import { CHECK_FLAGS, LIST_FLAGS, SHOW_FLAGS } from "../src/cli/rules.ts";
import { envName, type FlagDefs } from "../src/cli/flags.ts";
import { DEFAULT_FAULT_SCOPE } from "../src/graph/fault-scope.ts";
import { loadDefaults } from "../scripts/gen-runbooks.ts";
import { createApp } from "../src/http/app.ts";
import { Exporter } from "../src/exporter.ts";
import { createLogger } from "../src/log.ts";
import { EVENT_TYPES, REJECT_REASONS } from "../src/events/schema.ts";
import { EXTRA_METRICS, FAMILIES, SEED_METRICS } from "../src/metrics/names.ts";

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

  it("gives each serve flag's default as --help does", () => {
    for (const [name, def] of Object.entries(SERVE_FLAGS)) {
      if (def.default === undefined) continue;
      const row = readme.split("\n").find((l) => l.startsWith(`| \`--${name}`));
      assert.ok(row, `no row for --${name}`);
      const cell = row.split(" | ")[2];
      const want = def.default === false ? "off" : `\`${String(def.default)}\``;
      assert.equal(cell, want, `--${name}: the README says ${cell}, --help says ${want}`);
    }
  });

  it("names the flags replay and the clients take, no more and no fewer", () => {
    // The two sentences under the flag table that list them.
    const replay = _between("`replay` takes ", ". The\nclients take");
    assert.deepEqual(_flags(replay), Object.keys(REPLAY_FLAGS).sort(), "replay's flags");
    const clients = _between("clients take ", "(see Clients above)");
    assert.deepEqual(_flags(clients), Object.keys(CLIENT_FLAGS).sort(), "the clients' connection flags");
    for (const [name, def] of Object.entries(CLIENT_FLAGS)) {
      const env = envName(name, def);
      if (env) assert.ok(readme.includes(`\`${env}\``), `--${name}: ${env} is not in the README`);
    }
  });

  it("names every flag of every command", () => {
    const commands: Record<string, FlagDefs> = { status: STATUS_FLAGS, ps: PS_FLAGS, why: WHY_FLAGS, replay: REPLAY_FLAGS, "rules check": CHECK_FLAGS, "rules list": LIST_FLAGS, "rules show": SHOW_FLAGS };
    for (const [command, defs] of Object.entries(commands)) {
      for (const [name, def] of Object.entries(defs)) {
        assert.ok(_names(`--${name}`), `${command} --${name} is not in the README`);
        if (def.short) assert.ok(_names(`-${def.short}`), `${command} -${def.short} is not in the README`);
      }
    }
  });

  it("names in its Layout table only files and folders that exist", () => {
    // Rows of src/ and scripts/: a lower-case name in code (`parse`, `run.sh`) in the second
    // column is a file (`.ts` left out) or folder of the row's folders or of a folder in them, or
    // a top-level folder (`rules/`).
    const missing: string[] = [];
    for (const row of readme.split("\n").filter((l) => l.startsWith("| `src/") || l.startsWith("| `scripts/`"))) {
      const [paths, what] = row.slice(2).split(" | ");
      const given = paths.split(",").map((p) => p.trim().replace(/`/g, ""));
      const top = given[0].endsWith(".ts") ? dirname(given[0]) : given[0].replace(/\/$/, "");
      const dirs = given.map((p) => (p.endsWith(".ts") ? top : p.startsWith("src/") || p.startsWith("scripts/") ? p.replace(/\/$/, "") : join(dirname(top), p.replace(/\/$/, ""))));
      const all = [".", ...dirs.flatMap((d) => [d, ..._subdirs(d)])];
      for (const m of what.matchAll(/`([a-z][a-z0-9-]*(?:\.(?:ts|sh))?)\/?`/g)) {
        if (!all.some((d) => existsSync(join(ROOT, d, m[1])) || existsSync(join(ROOT, d, `${m[1]}.ts`)))) missing.push(`${given[0]}: ${m[1]}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it("gives every pattern of the built-in fault-scope table, with its scope", () => {
    const table = _between("**Who an error concerns**", "A rule file may put entries in front");
    const rows = table.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---"));
    for (const { pattern, scope } of DEFAULT_FAULT_SCOPE) {
      for (const alt of pattern.split("|")) {
        const row = rows.find((r) => r.includes(`\`${alt}\``));
        assert.ok(row, `the README's fault-scope table lacks ${alt}`);
        assert.ok(row.endsWith(`| ${scope} |`), `${alt} is a ${scope} fault, not as the README's row says: ${row}`);
      }
    }
  });

  it("lists every default rule with its priority, severity and scope, and says how many there are", () => {
    const defaults = loadDefaults().map((d) => d.rule);
    const table = _between("| scene | priority | severity | scope | fires when |", "Storage patterns are");
    const rows = table.split("\n").filter((l) => l.startsWith("| `"));
    assert.deepEqual(
      rows.map((r) => r.split(" | ").slice(0, 4).join(" | ")),
      defaults.map((r) => `| \`${r.scene}\` | ${r.priority} | ${r.severity} | ${r.scope}`),
    );
    const words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "twenty-one", "twenty-two", "twenty-three", "twenty-four", "twenty-five"];
    const n = words[defaults.length];
    assert.match(readme, new RegExp(`${n[0].toUpperCase()}${n.slice(1)} are embedded in the binary`), `the README should say ${n} rules are embedded`);
  });

  it("lists every route the HTTP app serves, and no other", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const served = new Set(createApp(ex).routes.filter((r) => r.method === "GET" || r.method === "POST").map((r) => `${r.method} ${r.path}`));
    await ex.stop();
    const section = _between("## HTTP API", "\n## Security");
    const table = section.split("\n").filter((l) => l.startsWith("| `"));
    // `GET /x`, `POST /x`, and `GET`/`HEAD /x`, in the route column or named inside a row.
    const said = new Set<string>();
    for (const row of table) {
      for (const m of row.matchAll(/`(GET|POST)(?:`\/`HEAD)? (\/[^`\s]*)`/g)) said.add(`${m[1]} ${m[2]}`);
    }
    assert.deepEqual([...said].sort(), [...served].sort());
  });

  it("names the event types and rejection reasons the exporter has, in its order", () => {
    const spans = (text: string) => [...text.matchAll(/`([a-z0-9_.]+)`/g)].map((m) => m[1]);
    assert.deepEqual(spans(_between("`event_type` is one of", "; `entity_id`")).slice(1), [...EVENT_TYPES]);
    assert.deepEqual(spans(_between("Rejection reasons (`xctl_events_rejected_total{reason}`):", "\n\n")), [...REJECT_REASONS]);
    const row = readme.split("\n").find((l) => l.startsWith("| `xctl_events_rejected_total`"))!;
    assert.deepEqual(spans(row.split("|")[4]), [...REJECT_REASONS]);
  });

  it("lists every metric with its type", () => {
    for (const [name, type] of Object.entries({ ...SEED_METRICS, ...EXTRA_METRICS })) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${name}\``));
      assert.ok(row, `no row for ${name}`);
      assert.ok(row.includes(`| ${type} |`), `${name} row lacks its type ${type}`);
    }
  });

  it("gives every metric's labels as the exporter declares them", () => {
    for (const f of Object.values(FAMILIES)) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${f.name}\``))!;
      assert.equal(row.split("|")[3].trim(), f.labels.map((l) => `\`${l}\``).join(", "), `${f.name}'s labels`);
    }
  });
});

/** The folders directly inside `dir` (relative to ROOT). */
function _subdirs(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir))
    .map((f) => join(dir, f))
    .filter((d) => statSync(join(ROOT, d)).isDirectory());
}

/** The README's text from `start` to `end` (both must be there). */
function _between(start: string, end: string): string {
  const i = readme.indexOf(start);
  assert.ok(i >= 0, `README lacks "${start}"`);
  const j = readme.indexOf(end, i);
  assert.ok(j > i, `README lacks "${end}" after "${start}"`);
  return readme.slice(i, j);
}

/** Whether the README names `flag` as a word of its own (not the start of a longer flag). */
function _names(flag: string): boolean {
  return new RegExp(`(?<![\\w-])${flag.replace(/\./g, "\\.")}(?![\\w-])`).test(readme);
}

/** The `--flag` names a text shows in code spans, sorted and each once. */
function _flags(text: string): string[] {
  return [...new Set([...text.matchAll(/`--([a-z][a-z.-]*)`/g)].map((m) => m[1]))].sort();
}
