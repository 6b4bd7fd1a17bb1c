// SPEC §4's condition semantics on hand-written rules: patterns, the seven operators, the
// three value types, any/all, confidence and min_confidence, required_events.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRule } from "../../src/diagnosis/rules-load.ts";
import { IdPattern, ValuePattern } from "../../src/diagnosis/pattern.ts";
import { ev, scenario, start, T0 } from "./_scenario.ts";

function rule(scene: string, conditions: string, applicability = "{min_confidence: 1.0}"): ReturnType<typeof parseRule> {
  return parseRule(
    `name: ${scene}
scene: ${scene}
priority: 1
conditions: ${conditions}
root_cause_pattern: {primary: p}
solution_steps: []
related_evidences: []
applicability: ${applicability}
`,
    `${scene}.yaml`,
  );
}

function withRules(...rules: ReturnType<typeof parseRule>[]) {
  return scenario({ rules });
}

describe("patterns", () => {
  it("match ids whole, with * and | alternatives", () => {
    const p = new IdPattern("gpu-*|npu-*");
    assert.ok(p.test("gpu-03"));
    assert.ok(p.test("npu-"));
    assert.ok(!p.test("xgpu-03"));
    assert.ok(!p.test("GPU-03"));
    assert.ok(new IdPattern("mlx5_*").test("mlx5_0"));
    assert.ok(!new IdPattern("mlx5_*").test("mlx50"), "_ is literal");
    assert.ok(new IdPattern("a.b").test("a.b") && !new IdPattern("a.b").test("axb"), ". is literal");
    assert.ok(new IdPattern("pid-1*3").test("pid-123"));
    // Cached answers stay right when the cache is full and starts over.
    const small = new IdPattern("gpu-*", 2);
    for (const id of ["gpu-1", "cpu-1", "gpu-2", "cpu-1", "gpu-1"]) assert.equal(small.test(id), id.startsWith("gpu-"));
  });

  it("match values by containing an alternative, ignoring case", () => {
    const v = new ValuePattern("OOM|out of memory");
    assert.ok(v.test("CUDA Out Of Memory"));
    assert.ok(v.test("oom-killer"));
    assert.ok(!v.test("ECC"));
    assert.ok(new ValuePattern("XID_*9").test("NVRM XID_79 fallen"));
  });
});

describe("event conditions", () => {
  it("need type, entity, value pattern and a numeric value at the threshold", async () => {
    const s = withRules(rule("hot", `[{type: event, event_type: compute.util, entity_id_pattern: "gpu-*", value_threshold: 90}]`));
    s.send(ev("compute.util", "npu-0", "99"));
    s.send(ev("compute.util", "gpu-0", "89.9"));
    s.send(ev("compute.util", "gpu-0", "high"));
    s.send(ev("compute.mem", "gpu-0", "99"));
    assert.deepEqual(s.scenes(), []);
    s.send(ev("compute.util", "gpu-0", "90"));
    assert.deepEqual(s.scenes(), ["hot"]);
    await s.ex.stop();
  });

  it("turn away a value containing an alternative of value_exclude, with or without value_pattern", async () => {
    const s = withRules(
      rule("fatal", `[{type: event, event_type: error.hw, value_exclude: "TEMP_HIGH|slowdown"}]`),
      rule("xid", `[{type: event, event_type: error.hw, value_pattern: "XID", value_exclude: "XID_63"}]`),
    );
    s.send(ev("error.hw", "gpu-0", "TEMP_HIGH temp=93"));
    s.send(ev("error.hw", "gpu-1", "HW_SLOWDOWN hw_thermal_SLOWDOWN"));
    s.send(ev("error.hw", "gpu-2", "XID_63 row remapping recorded"));
    // XID_63 is no TEMP_HIGH: the first rule takes it; the second turns it away.
    assert.deepEqual(s.scenes(), ["fatal"]);
    s.send(ev("error.hw", "gpu-3", "XID_48"));
    assert.deepEqual(s.scenes().sort(), ["fatal", "xid"]);
    await s.ex.stop();
  });
});

describe("event conditions with latest: true", () => {
  const queued = () => rule("queued", `[{type: event, event_type: storage.qdepth, entity_id_pattern: "sd*", value_threshold: 1, latest: true}]`);
  /** Whether the condition holds now: a run, after the one that reports a brief match since the last. */
  const holdsNow = (s: ReturnType<typeof withRules>) => {
    s.scenes();
    return s.scenes().includes("queued");
  };

  it("hold on each entity's newest numeric reading: a later one under the threshold takes back the older ones there", async () => {
    const s = withRules(queued());
    s.send(ev("storage.qdepth", "sda", "4"), 0);
    s.send(ev("storage.qdepth", "sdb", "2"), 10);
    assert.equal(holdsNow(s), true);
    s.send(ev("storage.qdepth", "sda", "0"), 10_000);
    assert.equal(holdsNow(s), true, "sdb's queue is still the newest there");
    s.send(ev("storage.qdepth", "sdb", "0.4"), 20_000);
    assert.equal(holdsNow(s), false, "both queues emptied: nothing is queued anywhere, though 4 was queued 20 s ago");
    s.send(ev("storage.qdepth", "sdb", "IO_WAIT D for 30s", 7), 30_000);
    assert.equal(holdsNow(s), false, "a non-numeric reading neither matches nor takes back");
    s.send(ev("storage.qdepth", "sdb", "3"), 40_000);
    assert.equal(holdsNow(s), true);
    await s.ex.stop();
  });

  it("take back nothing with a reading older than the one kept, and a pid's reading only that pid's own", async () => {
    const s = withRules(queued());
    s.send(ev("storage.qdepth", "sda", "5"), 10_000);
    s.send({ ...ev("storage.qdepth", "sda", "0"), ts: T0 + 5_000 });
    assert.equal(holdsNow(s), true, "an older reading read late");
    s.send(ev("storage.qdepth", "sda", "0", 9), 11_000);
    assert.equal(holdsNow(s), true, "pid 9's empty queue is not the device's");
    await s.ex.stop();
  });

  it("is refused without value_threshold, and must be true or false", () => {
    assert.throws(() => rule("x", `[{type: event, event_type: storage.qdepth, latest: true}]`), /latest: needs value_threshold/);
    assert.throws(() => rule("x", `[{type: event, event_type: storage.qdepth, value_threshold: 1, latest: "yes"}]`), /latest: must be true or false/);
  });
});

describe("graph conditions", () => {
  it("hold while a matching edge exists, by node ids at both ends", async () => {
    const s = withRules(rule("blocked", `[{type: graph, edge_type: blocked_by, from_pattern: "pid-1*", to_pattern: "error-gpu-*"}]`));
    s.send(start(21));
    s.send(ev("compute.util", "gpu-0", "50", 21));
    s.send(ev("error.hw", "gpu-0", "XID_13"));
    assert.deepEqual(s.scenes(), [], "pid-21 does not match pid-1*");
    s.send(start(15));
    s.send(ev("compute.util", "gpu-0", "50", 15));
    s.send(ev("error.hw", "gpu-0", "XID_13"));
    assert.deepEqual(s.scenes(), ["blocked"]);
    s.send(ev("process.state", "h", "exit", 15));
    s.send(ev("compute.util", "gpu-0", "50"), 10_000);
    s.scenes();
    assert.equal(s.ex.diagnosis.active.has("blocked"), false, "the edge left with the process");
    await s.ex.stop();
  });
});

describe("metric conditions", () => {
  const cases: [string, string, string, boolean][] = [
    // op, target/value_type, node value, holds
    ["gt", "10, value_type: numeric", "10.5", true],
    ["gt", "10, value_type: numeric", "10", false],
    ["gte", "10, value_type: numeric", "10", true],
    ["lt", "10, value_type: numeric", "9", true],
    ["lte", "10, value_type: numeric", "10.1", false],
    ["eq", "10, value_type: numeric", "10.0", true],
    ["eq", "\"10\", value_type: string", "10.0", false],
    ["ne", "10, value_type: numeric", "11", true],
    ["lt", "10, value_type: numeric", "n/a", false],
    ["lt", "10, value_type: string", "9", false],
    ["lt", "10, value_type: auto", "9", true],
    ["eq", "n/a, value_type: auto", "n/a", true],
    ["contains", "\"IO_WAIT|stall\", value_type: string", "io_wait", true],
    ["contains", "IO_WAIT", "0.5", false],
    // auto (the default) with a numeric target and a reading that is no number: it passes no
    // ordering and equals nothing (text order would put "[N/A]" above 90 and "100%" below it)
    ["gt", "10, value_type: auto", "abc", false],
    ["lt", "10, value_type: auto", "abc", false],
    ["gt", "90", "[N/A]", false],
    ["gte", "90", "[Not Supported]", false],
    ["lt", "90", "100%", false],
    ["lte", "90", "N/A", false],
    ["eq", "90", "ninety", false],
    ["ne", "90", "[N/A]", true],
    ["gt", "90", "95", true],
    ["ne", "\"x\", value_type: string", "y", true],
    ["gte", "\"b\", value_type: string", "b", true],
    ["lte", "\"b\", value_type: string", "c", false],
  ];
  for (const [op, target, value, holds] of cases) {
    it(`${op} ${target} on "${value}" ${holds ? "holds" : "does not hold"}`, async () => {
      const s = withRules(rule("m", `[{type: metric, node_type: resource, entity_id_pattern: "mlx5_*", metrics: [{key: bw, op: ${op}, target: ${target}}]}]`));
      s.send(ev("transport.bw", "mlx5_0", value));
      assert.deepEqual(s.scenes(), holds ? ["m"] : []);
      await s.ex.stop();
    });
  }

  it("on a key no event sets, even one Object.prototype has (constructor, toString), never hold and never break a push", async () => {
    const keys = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "temperature"];
    const s = withRules(
      ...keys.map((k, i) => rule(`k${i}`, `[{type: metric, node_type: resource, metrics: [{key: "${k}", op: gt, target: 5}]}]`)),
      ...keys.map((k, i) => rule(`c${i}`, `[{type: metric, metrics: [{key: "${k}", op: contains, target: "function"}]}]`)),
      ...keys.map((k, i) => rule(`n${i}`, `[{type: metric, node_type: resource, metrics: [{key: "${k}", op: ne, target: x, value_type: string}]}]`)),
    );
    s.send(start(3));
    s.send(ev("compute.util", "gpu-0", "50", 3));
    s.send(ev("error.hw", "gpu-0", "XID_13", 3));
    assert.deepEqual(s.scenes(), []);
    assert.equal(s.ex.graph.resources.get("gpu-0")?.meta.util, "50", "the reading was taken");
    await s.ex.stop();
  });

  it("need one node matching every entry, and follow value changes both ways", async () => {
    const s = withRules(
      rule("busy_full", `[{type: metric, node_type: resource, metrics: [{key: util, op: gte, target: 90}, {key: mem, op: gte, target: 90}]}]`),
    );
    s.send(ev("compute.util", "gpu-0", "95"));
    s.send(ev("compute.mem", "gpu-1", "95"));
    assert.deepEqual(s.scenes(), [], "two nodes each matching one entry");
    s.send(ev("compute.mem", "gpu-0", "91"));
    assert.deepEqual(s.scenes(), ["busy_full"]);
    s.send(ev("compute.util", "gpu-0", "20"));
    assert.deepEqual(s.scenes(), []);
    await s.ex.stop();
  });

  it("match error nodes by their entity id, and processes by state", async () => {
    const s = withRules(
      rule("err", `[{type: metric, node_type: error, entity_id_pattern: "gpu-*", metrics: [{key: error_type, op: contains, target: XID}]}]`),
      rule("ckpt", `[{type: metric, node_type: process, metrics: [{key: state, op: eq, target: D}]}]`),
    );
    s.send(ev("error.hw", "gpu-4", "XID_31"));
    s.send(start(8));
    s.send(ev("process.state", "h", "D", 8));
    assert.deepEqual(s.scenes().sort(), ["ckpt", "err"]);
    await s.ex.stop();
  });
});

describe("any, all, confidence", () => {
  const conds = `[
    {type: event, event_type: error.net},
    {type: any, conditions: [{type: graph, edge_type: waits_on}, {type: event, event_type: topo.link_down}]},
    {type: all, conditions: [{type: event, event_type: transport.drop}, {type: metric, metrics: [{key: drop, op: gt, target: 5}]}]}
  ]`;

  it("count top-level conditions holding against min_confidence", async () => {
    const s = withRules(rule("two_thirds", conds, "{min_confidence: 0.66}"), rule("all_three", conds, "{min_confidence: 1}"));
    s.send(ev("error.net", "mlx5_0", "down"));
    assert.deepEqual(s.scenes(), [], "1 of 3");
    s.send(ev("topo.link_down", "mlx5_0", "1"));
    let r = s.ex.engine.runNow("api");
    assert.deepEqual(r.matches.map((m) => [m.scene, m.confidence]), [["two_thirds", 0.667]]);
    s.send(ev("transport.drop", "mlx5_0", "3"));
    assert.deepEqual(s.scenes(), ["two_thirds"], "all needs both children");
    s.send(ev("transport.drop", "mlx5_0", "7"));
    r = s.ex.engine.runNow("api");
    assert.deepEqual(r.matches.map((m) => [m.scene, m.confidence]).sort(), [["all_three", 1], ["two_thirds", 1]]);
    await s.ex.stop();
  });

  it("min_confidence 0 means any one condition: a rule with none holding matches nothing, host-wide or per process", async () => {
    const two = `[{type: event, event_type: error.net, entity_id_pattern: "mlx5_*"}, {type: graph, edge_type: waits_on}]`;
    const s = withRules(
      rule("zero_host", two, "{min_confidence: 0}"),
      { ...rule("zero_proc", two, "{min_confidence: 0}"), scope: "process" },
      rule("zero_gated", `[{type: graph, edge_type: waits_on}]`, "{min_confidence: 0, required_events: [transport.drop]}"),
    );
    s.send(start(7));
    s.send(ev("compute.util", "gpu-0", "50", 7));
    s.send(ev("error.hw", "nvme0n1", "IO_ERROR"));
    assert.deepEqual(s.scenes(), [], "nothing holds: no scene, not one with confidence 0 and no evidence");
    assert.deepEqual(s.ex.engine.scenesFor(7), [], "nor for pid 7");
    s.send(ev("transport.drop", "mlx5_0", "3"));
    assert.deepEqual(s.scenes(), [], "a required event seen, still no condition holding");
    s.send(ev("transport.drop", "mlx5_0", "3", 7)); // pid 7 now waits on mlx5_0
    const r = s.ex.engine.runNow("api");
    assert.deepEqual(r.matches.map((m) => [m.scene, m.confidence, m.affected_pids]).sort(), [
      ["zero_gated", 1, [7]],
      ["zero_host", 0.5, [7]],
      ["zero_proc", 0.5, [7]],
    ]);
    for (const m of r.matches) assert.ok(m.evidence.length > 0, `${m.scene} carries evidence`);
    await s.ex.stop();
  });

  it("require every required_events type inside the window", async () => {
    const s = withRules(rule("gated", `[{type: event, event_type: error.hw}]`, "{min_confidence: 1, required_events: [error.hw, intent.run]}"));
    s.send(ev("error.hw", "gpu-0", "XID_13"), 0);
    assert.deepEqual(s.scenes(), []);
    s.send({ ...ev("intent.run", "sched", "submit", 1), job_id: "j" }, 1000);
    assert.deepEqual(s.scenes(), ["gated"]);
    s.send(ev("error.hw", "gpu-0", "XID_13"), 302_000);
    assert.deepEqual(s.scenes(), [], "intent.run left the window");
    await s.ex.stop();
  });
});

describe("many conditions", () => {
  // Conditions keep per-node answers in bits of one word; past 31 they fall back to sets.
  // Both kinds must give the same answers: 40 rules, each its own threshold and pattern.
  it("answer the same past the 31 condition bits", async () => {
    const rules = [];
    for (let i = 0; i < 20; i++) {
      rules.push(rule(`low${i}`, `[{type: metric, node_type: resource, entity_id_pattern: "gpu-${i}|npu-${i}", metrics: [{key: util, op: lt, target: ${10 + i}, value_type: numeric}]}]`));
      rules.push(rule(`busy${i}`, `[{type: graph, edge_type: consumes, to_pattern: "gpu-${i}"}]`));
    }
    const s = withRules(...rules);
    for (let i = 0; i < 20; i++) {
      s.send(start(100 + i));
      s.send(ev("compute.util", `gpu-${i}`, "50", 100 + i)); // consumes gpu-i, util above every threshold
    }
    const expectBusy = Array.from({ length: 20 }, (_, i) => `busy${i}`);
    assert.deepEqual(s.scenes().sort(), expectBusy.sort());
    for (let i = 0; i < 20; i++) s.send(ev("compute.util", `gpu-${i}`, String(10 + i - (i % 2)))); // odd ones now below
    const low = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 2 === 1).map((i) => `low${i}`);
    assert.deepEqual(s.scenes().sort(), [...expectBusy, ...low].sort());
    for (let i = 0; i < 20; i++) s.send(ev("compute.util", `gpu-${i}`, "99"));
    assert.deepEqual(s.scenes().sort(), expectBusy.sort());
    await s.ex.stop();
  });
});

describe("evidence", () => {
  it("lists the conditions that held in rule order, conditions[2] before conditions[10]", async () => {
    const conds = Array.from({ length: 12 }, (_, i) => `{type: event, event_type: error.hw, value_pattern: "E${i}"}`).join(", ");
    const s = withRules(rule("twelve", `[${conds}]`, "{min_confidence: 0.5}"));
    for (let i = 0; i < 12; i++) s.send(ev("error.hw", "gpu-0", `E${i}`));
    const m = s.ex.engine.runNow("api").matches[0];
    assert.deepEqual(m.evidence.map((e) => e.path), Array.from({ length: 12 }, (_, i) => `conditions[${i}]`));
    await s.ex.stop();
  });
});

describe("evidence paths of upstream's form", () => {
  it("read as the file has them, as rules check names them", async () => {
    const up = parseRule(
      `name: up
scene: up
priority: 1
conditions:
  all:
    - {type: event, event_type: error.net}
    - any:
        - {type: graph, edge_type: blocked_by}
        - {type: all, conditions: [{type: event, event_type: topo.link_down}]}
root_cause_pattern: {primary: p}
solution_steps: []
`,
      "up.yaml",
    );
    const s = withRules(up);
    s.send(ev("error.net", "mlx5_0", "down"));
    s.send(ev("topo.link_down", "mlx5_0", "1"));
    const m = s.ex.engine.runNow("api").matches[0];
    assert.deepEqual(m.evidence.map((e) => e.path), ["conditions.all[0]", "conditions.all[1].any[1].conditions[0]"]);
    await s.ex.stop();
  });
});

describe("reading bands", () => {
  // Readings that fall between the same thresholds as the last one skip the evaluation: the
  // answers must still be those of evaluating every condition on every reading.
  it("give every condition on a key the answer of a full evaluation, reading after reading (seeded)", async () => {
    const ops = ["lt", "lte", "gt", "gte", "eq", "ne"] as const;
    const targets = [5, 10, 10, 40.5, 90];
    const rules = targets.flatMap((t, i) => ops.map((op) => rule(`r${i}_${op}`, `[{type: metric, node_type: resource, entity_id_pattern: "gpu-*", metrics: [{key: util, op: ${op}, target: ${t}, value_type: numeric}]}]`)));
    const holds = (v: string, op: (typeof ops)[number], t: number) => {
      if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v)) return false;
      const n = Number(v);
      return { lt: n < t, lte: n <= t, gt: n > t, gte: n >= t, eq: n === t, ne: n !== t }[op];
    };
    const s = withRules(...rules);
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const values = ["0", "4.99", "5", "5.0", "7", "10", "10.000", "11", "40.5", "40", "41", "90", "95", "n/a", "", " 10"];
    const last = new Map<string, string>();
    for (let step = 0; step < 400; step++) {
      const gpu = `gpu-${Math.floor(rand() * 3)}`;
      const v = values[Math.floor(rand() * values.length)];
      s.send(ev("compute.util", gpu, v));
      last.set(gpu, v);
      const want = targets.flatMap((t, i) => ops.filter((op) => [...last.values()].some((x) => holds(x, op, t))).map((op) => `r${i}_${op}`));
      assert.deepEqual(s.scenes().sort(), [...new Set(want)].sort(), `step ${step}: ${gpu} = "${v}"`);
    }
    await s.ex.stop();
  });
});
