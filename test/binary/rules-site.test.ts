// Site rules as an SRE writes them, against the compiled binary: a bad --rules directory stops
// start-up with one line (file, line, field, reason; exit 2) that `rules check` also prints; a
// directory with no rule file and a second --rules are said, not passed over; and a running
// exporter with a threshold copy of a default rule, a rule on nvidia-smi's "[N/A]", a
// min_confidence 0 rule and one on a key named `constructor` takes pushes and shows in /metrics
// what the rules say.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, run, scrape, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

const GOOD = `name: Good
scene: good
priority: 50
conditions:
  - {type: event, event_type: error.hw}
solution_steps: [{step: 1, action: look, manual: true}]
`;

/** Bad directories: name → files, and what the one line must say after `file:line: `. */
const BAD: [string, Record<string, string | Buffer>, string, RegExp][] = [
  ["typo", { "r.yaml": GOOD.replace("priority:", "prority:") }, "r.yaml:3", /^prority: unknown field \(did you mean priority\? one of name, scene, priority, /],
  ["wrong-type", { "r.yaml": GOOD.replace("priority: 50", "priority: high") }, "r.yaml:3", /^priority: must be an integer \(got "high"\)$/],
  ["latin1", { "r.yaml": Buffer.from(GOOD.replace("name: Good", "name: Temp\u00e9rature"), "latin1") }, "r.yaml:1", /^not UTF-8 text/],
  ["list", { "r.yaml": "- " + GOOD.trimEnd().split("\n").join("\n  ") + "\n" }, "r.yaml", /^not a rule: expected a YAML mapping \(got a list\)$/],
  ["tabs", { "r.yaml": GOOD.replace("  - {type", "\t- {type") }, "r.yaml:5", /^not valid YAML: Tabs are not allowed/],
  ["dup-scene", { "a.yaml": GOOD, "b.yml": GOOD.replace("name: Good", "name: Other") }, "b.yml", /^scene: scene "good" is also defined in .*a\.yaml$/],
  [
    "billion-laughs",
    {
      "r.yaml":
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' +
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" +
        GOOD,
    },
    "r.yaml",
    /^not valid YAML: Excessive alias count/,
  ],
];

describe("site rules, compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const dir = BINARY ? mkdtempSync(join(tmpdir(), "xctl-site-rules-")) : "";
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses each bad directory at start-up with one line and exit 2, the line rules check prints too", async () => {
    for (const [name, files, where, says] of BAD) {
      const d = join(dir, name);
      mkdirSync(d);
      for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
      const serve = await run(BINARY!, ["--host", "127.0.0.1", "--port", "0", "--collectors", "none", "--log-level", "error", "--rules", d], { timeoutMs: 10_000 });
      assert.equal(serve.code, 2, `${name}: ${serve.stderr}`);
      const lines = serve.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${name}: one line: ${serve.stderr}`);
      const prefix = `xctl-exporter: ${join(d, where)}: `;
      assert.ok(lines[0].startsWith(prefix), `${name}: "${lines[0]}" starts with "${prefix}"`);
      assert.match(lines[0].slice(prefix.length), says, name);
      // As a path, and with serve's own flag.
      for (const args of [["rules", "check", d], ["rules", "check", "--rules", d]]) {
        const check = await run(BINARY!, args, { timeoutMs: 10_000 });
        assert.equal(check.code, 2, `${name}: ${check.stderr}`);
        assert.ok(check.stderr.split("\n").includes(lines[0]), `${name}: ${args.join(" ")} names it too:\n${check.stderr}`);
      }
    }
  });

  it("says at start-up that a --rules directory holds no rule file, as rules check and rules list do", async () => {
    const d = join(dir, "wrong-dir");
    mkdirSync(d);
    writeFileSync(join(d, "gpu.yaml.txt"), GOOD);
    const ex = await startExporter(["--rules", d]);
    try {
      const line = `${d}: warning: no rule files here (*.yaml, *.yml)`;
      await eventually(() => ex.stderr().includes(line), 5000, "the warning");
      for (const args of [["rules", "check", d], ["rules", "list", "--rules", d]]) {
        const r = await run(BINARY!, args, { timeoutMs: 10_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stderr.includes(`xctl-exporter: ${line}\n`), `${args.join(" ")}: ${r.stderr}`);
      }
    } finally {
      await ex.stop();
    }
  });

  it("keeps serving on SIGHUP (Prometheus's reload signal) and says that nothing was reloaded", async () => {
    const ex = await startExporter(["--collectors", "none"]);
    try {
      ex.child.kill("SIGHUP");
      await eventually(() => ex.stderr().includes("SIGHUP: nothing reloaded"), 5000, "the SIGHUP warning");
      const r = await fetch(`${ex.url}/healthz`);
      assert.equal(r.status, 200);
      assert.equal(ex.child.exitCode, null, ex.stderr());
      assert.equal(await ex.stop("SIGTERM"), 0);
    } finally {
      await ex.stop();
    }
  });

  it("refuses a second --rules directory (serve, rules list) rather than dropping the first", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    for (const d of [a, b]) mkdirSync(d);
    writeFileSync(join(a, "good.yaml"), GOOD);
    writeFileSync(join(b, "other.yaml"), GOOD.replace("scene: good", "scene: other"));
    const want = `xctl-exporter: --rules: given 2 directories (${a}, ${b}); it takes one: put the rule files in one directory\n`;
    const serve = await run(BINARY!, ["--port", "0", "--collectors", "none", "--rules", a, "--rules", b], { timeoutMs: 10_000 });
    assert.deepEqual([serve.code, serve.stderr], [2, want]);
    const list = await run(BINARY!, ["rules", "list", "--rules", a, "--rules", b], { timeoutMs: 10_000 });
    assert.deepEqual([list.code, list.stderr], [2, want]);
  });

  it("runs a threshold copy of gpu_util_low (from rules show) in place of the embedded one, and shows in /metrics only what holds", async () => {
    const d = join(dir, "site");
    mkdirSync(d);
    // The copy starts from what the binary carries: `rules show SCENE`, the file as written.
    const shown = await run(BINARY!, ["rules", "show", "gpu_util_low"], { timeoutMs: 10_000 });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, readFileSync(join(ROOT, "rules/gpu_util_low.yaml"), "utf8"));
    const low = shown.stdout.replace("target: 10,", "target: 30,");
    assert.ok(low.includes("target: 30,"));
    writeFileSync(join(d, "gpu_util_low.yaml"), low);
    // value_type left out (auto): nvidia-smi's "[N/A]" is no number and is not above 90.
    writeFileSync(join(d, "gpu_busy.yaml"), GOOD.replace("scene: good", "scene: gpu_busy").replace("  - {type: event, event_type: error.hw}", "  - {type: metric, node_type: resource, entity_id_pattern: \"gpu-*\", metrics: [{key: util, op: gt, target: 90}]}"));
    writeFileSync(join(d, "any_nic.yaml"), GOOD.replace("scene: good", "scene: any_nic").replace("  - {type: event, event_type: error.hw}", "  - {type: event, event_type: error.net}\n  - {type: graph, edge_type: waits_on}") + "applicability: {min_confidence: 0}\n");
    // A key no event sets loads with a warning; one that Object.prototype has broke every push (500).
    writeFileSync(join(d, "proto.yaml"), GOOD.replace("scene: good", "scene: proto").replace("  - {type: event, event_type: error.hw}", "  - {type: metric, metrics: [{key: constructor, op: gt, target: 5}]}"));
    const listed = await run(BINARY!, ["rules", "list", "--rules", d, "--json"], { timeoutMs: 10_000 });
    const rows = JSON.parse(listed.stdout) as { scene: string; source: string }[];
    assert.equal(rows.find((r) => r.scene === "gpu_util_low")?.source, join(d, "gpu_util_low.yaml"));
    const mine = await run(BINARY!, ["rules", "show", "gpu_util_low", "--rules", d], { timeoutMs: 10_000 });
    assert.equal(mine.stdout, low, "with --rules, the site's copy");
    const typo = await run(BINARY!, ["rules", "show", "gpu_util_lo"], { timeoutMs: 10_000 });
    assert.deepEqual([typo.code, typo.stderr], [2, 'xctl-exporter: rules show: no scene "gpu_util_lo" is loaded (did you mean gpu_util_low? rules list names them)\n']);

    const ex = await startExporter(["--rules", d, "--diagnosis-interval", "50ms"]);
    try {
      const now = Date.now();
      const push = (lines: object[]) =>
        fetch(`${ex.url}/api/v1/events`, { method: "POST", body: lines.map((l) => JSON.stringify({ ts: now, ...l })).join("\n") }).then((r) => r.json());
      const accepted = await push([
        { event_type: "process.state", entity_id: "gpu-01", pid: 4001, job_id: "job-1", value: "start" },
        { event_type: "compute.util", entity_id: "gpu-01", pid: 4001, job_id: "job-1", value: "25" },
        { event_type: "compute.util", entity_id: "gpu-00", value: "[N/A]" },
        { event_type: "error.hw", entity_id: "nvme0n1", value: "IO_ERROR" },
      ]);
      assert.equal((accepted as { accepted: number }).accepted, 4);
      const m = await eventually(async () => {
        const s = await scrape(ex.url);
        return (s.get("xctl_diagnoses_total") ?? 0) > 0 && s.get('xctl_scene_active{scene="gpu_util_low"}') === 1 ? s : undefined;
      }, 10_000, "gpu_util_low active at util 25 (the site's threshold is 30)");
      assert.equal(m.get('xctl_scene_active{scene="gpu_busy"}'), 0, '"[N/A]" is not above 90');
      assert.equal(m.get('xctl_scene_active{scene="any_nic"}'), 0, "min_confidence 0 with no condition holding");
      assert.equal(m.get('xctl_diagnoses_by_scene{scene="any_nic"}'), 0);
      assert.equal(m.get('xctl_scene_active{scene="proto"}'), 0);
    } finally {
      await ex.stop();
    }
  });
});
