// Site rules as an SRE writes them, against the compiled binary: a bad --rules directory stops
// start-up with one line (file, line, field, reason; exit 2) that `rules check` also prints; a
// directory with no rule file and a second --rules are said, not passed over; and a running
// exporter with a threshold copy of a default rule, a rule on nvidia-smi's "[N/A]", a
// min_confidence 0 rule and one on a key named `constructor` takes pushes and shows in /metrics
// what the rules say; SIGHUP reloads the directory, keeping what the diagnosis knew.
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

  it("reloads its rules on SIGHUP: a changed threshold judged at once, an active scene kept with its count, a removed one gone, a bad file refused", async () => {
    const d = join(dir, "reload");
    mkdirSync(d);
    const util = (target: number) =>
      GOOD.replace("scene: good", "scene: site_util").replace("priority: 50", "priority: 30").replace("  - {type: event, event_type: error.hw}", `  - {type: metric, node_type: resource, entity_id_pattern: "gpu-*", metrics: [{key: util, op: gte, target: ${target}}]}`);
    // Held by the event window alone: the graph keeps no event.
    writeFileSync(join(d, "site_xid.yaml"), GOOD.replace("scene: good", "scene: site_xid").replace("{type: event, event_type: error.hw}", "{type: event, event_type: error.hw, value_pattern: XID_79}"));
    writeFileSync(join(d, "site_util.yaml"), util(90));
    writeFileSync(join(d, "site_old.yaml"), GOOD.replace("scene: good", "scene: site_old").replace("error.hw", "error.net"));
    const ex = await startExporter(["--rules", d, "--no-default-rules", "--diagnosis-interval", "50ms"]);
    try {
      const now = Date.now();
      const res = await fetch(`${ex.url}/api/v1/events`, {
        method: "POST",
        body: [
          { event_type: "process.state", entity_id: "gpu-01", pid: 4001, job_id: "job-1", value: "start" },
          { event_type: "compute.util", entity_id: "gpu-01", pid: 4001, job_id: "job-1", value: "60" },
          { event_type: "error.hw", entity_id: "gpu-00", value: "XID_79" },
        ].map((l) => JSON.stringify({ ts: now, ...l })).join("\n"),
      });
      assert.equal(((await res.json()) as { accepted: number }).accepted, 3);
      const before = await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get('xctl_scene_active{scene="site_xid"}') === 1 ? s : undefined;
      }, 10_000, "site_xid active");
      assert.equal(before.get('xctl_scene_active{scene="site_util"}'), 0, "util 60 is under 90");
      assert.equal(before.get('xctl_scene_activations_total{scene="site_xid"}'), 1);
      assert.equal(before.get("xctl_rules_last_reload_successful"), 1, "start-up's load");
      const xidRuns = before.get('xctl_diagnoses_by_scene{scene="site_xid"}')!;

      // The SRE lowers the threshold and drops a rule, then reloads.
      writeFileSync(join(d, "site_util.yaml"), util(50));
      rmSync(join(d, "site_old.yaml"));
      ex.child.kill("SIGHUP");
      const after = await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get('xctl_scene_active{scene="site_util"}') === 1 ? s : undefined;
      }, 10_000, `site_util active at util 60 after the reload\n${ex.stderr()}`);
      // The line is written before the run's result is served, but reaches this pipe on its own time.
      await eventually(() => ex.stderr().includes(`rules reloaded: 2 loaded (2 from ${d}); removed site_old; changed site_util`), 5000, `the reload line\n${ex.stderr()}`);
      assert.equal(after.get('xctl_scene_active{scene="site_xid"}'), 1, "the Xid seen before the reload still holds");
      assert.equal(after.get('xctl_scene_activations_total{scene="site_xid"}'), 1, "not cleared and fired again");
      assert.ok(after.get('xctl_diagnoses_by_scene{scene="site_xid"}')! >= xidRuns, "its counts kept");
      assert.equal(after.get('xctl_scene_activations_total{scene="site_util"}'), 1);
      assert.deepEqual([...after.keys()].filter((k) => k.includes('scene="site_old"')), [], "the removed scene's series are gone");
      assert.equal(after.get("xctl_rules_last_reload_successful"), 1);
      assert.equal(after.get('xctl_rules_reloads_total{result="success"}'), 1);

      // A broken file: refused, said in one line and in the metrics, the rules in force answer.
      writeFileSync(join(d, "site_bad.yaml"), GOOD.replace("scene: good", "scene: site_bad").replace("priority: 50", "priority: high"));
      ex.child.kill("SIGHUP");
      const failed = await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get("xctl_rules_last_reload_successful") === 0 ? s : undefined;
      }, 10_000, `the failed reload in the metrics\n${ex.stderr()}`);
      assert.equal(failed.get('xctl_rules_reloads_total{result="failure"}'), 1);
      assert.ok(failed.get("xctl_rules_last_reload_success_timestamp_seconds")! * 1000 >= now - 1000, "the success before it");
      const line = await eventually(() => ex.stderr().split("\n").find((l) => l.includes("rules reload failed")), 5000, "the failure line");
      assert.ok(line.endsWith(`rules reload failed, the 2 rules loaded before stay in force: ${join(d, "site_bad.yaml")}:3: priority: must be an integer (got "high")`), ex.stderr());
      const run = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { scene: string; matches: { scene: string }[] };
      assert.deepEqual(run.matches.map((m) => m.scene), ["site_xid", "site_util"], "the rules in force answer");
      assert.equal(failed.get('xctl_scene_active{scene="site_bad"}'), undefined);

      // The same through POST /-/reload (Prometheus's path, for a reloader sidecar): refused
      // with the reason while the file is bad, then what changed once it is fixed.
      const refused = await fetch(`${ex.url}/-/reload`, { method: "POST" });
      assert.equal(refused.status, 500);
      assert.match(((await refused.json()) as { error: string }).error, /^rules reload failed, the rules loaded before stay in force: .*site_bad\.yaml:3: priority: must be an integer/);
      writeFileSync(join(d, "site_bad.yaml"), GOOD.replace("scene: good", "scene: site_new"));
      const ok = await fetch(`${ex.url}/-/reload`, { method: "POST" });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { ok: true, rules: 3, added: ["site_new"], removed: [], changed: [], event_windows: { kept: 1, new: 1 }, warnings: [] });
      const reloaded = await scrape(ex.url);
      assert.equal(reloaded.get("xctl_rules_last_reload_successful"), 1);
      // A new condition starts with an empty window (the graph keeps no event): seen at 0.
      assert.equal(reloaded.get('xctl_scene_active{scene="site_new"}'), 0);
      assert.equal((await fetch(`${ex.url}/-/reload`)).status, 405, "POST only");
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
