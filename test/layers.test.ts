// Data flows one way: sources → ingest → graph → diagnosis → metrics and queries → HTTP and
// CLI. This test reads every import in src/ and fails on one that runs uphill, from the table
// below of layers and what each may import. An import outside the table passes only where
// CROSSINGS names the pair of files and says why; most crossings there are type-only (`import
// type`, `export type`: erased, they load nothing) and admit no value import. README's Layout
// section shows the same table, and a test below holds the two together.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");

/** Layer of a file under src/, by its first path segment (a top-level file by its name). */
const LAYER_OF: Record<string, string> = {
  "errors.ts": "base",
  "escape.ts": "base",
  "elapsed.ts": "base",
  "config-error.ts": "base",
  "errno.ts": "base",
  "version.ts": "base",
  "runtime-name.ts": "base",
  "log.ts": "base",
  "stdio.ts": "base",
  "suggest.ts": "base",
  events: "events",
  sources: "sources",
  ingest: "ingest",
  graph: "graph",
  diagnosis: "diagnosis",
  metrics: "metrics",
  query: "query",
  "exporter.ts": "root",
  http: "http",
  runtime: "runtime",
  cli: "cli",
  "main.ts": "main",
};

/** What each layer may import, values and types alike (its own layer is always allowed). */
const MAY: Record<string, string[]> = {
  base: [],
  events: ["base"],
  sources: ["base", "events"],
  ingest: ["base", "events"],
  graph: ["base", "events"],
  diagnosis: ["base", "events", "graph"],
  metrics: ["base", "events", "ingest", "graph", "diagnosis"],
  query: ["base", "events", "ingest", "graph", "diagnosis", "metrics"],
  root: ["base", "events", "sources", "ingest", "graph", "diagnosis", "metrics", "query"],
  runtime: ["base"],
  http: ["base", "events", "ingest", "query"],
  cli: ["base", "events", "sources", "root", "query", "http", "runtime"],
  main: ["base", "cli"],
};

/**
 * Imports outside MAY that the design wants, file to file, each with its reason. `type: true`
 * allows a type-only import and nothing else.
 */
const CROSSINGS: { from: string; to: string; type: boolean; why: string }[] = [
  { from: "src/cli/rules.ts", to: "src/diagnosis/rules-load.ts", type: false, why: "`rules check` loads and checks rule files; it touches no diagnosis state" },
  { from: "src/cli/rules.ts", to: "src/diagnosis/rule.ts", type: true, why: "the Rule type that loading returns" },
  { from: "src/cli/serve-run.ts", to: "src/diagnosis/rules-load.ts", type: false, why: "serve names the embedded scenes in its start-up summary" },
  { from: "src/runtime/serve.ts", to: "src/http/env.ts", type: true, why: "the adapter hands each request the connection facts the app reads" },
  { from: "src/runtime/serve.ts", to: "src/http/web-config.ts", type: true, why: "TLS settings parsed from the web-config file" },
  { from: "src/runtime/tls.ts", to: "src/http/web-config.ts", type: true, why: "TLS settings parsed from the web-config file" },
  { from: "src/http/app.ts", to: "src/exporter.ts", type: true, why: "the app is built over the exporter it serves" },
];

/** Files allowed an import() whose specifier is computed, with the reason. */
const COMPUTED: Record<string, string> = {};

function _files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(..._files(p));
    else out.push(p);
  }
  return out;
}

function _layer(file: string): string | undefined {
  const rel = relative(SRC, file).split(/[\\/]/);
  if (rel[0] === "..") return undefined;
  return LAYER_OF[rel[0]];
}

interface Import {
  spec: string;
  typeOnly: boolean;
  /** An import() (loads when it runs), not a static import (loads with the file). */
  dynamic?: boolean;
}

/**
 * Every import of a module: static imports and re-exports (one or many lines), side-effect
 * imports and import(). `import { type A }` is not type-only: under verbatimModuleSyntax it
 * still loads the module. `import("x").T` in a type position is.
 */
function _imports(text: string): Import[] {
  const out: Import[] = [];
  const clause = String.raw`(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+)`;
  const stat = new RegExp(String.raw`^[ \t]*(import|export)\s+(type\s+)?${clause}\s+from\s+(["'])([^"'\n]+)\3`, "gm");
  for (const m of text.matchAll(stat)) out.push({ spec: m[4], typeOnly: m[2] !== undefined });
  for (const m of text.matchAll(/^[ \t]*import\s*(["'])([^"'\n]+)\1/gm)) out.push({ spec: m[2], typeOnly: false });
  for (const m of text.matchAll(/\bimport\s*\(\s*(?:(["'])([^"'\n]+)\1\s*\)(\s*\.\s*(?!then\b|catch\b|finally\b)[\w$])?)?/g)) {
    // An import() whose argument is not a string literal cannot be checked: report it as one
    // that leads nowhere in the table.
    out.push({ spec: m[2] ?? "<computed>", typeOnly: m[3] !== undefined, dynamic: true });
  }
  return out;
}

/** Why `imp` in `file` breaks the table, or undefined when it may stay. */
function _uphill(file: string, imp: Import): string | undefined {
  const rel = relative(ROOT, file).split(sep).join("/");
  const what = `${rel} (${_layer(file)}) imports ${imp.typeOnly ? "type " : ""}${imp.spec}`;
  if (imp.spec === "<computed>") return COMPUTED[rel] ? undefined : `${what}: a computed import() cannot be checked`;
  if (!imp.spec.startsWith(".")) return undefined; // a package or node: built-in
  const target = resolve(dirname(file), imp.spec);
  if (!target.startsWith(SRC + sep)) return undefined; // package.json and the like
  const from = _layer(file)!;
  const to = _layer(target);
  if (to === undefined) return `${what}: its target belongs to no layer`;
  if (to === from || MAY[from].includes(to)) return undefined;
  const toRel = relative(ROOT, target).split(sep).join("/");
  if (CROSSINGS.some((c) => c.from === rel && c.to === toRel && (imp.typeOnly || !c.type))) return undefined;
  return `${what} (${to})`;
}

describe("layers", () => {
  const files = _files(SRC);

  it("every file in src/ is TypeScript and belongs to a layer of the table", () => {
    const strays = files.filter((f) => !f.endsWith(".ts") || _layer(f) === undefined).map((f) => relative(ROOT, f));
    assert.deepEqual(strays, []);
    for (const layer of new Set(Object.values(LAYER_OF))) assert.ok(MAY[layer], `${layer} has a row in MAY`);
    // No stale rows: every name in the table is a file or folder of src/.
    for (const name of Object.keys(LAYER_OF)) assert.ok(existsSync(join(SRC, name)), `src/${name} exists`);
  });

  it("the table itself runs one way: no two layers may import each other", () => {
    const cycles: string[] = [];
    const reach = (from: string, to: string, seen = new Set<string>()): boolean =>
      MAY[from].includes(to) || MAY[from].some((m) => !seen.has(m) && (seen.add(m), reach(m, to, seen)));
    for (const layer of Object.keys(MAY)) if (reach(layer, layer)) cycles.push(layer);
    assert.deepEqual(cycles, []);
  });

  it("every crossing names files that exist and runs against the table", () => {
    for (const c of CROSSINGS) {
      assert.ok(existsSync(join(ROOT, c.from)), `${c.from} exists`);
      assert.ok(existsSync(join(ROOT, c.to)), `${c.to} exists`);
      const from = _layer(join(ROOT, c.from))!;
      assert.ok(!MAY[from].includes(_layer(join(ROOT, c.to))!), `${c.from} → ${c.to} is already allowed by MAY`);
      const text = readFileSync(join(ROOT, c.from), "utf8");
      const used = _imports(text).some((i) => resolve(dirname(join(ROOT, c.from)), i.spec) === join(ROOT, c.to));
      assert.ok(used, `${c.from} still imports ${c.to}; else drop the crossing`);
    }
  });

  it("every file allowed a computed import() still has one", () => {
    for (const file of Object.keys(COMPUTED)) {
      const found = _imports(readFileSync(join(ROOT, file), "utf8")).some((i) => i.spec === "<computed>");
      assert.ok(found, `${file} has no computed import(); drop it from COMPUTED`);
    }
  });

  it("README's Layout table says what MAY says", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const rows = readme.split("\n").filter((l) => l.startsWith("| `src/"));
    const said = new Map<string, string[]>();
    for (const row of rows) {
      const [path, , may] = row.split(" | ").map((c) => c.replace(/^\| |`| \|$/g, ""));
      if (may.startsWith("as ")) continue; // a subfolder: as its parent
      const layer = _layer(join(ROOT, path.split(",")[0].trim()));
      assert.ok(layer, `README row ${path} names a layer`);
      said.set(layer, may.split(", ").map((w) => (w === "exporter" ? "root" : w)));
    }
    for (const [layer, may] of Object.entries(MAY)) {
      assert.deepEqual(said.get(layer)?.filter((w) => w !== layer).sort(), [...may].sort(), `README's row for ${layer}`);
    }
  });

  it("no import runs uphill", () => {
    const uphill: string[] = [];
    let seen = 0;
    for (const file of files) {
      for (const imp of _imports(readFileSync(file, "utf8"))) {
        seen++;
        const target = resolve(dirname(file), imp.spec);
        if (imp.spec.startsWith(".") && !existsSync(target)) uphill.push(`${relative(ROOT, file)} imports ${imp.spec}, which does not exist`);
        const why = _uphill(file, imp);
        if (why) uphill.push(why);
      }
    }
    assert.deepEqual(uphill, []);
    // The scan saw the code's imports, not nothing: src/ has hundreds.
    assert.ok(seen > 300, `only ${seen} imports found in src/`);
  });

  it("no route or command reaches past the query layer into the exporter's graph, engine or counters", () => {
    // By the exporter's name, as the code calls it: routes and commands ask `queries`, feed
    // the pipeline (`exporter.ingest`), read the live stream (`exporter.hub`) and render
    // `exporter.metrics`; nothing else beneath.
    const reach: string[] = [];
    for (const file of files.filter((f) => ["http", "cli"].includes(_layer(f)!))) {
      for (const m of readFileSync(file, "utf8").matchAll(/\b(?:exporter|ex)\.(graph|engine|diagnosis|counters|probes)\b/g)) {
        reach.push(`${relative(ROOT, file)}: ${m[0]}`);
      }
    }
    assert.deepEqual(reach, []);
  });

  // The files src/main.ts loads statically before a command parses its flags: main.ts loads
  // the command's file with import(), which loads its -run.ts file with import() once they hold.
  for (const [command, file, run, extra] of [
    ["serve", "cli/serve.ts", "src/cli/serve-run.ts", []],
    ["replay", "cli/replay.ts", "src/cli/replay-run.ts", ["citty"]],
  ] as const) {
    it(`${command} reads its flags before it loads the exporter: a bad one exits without loading the rules, the exporter or what it drives`, () => {
      const loaded = new Set<string>();
      const packages = new Set<string>();
      const visit = (f: string): void => {
        if (loaded.has(f)) return;
        loaded.add(f);
        for (const imp of _imports(readFileSync(f, "utf8"))) {
          if (imp.typeOnly || imp.dynamic) continue;
          if (imp.spec.startsWith(".")) visit(resolve(dirname(f), imp.spec));
          else if (!imp.spec.startsWith("node:")) packages.add(imp.spec);
        }
      };
      visit(join(SRC, "main.ts"));
      visit(join(SRC, file));
      const heavy = [...loaded].map((f) => relative(ROOT, f).split(sep).join("/")).filter((f) => /^src\/(exporter|diagnosis\/|graph\/|ingest\/|sources\/(?!collectors|child|source)|query\/|metrics\/|http\/(?!routes-table))/.test(f) || f === run || f === "src/cli/rules.ts");
      assert.deepEqual(heavy, []);
      assert.deepEqual([...packages].filter((p) => !p.startsWith("consola") && !(extra as readonly string[]).includes(p)), [], "packages beside the logger");
    });
  }

  it("no file in src/ is over 400 lines, but generated ones", () => {
    const GENERATED = ["src/diagnosis/embedded.ts"]; // scripts/embed-rules.ts writes it
    const long = files
      .map((f) => [relative(ROOT, f).split(sep).join("/"), readFileSync(f, "utf8").split("\n").length - 1] as const)
      .filter(([f, n]) => n > 400 && !GENERATED.includes(f))
      .map(([f, n]) => `${f}: ${n} lines`);
    assert.deepEqual(long, []);
  });

  it("the scanner finds every form of import and tells type-only from value", () => {
    const text = [
      'import { StateGraph } from "../graph/graph.ts";',
      "import type { X } from '../cli/x.ts';",
      "import {",
      "  a,",
      "  type B,",
      '} from "../diagnosis/engine.ts";',
      'import * as ns from "./ns.ts";',
      'import def, { c } from "./def.ts";',
      'export { d } from "../query/d.ts";',
      'export type { E } from "../http/e.ts";',
      'export * from "../metrics/m.ts";',
      'import "./side.ts";',
      "// import { gone } from \"../cli/commented.ts\";",
      'const m = await import("../cli/lazy.ts");',
      'let t: import("../http/t.ts").T;',
      'import("../cli/then.ts").then((x) => x);',
      "await import(name);",
    ].join("\n");
    const found = _imports(text).map((i) => `${i.typeOnly ? "type " : ""}${i.spec}`);
    assert.deepEqual(found.sort(), [
      "../cli/lazy.ts",
      "../cli/then.ts",
      "../diagnosis/engine.ts",
      "../graph/graph.ts",
      "../metrics/m.ts",
      "../query/d.ts",
      "./def.ts",
      "./ns.ts",
      "./side.ts",
      "<computed>",
      "type ../cli/x.ts",
      "type ../http/e.ts",
      "type ../http/t.ts",
    ]);
  });

  it("an uphill import fails the check; a listed type crossing passes only as a type", () => {
    const graph = join(SRC, "graph", "graph.ts");
    assert.match(_uphill(graph, { spec: "../diagnosis/engine.ts", typeOnly: false }) ?? "", /src\/graph\/graph\.ts \(graph\) imports \.\.\/diagnosis\/engine\.ts \(diagnosis\)/);
    assert.ok(_uphill(graph, { spec: "../diagnosis/engine.ts", typeOnly: true }), "a type import uphill fails too");
    assert.equal(_uphill(graph, { spec: "../events/schema.ts", typeOnly: false }), undefined);
    assert.equal(_uphill(graph, { spec: "./nodes.ts", typeOnly: false }), undefined);
    assert.ok(_uphill(join(SRC, "sources", "x.ts"), { spec: "../cli/flags.ts", typeOnly: false }));
    const serve = join(SRC, "runtime", "serve.ts");
    assert.equal(_uphill(serve, { spec: "../http/env.ts", typeOnly: true }), undefined);
    assert.ok(_uphill(serve, { spec: "../http/env.ts", typeOnly: false }), "a type crossing does not admit a value import");
    assert.ok(_uphill(join(SRC, "runtime", "tls-front.ts"), { spec: "../http/env.ts", typeOnly: true }), "a crossing is for its file only");
    assert.ok(_uphill(graph, { spec: "<computed>", typeOnly: false }));
    assert.ok(_uphill(graph, { spec: "../nowhere/x.ts", typeOnly: false }), "a folder outside the table");
  });
});
