// Rule files to checked rules: the default set loads, and every file of the broken corpus
// (test/fixtures/rules-bad) is refused naming the field and the reason its header expects.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../src/config-error.ts";
import { checkRulePaths, checkRuleText, defaultRules, formatProblem, loadRuleFile, loadRulesDir, loadRuleSet, parseRule, type RuleProblem } from "../../src/diagnosis/rules-load.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
const BAD = join(FIXTURES, "rules-bad");
const GOOD = join(FIXTURES, "rules-good");
const SCENES = [
  "gpu_oom", "gpu_util_low", "network_stall", "roce_congestion", "storage_io_error", "storage_slow",
  "dataloader_io_error", "checkpoint_timeout", "process_crash", "workload_stalled", "npu_subhealth",
  "npu_ecc_error", "hccs_error", "gpu_xid", "nic_link_down", "nvswitch_error", "host_oom_kill",
  "gpu_slowdown", "npu_fault",
];

function _refusal(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail("expected the rule to be refused");
}

function _expectation(path: string): { field: string; reason: string } {
  let text: string;
  try {
    text = readFileSync(path.replace(/\.yaml$/, ".expect"), "utf8");
  } catch {
    text = readFileSync(path, "utf8");
  }
  const field = /expect-field: ?(.*)|^field: ?(.*)/m.exec(text);
  const reason = /expect-reason: ?(.*)|^reason: ?(.*)/m.exec(text);
  assert.ok(field && reason, `${path} names no expected field and reason`);
  return { field: (field[1] ?? field[2]).trim(), reason: (reason[1] ?? reason[2]).trim() };
}

describe("default rules", () => {
  it("load one rule per scene of the issue, plus gpu_xid, highest priority first", () => {
    const rules = defaultRules();
    assert.deepEqual(rules.map((r) => r.scene).sort(), [...SCENES].sort());
    const set = loadRuleSet();
    for (let i = 1; i < set.length; i++) assert.ok(set[i - 1].priority >= set[i].priority);
    for (const r of rules) {
      assert.ok(r.solution_steps.length >= 2, `${r.scene} has solution steps`);
      assert.ok(r.related_evidences.length > 0, `${r.scene} names its evidence`);
    }
  });

  it("name the well-known XIDs in gpu_xid's root cause", () => {
    const xid = defaultRules().find((r) => r.scene === "gpu_xid")!;
    const text = xid.root_cause_pattern.secondary.join("\n");
    for (const code of [13, 31, 43, 45, 48, 63, 64, 74, 79, 92, 94, 95]) assert.match(text, new RegExp(`Xid ${code}:`));
  });
});

describe("broken rule corpus", () => {
  const files = readdirSync(BAD).filter((f) => f.endsWith(".yaml")).sort();

  it("has cases", () => assert.ok(files.length >= 30));

  for (const f of files) {
    it(`refuses ${f}`, () => {
      const path = join(BAD, f);
      const want = _expectation(path);
      const err = _refusal(() => loadRuleFile(path));
      assert.equal(err.file, path);
      assert.equal(err.field, want.field, err.message);
      assert.ok(err.reason.includes(want.reason), `reason "${err.reason}" lacks "${want.reason}"`);
      assert.ok(!err.message.includes("\n"), "one line");
      assert.ok(err.message.startsWith(`${path}${err.line !== undefined ? `:${err.line}` : ""}: `), err.message);
      // A field's problem names its line: the key's own, or (missing) the mapping it is missing
      // from; a top-level field missing has none.
      if (want.field !== "" && !(/^[a-z_]+$/.test(want.field) && err.reason.startsWith("missing"))) {
        assert.ok(err.line !== undefined && err.line > 0, `no line in ${err.message}`);
        const key = /(?:^|\.)([^.[\]]+)$/.exec(want.field)?.[1];
        const text = readFileSync(path, "utf8").split("\n")[err.line - 1];
        if (key !== undefined && !err.reason.startsWith("missing")) assert.ok(text.includes(`${key}:`), `line ${err.line} "${text}" is not the line of ${key}`);
      }
    });
  }

  it("names the line of a YAML syntax error and of a second document, as file:line", () => {
    const tab = checkRuleText("name: t\nscene: t\npriority: 5\nconditions:\n  - type: event\n\tevent_type: error.hw\n", "t.yaml");
    assert.deepEqual(tab.problems.map(formatProblem), ["t.yaml:6: not valid YAML: Tabs are not allowed as indentation"]);
    const two = checkRuleText("name: a\nscene: a\npriority: 1\nconditions:\n  - type: event\n    event_type: error.hw\n---\nname: b\n", "two.yaml");
    assert.deepEqual(two.problems.map(formatProblem), ["two.yaml:8: 2 YAML documents (expected one rule per file)"]);
    const op = checkRuleText("name: d\nscene: d\npriority: 10\nconditions:\n  all:\n    - type: event\n      event_type: error.hw\n    - type: metric\n      metrics:\n        - key: util\n          op: gtt\n          target: 5\n", "d.yaml");
    assert.match(op.problems.map(formatProblem).join("\n"), /^d\.yaml:11: conditions\.all\[1\]\.metrics\[0\]\.op: unknown operator "gtt"/m);
  });

  it("refuses two files with one scene in one directory, naming the second and the first", () => {
    const err = _refusal(() => loadRulesDir(join(BAD, "dup-scene")));
    assert.equal(err.file, join(BAD, "dup-scene", "b.yaml"));
    assert.equal(err.field, "scene");
    assert.match(err.reason, /same_scene.*a\.yaml/);
  });
});

describe("rule directories", () => {
  it("loads the fixture rule, and the rules/ directory as the embedded set", () => {
    assert.deepEqual(loadRulesDir(GOOD).map((r) => r.scene), ["example"]);
    const fromDir = loadRulesDir(fileURLToPath(new URL("../../rules/", import.meta.url)));
    assert.deepEqual(fromDir.map((r) => r.scene).sort(), [...SCENES].sort());
  });

  it("skips hidden entries and other extensions, follows links, and accepts an empty directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-rules-"));
    try {
      // rules check warns about it: a directory with nothing to check is likely the wrong one;
      // loading it (serve, replay, rules list) gives the same warning.
      const warnings: RuleProblem[] = [];
      assert.deepEqual(loadRulesDir(dir, warnings), []);
      assert.deepEqual(warnings.map(formatProblem), [`${dir}: warning: no rule files here (*.yaml, *.yml)`]);
      assert.deepEqual(checkRulePaths([dir]).problems.map(formatProblem), [`${dir}: warning: no rule files here (*.yaml, *.yml)`]);
      mkdirSync(join(dir, "..data"));
      writeFileSync(join(dir, "..data", "site.yaml"), readFileSync(join(GOOD, "example.yaml")));
      symlinkSync(join("..data", "site.yaml"), join(dir, "site.yml"));
      writeFileSync(join(dir, "README.md"), "# not a rule\n");
      writeFileSync(join(dir, ".hidden.yaml"), "not: [valid\n");
      assert.deepEqual(loadRulesDir(dir).map((r) => r.source), [join(dir, "site.yml")]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checks a device or a pipe named as a file without reading it (rules check /dev/zero)", () => {
    // /dev/null first: before the fix it read as an empty file, and /dev/zero never ended.
    assert.match(_refusal(() => loadRuleFile("/dev/null")).message, /^\/dev\/null: not a regular file$/);
    assert.deepEqual(checkRulePaths(["/dev/zero"]).problems.map(formatProblem), ["/dev/zero: not a regular file"]);
  });

  it("check each file once, however often the paths reach it", () => {
    const r = checkRulePaths([GOOD, GOOD + "/", join(GOOD, "example.yaml"), join(GOOD, "..", "rules-good", "example.yaml")]);
    assert.deepEqual([r.rules, r.problems.filter((p) => !p.warning)], [1, []]);
  });

  it("refuses a missing directory with its path", () => {
    const err = _refusal(() => loadRulesDir(join(BAD, "no-such-dir")));
    assert.equal(err.file, join(BAD, "no-such-dir"));
    assert.match(err.reason, /no such file/);
  });

  it("adds a directory to the defaults, replacing a scene already loaded, or stands alone", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-rules-"));
    try {
      const text = readFileSync(join(GOOD, "example.yaml"), "utf8").replace("scene: example", "scene: gpu_oom").replace("name: Example", "name: Site OOM");
      writeFileSync(join(dir, "oom.yaml"), text);
      const set = loadRuleSet({ dir });
      assert.equal(set.length, SCENES.length);
      assert.equal(set.find((r) => r.scene === "gpu_oom")!.name, "Site OOM");
      assert.deepEqual(loadRuleSet({ dir, defaults: false }).map((r) => r.name), ["Site OOM"]);
      assert.deepEqual(loadRuleSet({ defaults: false }), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("parsed fields", () => {
  it("fills defaults and sorts steps", () => {
    const r = parseRule(
      `name: N
scene: s1
priority: -3
conditions: [{type: graph, edge_type: waits_on}]
root_cause_pattern: {primary: P}
solution_steps:
  - {step: 2, action: b, manual: true}
  - {step: 1, action: a, command: "ls", manual: false}
related_evidences: []
`,
      "inline.yaml",
    );
    assert.equal(r.priority, -3);
    assert.deepEqual(r.applicability, { min_confidence: 0.8, required_events: [] });
    assert.deepEqual(r.root_cause_pattern.secondary, []);
    assert.deepEqual(r.solution_steps.map((s) => s.step), [1, 2]);
    assert.equal(r.solution_steps[0].command, "ls");
  });

  it("keeps a numeric target as text and defaults value_type to auto", () => {
    const r = parseRule(
      `name: N
scene: s2
priority: 1
conditions: [{type: metric, metrics: [{key: util, op: gte, target: 7.5}]}]
root_cause_pattern: {primary: P}
solution_steps: []
related_evidences: [compute.util]
`,
      "inline.yaml",
    );
    assert.deepEqual(r.conditions[0], { type: "metric", metrics: [{ key: "util", op: "gte", target: "7.5", value_type: "auto" }] });
  });
});

describe("a quick site rule (name, scene, priority, conditions)", () => {
  const QUICK = `name: NVLink down
scene: nvlink_down
priority: 84
scope: process
conditions:
  - {type: event, event_type: topo.link_down, entity_id_pattern: "gpu-*"}
  - any:
      - {type: graph, edge_type: blocked_by, to_pattern: "error-gpu-*"}
      - {type: event, event_type: error.hw, value_pattern: NVLINK}
applicability: {required_events: [process.state]}
`;

  it("loads with defaults: the name as root cause, no steps, the event types its conditions name", () => {
    const warnings: RuleProblem[] = [];
    const r = parseRule(QUICK, "site/nvlink.yaml", warnings);
    assert.deepEqual(r.root_cause_pattern, { primary: "NVLink down", secondary: [] });
    assert.deepEqual(r.solution_steps, []);
    assert.deepEqual(r.related_evidences, ["topo.link_down", "error.hw", "process.state"]);
    assert.deepEqual(r.applicability, { min_confidence: 0.8, required_events: ["process.state"] });
    assert.equal(r.severity, "critical");
    assert.deepEqual(
      warnings.map((w) => [w.file, w.field, w.reason, w.warning]),
      [["site/nvlink.yaml", "solution_steps", "none given: a match of this rule will carry no solution steps", true]],
    );
  });

  it("takes an empty field (YAML null) as left out, and keeps what is given", () => {
    const warnings: RuleProblem[] = [];
    const r = parseRule(QUICK + "root_cause_pattern:\nsolution_steps:\nrelated_evidences: [compute.util]\n", "x.yaml", warnings);
    assert.equal(r.root_cause_pattern.primary, "NVLink down");
    assert.deepEqual(r.related_evidences, ["compute.util"]);
    assert.deepEqual(warnings.map((w) => w.field), ["solution_steps"]);
    const steps = parseRule(QUICK + "solution_steps: [{step: 1, action: Look, manual: true}]\n", "x.yaml", (warnings.length = 0, warnings));
    assert.equal(steps.solution_steps.length, 1);
    assert.deepEqual(warnings, [], "steps given: no warning");
  });

  it("is a rule check warning, not an error; a malformed optional field is still an error", () => {
    const { rule, problems } = checkRuleText(QUICK, "x.yaml");
    assert.ok(rule);
    assert.deepEqual(problems.map((p) => p.warning), [true]);
    const bad = checkRuleText(QUICK + "solution_steps: {step: 1}\n", "x.yaml");
    assert.equal(bad.rule, undefined);
    assert.deepEqual(bad.problems.map((p) => [p.field, p.reason, p.warning]), [["solution_steps", "must be a list (got a mapping)", false]]);
  });
});

describe("upstream-style rule files (test/fixtures/rules-upstream)", () => {
  const UP = join(FIXTURES, "rules-upstream");

  it("load with a warning for every key no event sets; a mapping of conditions is one condition", () => {
    const warnings: RuleProblem[] = [];
    const rules = loadRulesDir(UP, warnings);
    assert.deepEqual(rules.map((r) => r.scene), ["gpu_overheat", "hbm_ecc", "nvlink_lane_down", "site_xid99"]);
    const hot = rules[0];
    assert.equal(hot.conditions.length, 1, "{all: [...]} is one condition");
    assert.equal(hot.conditions[0].type, "all");
    const ecc = rules[1];
    assert.equal(ecc.conditions[0].type, "any");
    assert.equal((ecc.conditions[0] as { conditions: { type: string }[] }).conditions[1].type, "all", "a nested `- all:` is a group");
    assert.deepEqual(rules[3].fault_scope, { XID_99: "process" });
    assert.deepEqual(
      warnings.map((w) => [w.file.slice(UP.length + 1), w.field, w.warning]),
      [
        ["gpu_overheat.yaml", "conditions.all[1].metrics[0].key", true],
        ["hbm_ecc.yml", "conditions.any[1].all[0].metrics[0].key", true],
        ["nvlink_lanes.yaml", "conditions.all[0].metrics[0].key", true],
        ["nvlink_lanes.yaml", "conditions.all[1].metrics[0].key", true],
      ],
    );
    assert.match(warnings[0].reason, /no event sets "temperature" on resource nodes \(known keys: util, mem, bw, drop, iops, qdepth\): this condition can never hold/);
    assert.match(warnings[3].reason, /"io_error" on process nodes/);
  });

  it("check names every problem of every file, with the valid values", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-rules-"));
    try {
      const good = readFileSync(join(GOOD, "example.yaml"), "utf8");
      writeFileSync(join(dir, "a.yaml"), good.replace("event_type: error.hw", "event_type: error.gpu").replace("op: lt", "op: below"));
      writeFileSync(join(dir, "b.yml"), good.replace("scene: example", "scene: other").replace("priority: 10", "priority: high"));
      const { rules, problems } = checkRulePaths([dir, join(UP, "gpu_overheat.yaml")]);
      assert.equal(rules, 1, "only the upstream file loads");
      assert.deepEqual(problems.map((p) => [p.file.split("/").pop(), p.field, p.warning]), [
        ["a.yaml", "conditions[0].event_type", false],
        ["a.yaml", "conditions[2].metrics[0].op", false],
        ["b.yml", "priority", false],
        ["gpu_overheat.yaml", "conditions.all[1].metrics[0].key", true],
      ]);
      assert.match(problems[0].reason, /unknown event type "error.gpu" \(one of compute.util, compute.mem, .*action.exec\)/);
      assert.match(problems[1].reason, /unknown operator "below" \(one of gt, lt, eq, gte, lte, ne, contains\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a fault scope that is neither device nor process, and two files that disagree on one", () => {
    const text = readFileSync(join(UP, "xid_site.yaml"), "utf8");
    const bad = checkRuleText(text.replace("XID_99: process", "XID_99: maybe"), "x.yaml").problems;
    assert.deepEqual(bad.map((p) => [p.field, p.reason]), [["fault_scope.XID_99", 'unknown fault scope "maybe" (one of device, process)']]);
    const dir = mkdtempSync(join(tmpdir(), "xctl-rules-"));
    try {
      writeFileSync(join(dir, "a.yaml"), text);
      writeFileSync(join(dir, "b.yaml"), text.replace("scene: site_xid99", "scene: other").replace("XID_99: process", "XID_99: device"));
      const err = _refusal(() => loadRulesDir(dir));
      assert.equal(err.field, "fault_scope.XID_99");
      assert.match(err.reason, /device here, process in .*a\.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("default rules: scope and severity, storage patterns for kernel block devices", () => {
    const byScene = new Map(defaultRules().map((r) => [r.scene, r]));
    assert.equal(byScene.get("workload_stalled")!.scope, "process");
    assert.equal(byScene.get("workload_stalled")!.severity, "critical");
    assert.equal(byScene.get("gpu_util_low")!.severity, "info");
    assert.equal(byScene.get("gpu_xid")!.scope, "host");
    const io = JSON.stringify(byScene.get("storage_io_error")!.conditions);
    for (const p of ["sd*", "vd*", "xvd*", "nvme*", "md*", "dm-*", "storage-*", "disk-*"]) assert.ok(io.includes(p), p);
  });

  it("severity defaults from priority", () => {
    const text = readFileSync(join(GOOD, "example.yaml"), "utf8");
    const sev = (prio: number) => parseRule(text.replace("priority: 10", `priority: ${prio}`), "x.yaml").severity;
    assert.deepEqual([sev(90), sev(75), sev(74), sev(40), sev(39), sev(-5)], ["critical", "critical", "warning", "warning", "info", "info"]);
    assert.equal(parseRule(text + "severity: warning\n", "x.yaml").severity, "warning");
    assert.equal(parseRule(text, "x.yaml").scope, "host");
  });
});

describe("patterns that load but would not match what they say", () => {
  const rule = (cond: string) => `name: P\nscene: p\npriority: 1\nconditions:\n  - ${cond}\nsolution_steps: [{step: 1, action: a, manual: true}]\n`;
  const warned = (cond: string) => {
    const r = checkRuleText(rule(cond), "p.yaml");
    assert.ok(r.rule, r.problems.map(formatProblem).join("\n"));
    return r.problems.filter((p) => p.warning).map((p) => `${p.field}: ${p.reason}`);
  };

  it("warn on regular-expression and shell-glob syntax, which matches literally", () => {
    for (const [cond, bit] of [
      [`{type: event, event_type: error.hw, entity_id_pattern: "gpu-[0-3]"}`, `"[0-3]"`],
      [`{type: event, event_type: error.hw, entity_id_pattern: "gpu-0?"}`, `"?"`],
      [`{type: event, event_type: error.hw, entity_id_pattern: "gpu-.*"}`, `".*"`],
      [`{type: event, event_type: error.hw, entity_id_pattern: "^mlx5_0$"}`, `"^"`],
      [`{type: graph, edge_type: consumes, to_pattern: "(gpu|npu)-*"}`, `"(gpu|npu)"`],
      [`{type: event, event_type: error.hw, value_pattern: "XID_.*"}`, `".*"`],
      [`{type: event, event_type: error.hw, value_pattern: "XID_[0-9]+"}`, `"[0-9]"`],
      [`{type: metric, metrics: [{key: state, op: contains, target: "check.*point"}]}`, `".*"`],
    ] as const) {
      const w = warned(cond);
      assert.equal(w.length, 1, `${cond}: ${w.join("; ")}`);
      assert.ok(w[0].includes(`looks like a regular expression or a shell glob (${bit})`), w[0]);
      assert.match(w[0], /patterns know only \* .* and \| .*so this may never match$/);
    }
  });

  it("warn on spaces around | (they belong to the alternatives)", () => {
    assert.deepEqual(warned(`{type: event, event_type: error.hw, entity_id_pattern: "gpu-* | npu-*"}`), [
      'conditions[0].entity_id_pattern: "gpu-* | npu-*" has spaces around | , which belong to the alternatives ("gpu-* " ...): no id has them, so this may never match',
    ]);
    assert.deepEqual(warned(`{type: event, event_type: error.hw, value_pattern: "OOM | out of memory"}`), [
      'conditions[0].value_pattern: "OOM | out of memory" has spaces around | , which belong to the alternatives ("OOM " ...): write a|b unless the spaces are meant',
    ]);
    assert.deepEqual(warned(`{type: event, event_type: error.hw, value_pattern: "out of memory|I/O error"}`), [], "spaces inside an alternative are fine");
  });

  it("warn on a graph end no node id takes: a process is pid-<pid>, a blocked_by edge ends at error-<entity>", () => {
    assert.deepEqual(warned(`{type: graph, edge_type: blocked_by, to_pattern: "gpu-*|npu-*"}`), [
      'conditions[0].to_pattern: "gpu-*|npu-*" matches no error node: a blocked_by edge ends at error-<entity> (error-gpu-03, error-gpu-*): this condition can never hold',
    ]);
    assert.deepEqual(warned(`{type: graph, edge_type: consumes, from_pattern: "4242|python*"}`), [
      'conditions[0].from_pattern: "4242|python*" matches no process: the edge starts at a process, whose id is pid-<pid> (pid-4242, pid-*): this condition can never hold',
    ]);
    assert.equal(warned(`{type: graph, edge_type: waits_on, to_pattern: "error-nvme*"}`).length, 1);
    assert.equal(warned(`{type: graph, edge_type: consumes, from_pattern: "pid-x*"}`).length, 1, "pids are digits");
    assert.deepEqual(warned(`{type: metric, node_type: process, entity_id_pattern: "4001", metrics: [{key: state, op: eq, target: D}]}`), [
      `conditions[0].entity_id_pattern: "4001" matches no process: a process's id is pid-<pid> (pid-4242, pid-*): this condition can never hold`,
    ]);
    assert.deepEqual(warned(`{type: metric, node_type: process, entity_id_pattern: "pid-4001", metrics: [{key: state, op: eq, target: D}]}`), []);
  });

  it("leave patterns that can match alone, the default rules' included", () => {
    for (const cond of [
      `{type: graph, edge_type: blocked_by, from_pattern: "pid-1*|pid-42", to_pattern: "error-gpu-*|*nvme*"}`,
      `{type: graph, edge_type: blocked_by, to_pattern: "e*"}`,
      `{type: graph, edge_type: consumes, from_pattern: "*4", to_pattern: "gpu-*|mlx5_*"}`,
      `{type: event, event_type: error.hw, entity_id_pattern: "nvswitch-*", value_pattern: ", Fatal,|[N/A]|I/O error"}`,
    ]) {
      assert.deepEqual(warned(cond), [], cond);
    }
    const warnings: RuleProblem[] = [];
    loadRulesDir(fileURLToPath(new URL("../../rules/", import.meta.url)), warnings);
    assert.deepEqual(warnings, []);
  });
});

describe("unknown fields", () => {
  it("name the field meant when one is a typo away, and list them all", () => {
    const base = `name: T\nscene: t\npriority: 1\nconditions:\n  - {type: event, event_type: error.hw, value_treshold: 5}\nsolution_steps: [{step: 1, action: a, manual: true, comand: ls}]\nprority: 2\nfoo: 1\n`;
    const reasons = checkRuleText(base, "t.yaml").problems.map((p) => `${p.field}: ${p.reason}`);
    assert.deepEqual(reasons, [
      "prority: unknown field (did you mean priority? one of name, scene, priority, scope, severity, conditions, root_cause_pattern, solution_steps, related_evidences, applicability, fault_scope)",
      "foo: unknown field (one of name, scene, priority, scope, severity, conditions, root_cause_pattern, solution_steps, related_evidences, applicability, fault_scope)",
      "conditions[0].value_treshold: unknown field (did you mean value_threshold? one of type, event_type, entity_id_pattern, value_pattern, value_exclude, value_threshold, latest)",
      "solution_steps[0].comand: unknown field (did you mean command? one of step, action, command, manual)",
    ]);
  });
});

describe("operators written as symbols", () => {
  it("are refused with the name to write", () => {
    for (const [sym, name] of [[">", "gt"], ["<=", "lte"], ["==", "eq"], ["!=", "ne"]]) {
      const r = checkRuleText(`name: S\nscene: s\npriority: 1\nconditions:\n  - {type: metric, metrics: [{key: util, op: "${sym}", target: 90}]}\n`, "s.yaml");
      assert.deepEqual(
        r.problems.filter((p) => !p.warning).map(formatProblem),
        [`s.yaml:5: conditions[0].metrics[0].op: unknown operator "${sym}" (write ${name}; one of gt, lt, eq, gte, lte, ne, contains)`],
      );
    }
  });
});

describe("a rule over the bound of leaf conditions", () => {
  it("is one problem, at the first condition past it", () => {
    const conds = Array.from({ length: 100 }, (_, i) => `  - {type: event, event_type: error.hw, value_pattern: v${i}}`).join("\n");
    const r = checkRuleText(`name: M\nscene: m\npriority: 1\nconditions:\n${conds}\n`, "m.yaml");
    assert.deepEqual(r.problems.filter((p) => !p.warning).map(formatProblem), ["m.yaml:69: conditions[64]: more than 64 conditions in one rule"]);
  });
});

describe("YAML as rule authors write it", () => {
  it("takes merge keys (<<: *anchor) to share a condition's fields", () => {
    const r = parseRule(
      `name: Merge
scene: merge
priority: 10
conditions:
  - &xid {type: event, event_type: error.hw, entity_id_pattern: "gpu-*", value_pattern: XID_79}
  - <<: *xid
    value_pattern: XID_74
solution_steps: [{step: 1, action: a, manual: true}]
`,
      "merge.yaml",
    );
    assert.deepEqual(r.conditions, [
      { type: "event", event_type: "error.hw", entity_id_pattern: "gpu-*", value_pattern: "XID_79" },
      { type: "event", event_type: "error.hw", entity_id_pattern: "gpu-*", value_pattern: "XID_74" },
    ]);
  });

  it("takes block scalars (> and |) for long text without the newlines why and status would print as \\n", () => {
    const r = parseRule(
      `name: >
  Multi-line
  title
scene: blocks
priority: 10
conditions: [{type: event, event_type: error.hw}]
root_cause_pattern:
  primary: >
    A long root cause folded
    over two lines
  secondary:
    - |
      one cause
      on two lines
solution_steps:
  - step: 1
    action: |
      Collect the logs
    command: |
      dmesg -T | tail -n 50
      journalctl -k --since "-10 min"
    manual: false
`,
      "blocks.yaml",
    );
    assert.equal(r.name, "Multi-line title");
    assert.deepEqual(r.root_cause_pattern, { primary: "A long root cause folded over two lines", secondary: ["one cause on two lines"] });
    assert.deepEqual(r.solution_steps[0], { step: 1, action: "Collect the logs", command: 'dmesg -T | tail -n 50\njournalctl -k --since "-10 min"', manual: false });
  });

  it("refuses a file that is not UTF-8 with its first bad line, and one over 1 MiB with its size; takes a BOM and CRLF line ends", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-rules-"));
    try {
      const good = readFileSync(join(GOOD, "example.yaml"), "utf8");
      const latin1 = Buffer.from(good.replace("name: Example", "name: Temp\u00e9rature"), "latin1");
      writeFileSync(join(dir, "latin1.yaml"), latin1);
      const err = _refusal(() => loadRuleFile(join(dir, "latin1.yaml")));
      const line = good.split("\n").findIndex((l) => l.startsWith("name: ")) + 1;
      assert.equal(err.message, `${join(dir, "latin1.yaml")}:${line}: not UTF-8 text (save the file as UTF-8)`);
      assert.deepEqual(checkRulePaths([dir]).problems.map(formatProblem), [err.message], "rules check agrees");
      rmSync(join(dir, "latin1.yaml"));
      writeFileSync(join(dir, "huge.yaml"), good + "# " + "x".repeat(1024 * 1024) + "\n");
      const huge = _refusal(() => loadRuleFile(join(dir, "huge.yaml")));
      assert.equal(huge.message, `${join(dir, "huge.yaml")}: ${good.length + 1024 * 1024 + 3} bytes, larger than the 1048576 a rule file may have`);
      rmSync(join(dir, "huge.yaml"));
      writeFileSync(join(dir, "bom.yaml"), "\ufeff" + good.replace(/\n/g, "\r\n"));
      assert.deepEqual(loadRulesDir(dir).map((r) => [r.scene, r.name]), [["example", "Example"]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
