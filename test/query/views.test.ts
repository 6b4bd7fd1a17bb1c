// The query layer's read views of the graph: process rows, why answers, JSON and DOT, and
// their limits. The DOT is checked by Graphviz's own `dot`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { StateGraph } from "../../src/graph/graph.ts";
import { graphDot } from "../../src/query/dot.ts";
import { graphView as _graphView } from "../../src/query/graph-view.ts";
import { processRows } from "../../src/query/processes.ts";
import { isoTime } from "../../src/query/time.ts";
import { whyView } from "../../src/query/why.ts";
import { formatWhy } from "../../src/cli/why.ts";
import type { SceneMatch } from "../../src/diagnosis/evidence.ts";
import type { EventType, XEvent } from "../../src/events/schema.ts";

const T0 = 1_732_500_000_000;
const graphView = (g: StateGraph, limit = 10_000) => _graphView(g, limit);
const ROW = { age_s: null, scenes: [], settling_scenes: [], blocked_by_errors: [] };

function ev(event_type: EventType, entity_id: string, value: string, pid: number | null = null, job_id: string | null = null, ts = T0): XEvent {
  return { ts, event_type, entity_id, job_id, pid, value };
}

/** pid 7 consumes gpu-0 (which then fails) and waits on mlx5_0; pid 3 consumes gpu-1. */
function scenario(): StateGraph {
  const g = new StateGraph();
  g.apply(ev("compute.util", "gpu-0", "85", 7, "job-a", T0), T0);
  g.apply(ev("compute.mem", "gpu-0", "70000", 7, "job-a", T0 + 1), T0);
  g.apply(ev("transport.bw", "mlx5_0", "0.2", 7, "job-a", T0 + 2), T0);
  g.apply(ev("compute.util", "gpu-1", "50", 3, null, T0 + 3), T0);
  g.apply(ev("error.hw", "gpu-0", "XID_79", null, null, T0 + 4), T0);
  return g;
}

describe("processRows", () => {
  it("lists processes by pid with resources, waits and blocks", () => {
    // The graph was fed with wall time T0: 90 s later, AGE says 90.
    const { rows, total } = processRows(scenario(), 10_000, new Map([[7, ["gpu_xid"]]]), T0 + 90_000);
    assert.equal(total, 2);
    assert.deepEqual(rows, [
      { ...ROW, pid: 3, job_id: null, state: "running", resources: ["gpu-1"], consumes: ["gpu-1"], waits_on: [], blocked_by: [], updated_at: isoTime(T0 + 3), age_s: 90 },
      {
        ...ROW,
        pid: 7,
        job_id: "job-a",
        state: "running",
        resources: ["gpu-0", "mlx5_0"],
        consumes: ["gpu-0"],
        waits_on: ["mlx5_0"],
        blocked_by: ["error-gpu-0"],
        blocked_by_errors: [{ error: "error-gpu-0", entity: "gpu-0", error_type: "XID_79" }],
        scenes: ["gpu_xid"],
        updated_at: isoTime(T0 + 2),
        age_s: 90,
      },
    ]);
  });

  it("cuts the list at the limit and says how many there are", () => {
    const g = new StateGraph();
    for (const pid of [9, 2, 5, 1]) g.apply(ev("process.state", "host", "start", pid), T0);
    const { rows, total } = processRows(g, 2);
    assert.equal(total, 4);
    assert.deepEqual(rows.map((r) => r.pid), [1, 2]);
  });
});

describe("whyView", () => {
  it("dates a root cause from its first report; a refresh moves only updated_at", () => {
    const g = scenario();
    g.apply(ev("error.hw", "gpu-0", "XID_48", null, null, T0 + 60_000), T0 + 60_000);
    const [cause] = whyView(g, 7)!.root_causes;
    assert.equal(cause.since, isoTime(T0 + 4));
    assert.equal(cause.updated_at, isoTime(T0 + 60_000));
    assert.equal(cause.error_type, "XID_48");
  });

  it("names the error reached over blocked_by, what it waits on and consumes", () => {
    const answer = whyView(scenario(), 7);
    assert.deepEqual(answer, {
      pid: 7,
      job_id: "job-a",
      state: "running",
      ended: false,
      root_causes: [{ error: "error-gpu-0", entity: "gpu-0", error_type: "XID_79", since: isoTime(T0 + 4), updated_at: isoTime(T0 + 4) }],
      waits_on: [{ resource: "mlx5_0", meta: { bw: "0.2" } }],
      consumes: [{ resource: "gpu-0", meta: { util: "85", mem: "70000" } }],
      scenes: [],
    });
  });

  it("is undefined for an unknown pid and takes scenes from the hook", () => {
    const g = scenario();
    assert.equal(whyView(g, 12345), undefined);
    const seen: number[] = [];
    const match: SceneMatch = {
      scene: "gpu_oom",
      rule: "GPU out of memory",
      priority: 90,
      severity: "critical",
      scope: "process",
      confidence: 1,
      root_cause: { primary: "the job needs more GPU memory", secondary: [] },
      causes: [],
      evidence: [],
      affected_pids: [3],
      affected_jobs: [],
      affected_pids_cut: false, causes_cut: false,
      solution_steps: [],
    };
    const answer = whyView(g, 3, (pid) => {
      seen.push(pid);
      return [match];
    });
    assert.deepEqual(seen, [3]);
    assert.deepEqual(answer?.scenes, [match]);
    assert.deepEqual(answer?.root_causes, []);
  });

  it("shows each process its own wait on a shared disk, not the last process's", () => {
    // Two jobs stuck on vda (builtin:procfs names the stuck task); diskstats adds host readings.
    const g = new StateGraph();
    g.apply(ev("storage.qdepth", "vda", "IO_WAIT D for 30s (child 4960)", 4874, null, T0), T0);
    g.apply(ev("storage.qdepth", "vda", "IO_WAIT D for 45s (thread 5002)", 5001, null, T0 + 1), T0);
    g.apply(ev("storage.iops", "vda", "12", null, null, T0 + 2), T0);
    g.apply(ev("storage.qdepth", "vda", "3", null, null, T0 + 3), T0);
    assert.deepEqual(whyView(g, 4874)?.waits_on, [{ resource: "vda", meta: { iops: "12", qdepth: "IO_WAIT D for 30s (child 4960)" } }]);
    assert.deepEqual(whyView(g, 5001)?.waits_on, [{ resource: "vda", meta: { iops: "12", qdepth: "IO_WAIT D for 45s (thread 5002)" } }]);
    // A later wait reading of its own replaces the earlier one; the disk leaving takes them along.
    g.apply(ev("storage.qdepth", "vda", "IO_WAIT D for 60s (child 4960)", 4874, null, T0 + 4), T0);
    assert.equal(whyView(g, 4874)?.waits_on[0].meta.qdepth, "IO_WAIT D for 60s (child 4960)");
    g.removeResource(g.resources.get("vda")!);
    assert.equal(g.processes.get(4874)?.waitReadings?.size, 0);
  });
});

describe("graphView", () => {
  it("gives every node with its metadata and every edge", () => {
    const view = graphView(scenario());
    assert.equal(view.truncated, false);
    assert.deepEqual(
      view.nodes.map((n) => [n.type, n.id]),
      [
        ["process", "pid-3"],
        ["process", "pid-7"],
        ["resource", "gpu-0"],
        ["resource", "gpu-1"],
        ["resource", "mlx5_0"],
        ["error", "error-gpu-0"],
      ],
    );
    assert.deepEqual(view.nodes[2], { id: "gpu-0", type: "resource", util: "85", mem: "70000", updated_at: isoTime(T0 + 1) });
    assert.deepEqual(view.nodes[5], { id: "error-gpu-0", type: "error", entity: "gpu-0", error_type: "XID_79", updated_at: isoTime(T0 + 4) });
    assert.deepEqual(view.edges, [
      { type: "consumes", from: "pid-3", to: "gpu-1" },
      { type: "consumes", from: "pid-7", to: "gpu-0" },
      { type: "waits_on", from: "pid-7", to: "mlx5_0" },
      { type: "blocked_by", from: "pid-7", to: "error-gpu-0" },
    ]);
  });

  it("keeps only edges between shown nodes under a limit, and says it cut", () => {
    const view = graphView(scenario(), 3);
    assert.equal(view.truncated, true);
    assert.deepEqual(view.nodes.map((n) => n.id), ["pid-3", "pid-7", "gpu-0"]);
    assert.deepEqual(view.edges, [{ type: "consumes", from: "pid-7", to: "gpu-0" }]);
  });
});

describe("graphDot", () => {
  it("names plain ids as they are, escapes every label, and styles each edge kind differently", () => {
    const g = scenario();
    g.apply(ev("compute.util", 'odd "gpu"\\x', "1", 7), T0);
    const dot = graphDot(graphView(g));
    assert.match(dot, /^digraph xctl \{\n/);
    assert.match(dot, /\}\n$/);
    // One font for the graph, its nodes and its edges.
    assert.equal(new Set(dot.match(/fontname="[^"]*"/g)).size, 1);
    // The odd id gets a generated name; its label shows it with quote and backslash escaped.
    assert.ok(dot.includes('[label="odd \\"gpu\\"\\\\x\\nutil=1"'), dot);
    assert.ok(dot.includes('"pid-7" -> "error-gpu-0" [label="blocked_by"'), dot);
    const body = dot.slice(0, dot.indexOf("subgraph cluster_legend"));
    const edgeLines = body.split("\n").filter((l) => l.includes(" -> "));
    // Five process edges and the error drawn on its resource.
    assert.equal(edgeLines.length, 6);
    assert.ok(body.includes('"error-gpu-0" -> "gpu-0" [label="on"'), body);
    for (const l of edgeLines) assert.match(l, /^ {2}"[^"]+" -> "[^"]+" \[label="(consumes|waits_on|blocked_by|on)", style=\w+, color="#[0-9a-f]{6}"/);
    const styleOf = (kind: string) => edgeLines.find((l) => l.includes(`label="${kind}"`))!.replace(/^.*\[label="[a-z_]+", /, "");
    const styles = new Set(["consumes", "waits_on", "blocked_by", "on"].map(styleOf));
    assert.equal(styles.size, 4);
    assert.match(dot, /subgraph cluster_legend \{[^}]*label="legend"/);
    for (const l of dot.split("\n")) assert.equal((l.replace(/\\./g, "").match(/"/g) ?? []).length % 2, 0, l);
  });

  const hasDot = spawnSync("dot", ["-V"], { stdio: "ignore" }).status === 0;

  it("is accepted by Graphviz whatever the ids hold (NUL, quotes, backslashes, newlines)", { skip: !hasDot && "dot (graphviz) not installed" }, () => {
    const g = scenario();
    const nasty = ['a"b', "c\\", "d\\\"e", "line1\nline2", "nul\u0000x", "esc\u001b[31m", "back\\n", "\\", '"', "é ✓", "-", "node", "edge", "#n1", "legend_process", "#legend_error"];
    for (const [i, id] of nasty.entries()) {
      g.apply(ev("compute.util", id, "1", 100 + i, `job\n${id}`), T0);
      g.apply(ev("error.hw", id, `XID_"${i}"\\`, null, null, T0 + 5), T0);
    }
    const dot = graphDot(graphView(g));
    const r = spawnSync("dot", ["-Tsvg"], { input: dot, encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, `${r.stderr}\n${dot}`);
    assert.equal(r.stderr, "", r.stderr);
    // Every node is drawn once: a collision of two ids would draw fewer.
    const nodes = graphView(g).nodes.length;
    assert.equal((r.stdout.match(/class="node"/g) ?? []).length, nodes + 4, "graph nodes plus the four of the legend");
    assert.ok(r.stdout.includes("line1\\nline2"), "a newline in an id shows as \\n");
    assert.ok(r.stdout.includes("nul\\x00x"), "NUL shows as \\x00");
  });
});

describe("isoTime", () => {
  it("formats event time and refuses what a Date cannot hold", () => {
    assert.equal(isoTime(0), "1970-01-01T00:00:00.000Z");
    assert.equal(isoTime(Number.MAX_SAFE_INTEGER), null);
  });
});

describe("why: the other processes of its job", () => {
  it("names the ranks of its job that errors block, beside its own root causes (none here), and no other job's", () => {
    const g = new StateGraph();
    for (let i = 0; i < 4; i++) g.apply(ev("compute.util", `gpu-0${i}`, "100", 100 + i, "job-a", T0 + i), Date.now());
    g.apply(ev("compute.util", "gpu-02", "100", 200, "job-b", T0 + 5), Date.now()); // another job shares gpu-02
    g.apply(ev("compute.util", "gpu-03", "100", 300, null, T0 + 6), Date.now()); // a process with no job id
    g.apply(ev("error.hw", "gpu-02", "XID_79", null, null, T0 + 10), Date.now());
    g.apply(ev("error.hw", "gpu-02", "GPU_LOST Unknown Error", null, null, T0 + 60_000), Date.now());
    const rank0 = whyView(g, 100)!;
    assert.deepEqual(rank0.root_causes, [], "the fault is not its own: its GPU is fine");
    assert.deepEqual(rank0.job_blocked, [
      { pid: 102, state: "running", errors: [{ entity: "gpu-02", error_type: "GPU_LOST Unknown Error" }, { entity: "gpu-02", error_type: "XID_79" }] },
    ]);
    assert.equal(whyView(g, 102)!.job_blocked, undefined, "no other rank of job-a is blocked");
    assert.equal(whyView(g, 200)!.job_blocked, undefined, "job-b's only process");
    assert.equal(whyView(g, 300)!.job_blocked, undefined, "no job id: no job to speak of");
  });
});

describe("why: a job with more blocked ranks than it lists", () => {
  it("lists 8 and says how many there are, in the API and in the text", () => {
    const g = new StateGraph();
    // Twelve ranks of job-a, each on its own GPU; each GPU but rank 0's falls off the bus.
    for (let i = 0; i < 12; i++) g.apply(ev("compute.util", `gpu-${i}`, "100", 100 + i, "job-a", T0 + i), Date.now());
    for (let i = 1; i < 12; i++) g.apply(ev("error.hw", `gpu-${i}`, "XID_79", null, null, T0 + 100 + i), Date.now());
    const rank0 = whyView(g, 100)!;
    assert.equal(rank0.job_blocked!.length, 8);
    assert.deepEqual(rank0.job_blocked!.map((q) => q.pid), [101, 102, 103, 104, 105, 106, 107, 108]);
    assert.equal(rank0.job_blocked_total, 11);
    assert.match(formatWhy(rank0), /^other processes of job job-a blocked by errors \(8 of 11, lowest pids first\):$/m);
    // All of them listed: no count.
    const rank1 = whyView(g, 101)!;
    assert.equal(rank1.job_blocked!.length, 8);
    assert.equal(rank1.job_blocked_total, 10);
    g.apply(ev("compute.util", "gpu-20", "100", 120, "job-b", T0 + 200), Date.now());
    g.apply(ev("compute.util", "gpu-21", "100", 121, "job-b", T0 + 201), Date.now());
    g.apply(ev("error.hw", "gpu-21", "XID_79", null, null, T0 + 202), Date.now());
    const b = whyView(g, 120)!;
    assert.equal(b.job_blocked_total, 1);
    assert.match(formatWhy(b), /^other processes of job job-b blocked by errors:$/m);
  });
});

describe("why names the device faults on what a process uses that are not charged to it", () => {
  const XID = "XID_48 NVRM: Xid (PCI:0000:2a:00): 48, An uncorrectable double bit error (DBE) has been detected";
  it("with the reason for each: started after, start not known, came to the device after; a blocked process has it as its root cause instead", () => {
    const g = new StateGraph();
    // Received now: a fault's window runs by event time and by receipt (why's answer reads the wall clock).
    const at = (e: XEvent) => g.apply(e, Date.now());
    // gpu-02: a backlog fault from before the graph saw the GPU. gpu-03: a fault while the graph watched it.
    at(ev("compute.util", "gpu-02", "100", 21, null, T0 + 60_000)); // readings only, its start never told
    at(ev("error.hw", "gpu-02", XID, null, null, T0));
    at(ev("compute.util", "gpu-03", "0", null, null, T0 - 60_000));
    at(ev("process.state", "pid-31", "start", 31, "job-b", T0 - 120_000));
    at(ev("compute.util", "gpu-03", "90", 31, "job-b", T0 - 100_000)); // on it before the fault: blocked
    at(ev("process.state", "pid-32", "start", 32, "job-c", T0 - 90_000)); // started before it, came to it after
    at(ev("error.hw", "gpu-03", "XID_79 GPU has fallen off the bus", null, null, T0 + 10_000));
    at(ev("compute.util", "gpu-03", "90", 32, "job-c", T0 + 20_000));
    at(ev("process.state", "pid-33", "start", 33, "job-d", T0 + 30_000)); // started after it
    at(ev("compute.util", "gpu-03", "90", 33, "job-d", T0 + 31_000));

    const spared = (pid: number) => whyView(g, pid)!.not_charged?.map((f) => `${f.entity} ${f.error_type.split(" ")[0]} ${f.reason}`);
    assert.deepEqual(spared(21), ["gpu-02 XID_48 start_unknown"]);
    assert.equal(spared(31), undefined, "blocked: its root cause, not a spared fault");
    assert.deepEqual(whyView(g, 31)!.root_causes.map((c) => c.entity), ["gpu-03"]);
    assert.deepEqual(spared(32), ["gpu-03 XID_79 came_after"]);
    assert.deepEqual(spared(33), ["gpu-03 XID_79 started_after"]);

    const text = formatWhy(whyView(g, 21)!);
    assert.match(text, /root causes:\n  none known\n/);
    assert.match(text, /faults on what it uses, not charged to it:\n  XID_48 on gpu-02 at 2024-11-25T02:00:00\.000Z: the fault came before the exporter saw who used the device, and this process's start is not known/);
    assert.match(formatWhy(whyView(g, 33)!), /XID_79 on gpu-03 at \S+: it started after that fault; a new report of the fault would charge it\n/);

    // A shared GPU: another process's own fault there is named as its, not this one's.
    at(ev("compute.util", "gpu-05", "90", 41, "job-e", T0 + 40_000));
    at(ev("compute.util", "gpu-05", "90", 42, "job-f", T0 + 40_000));
    at(ev("error.hw", "gpu-05", "OOM CUDA out of memory", 41, "job-e", T0 + 50_000));
    assert.deepEqual(whyView(g, 41)!.root_causes.map((c) => c.error_type), ["OOM CUDA out of memory"]);
    assert.equal(spared(41), undefined);
    assert.deepEqual(whyView(g, 42)!.not_charged, [{ entity: "gpu-05", error_type: "OOM CUDA out of memory", at: isoTime(T0 + 50_000), reason: "another_process", pid: 41 }]);
    assert.match(formatWhy(whyView(g, 42)!), /not charged to it:\n  OOM on gpu-05 at \S+: pid 41's own fault\n/);

    // The next report of the fault there charges each of them.
    at(ev("error.hw", "gpu-03", "XID_79 GPU has fallen off the bus", null, null, T0 + 60_000));
    assert.equal(spared(32), undefined);
    assert.deepEqual(whyView(g, 33)!.root_causes.map((c) => c.entity), ["gpu-03"]);
  });
});

describe("why's list of faults not charged", () => {
  it("is cut at 16, newest first, and says how many there are", () => {
    const g = new StateGraph();
    for (let pid = 100; pid <= 120; pid++) g.apply(ev("compute.util", "gpu-07", "90", pid, `job-${pid}`, T0), Date.now());
    for (let pid = 101; pid <= 120; pid++) g.apply(ev("error.hw", "gpu-07", "OOM", pid, `job-${pid}`, T0 + pid), Date.now());
    const a = whyView(g, 100)!;
    assert.equal(a.not_charged_total, 20);
    assert.deepEqual(a.not_charged!.map((f) => f.pid), Array.from({ length: 16 }, (_, i) => 120 - i));
    assert.match(formatWhy(a), /faults on what it uses, not charged to it \(16 of 20, newest first\):/);
  });
});
