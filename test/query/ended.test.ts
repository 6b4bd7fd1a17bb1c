// The last `why` answer of a process that left the graph (src/query/ended.ts), through a real
// exporter fed at controlled event times (a replay's clock: the answers' time is event time):
// what it keeps, for how long, how many, what goes at the bound, and that a live process wins.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatWhy } from "../../src/cli/why.ts";
import { createApp } from "../../src/http/app.ts";
import { Queries } from "../../src/query/queries.ts";
import { EndedProcesses, type EndedAnswer } from "../../src/query/ended.ts";
import { isoTime } from "../../src/query/time.ts";
import { ev, scenario, start, T0 } from "../diagnosis/_scenario.ts";

const WINDOW = 5 * 60_000;

/** Pids `pids` consume gpu-0, a Xid 79 hits it, and they exit at 10 s; at 12 s a reading makes the cleanup that removes them. */
function crashed(pids: number[], opts: Parameters<typeof scenario>[0] = {}) {
  const s = scenario(opts);
  const q = new Queries(s.ex);
  for (const pid of pids) s.send(start(pid));
  for (const pid of pids) s.send({ ...ev("compute.util", "gpu-0", "90", pid), job_id: `job-${pid}` });
  s.send(ev("error.hw", "gpu-0", "XID_79"), 8_000);
  for (const pid of pids) s.send({ ...ev("process.state", "host-01", "exit", pid), job_id: `job-${pid}` }, 10_000 + pid);
  s.send(ev("compute.util", "gpu-9", "1"), 12_000);
  return { s, q };
}

function metric(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("the last why answer of a process that left the graph", () => {
  it("is what why said just before it left, marked ended, until the error window has passed; ps and the graph no longer show it", () => {
    const { s, q } = crashed([100]);
    assert.equal(s.ex.graph.processes.has(100), false, "the process left the graph at the cleanup");
    assert.deepEqual(q.processes().rows.map((r) => r.pid), []);
    const a = q.why(100) as EndedAnswer;
    assert.ok(a !== undefined, "an answer for the pid that ended");
    assert.deepEqual(
      [a.ended, a.pid, a.job_id, a.state, a.left_because, a.scenes_asked],
      [true, 100, "job-100", "exit", "ended", true],
    );
    assert.deepEqual(a.root_causes.map((c) => `${c.error_type}@${c.entity}`), ["XID_79@gpu-0"]);
    assert.deepEqual(a.consumes.map((c) => c.resource), ["gpu-0"]);
    const scenes = a.scenes.map((m) => m.scene);
    assert.ok(scenes.includes("process_crash") && scenes.includes("gpu_xid"), scenes.join(","));
    // Each scene with its evidence: the exit event of this process.
    const crash = a.scenes.find((m) => m.scene === "process_crash")!;
    assert.ok(crash.evidence.some((c) => c.events?.some((e) => e.pid === 100 && e.value === "exit")), JSON.stringify(crash.evidence));
    assert.equal(a.left_at, isoTime(T0 + 12_000));
    assert.equal(a.kept_until, isoTime(T0 + 12_000 + WINDOW));
    assert.equal(a.last_event_at, isoTime(T0 + 10_100));
    assert.equal(a.started_at, isoTime(T0 + 1));
    // Kept through the window (the clock is event time here), forgotten after it.
    s.send(ev("compute.util", "gpu-9", "1"), 12_000 + WINDOW - 1);
    assert.equal(q.why(100)?.ended, true);
    s.send(ev("compute.util", "gpu-9", "1"), 12_000 + WINDOW);
    assert.equal(q.why(100), undefined);
    assert.equal(s.ex.ended!.size, 0);
  });

  it("says how long each list was when it keeps only the first 16 (the API's *_total, the CLI's heading)", () => {
    const s = scenario();
    const q = new Queries(s.ex);
    s.send(start(100));
    for (let g = 0; g < 20; g++) s.send({ ...ev("compute.util", `gpu-${String(g).padStart(2, "0")}`, "90", 100), job_id: "job-100" }, 100 + g);
    for (let d = 0; d < 18; d++) s.send({ ...ev("storage.qdepth", `nvme${String(d).padStart(2, "0")}n1`, "IO_WAIT", 100), job_id: "job-100" }, 200 + d);
    for (let g = 0; g < 20; g++) s.send(ev("error.hw", `gpu-${String(g).padStart(2, "0")}`, "XID_79"), 8_000 + g);
    const live = q.why(100)!;
    assert.deepEqual([live.root_causes.length, live.consumes.length, live.waits_on.length], [20, 20, 18], "a live answer is whole");
    assert.equal(live.root_causes_total, undefined);
    s.send({ ...ev("process.state", "host-01", "exit", 100), job_id: "job-100" }, 10_000);
    s.send(ev("compute.util", "gpu-99", "1"), 12_000);
    const a = q.why(100) as EndedAnswer;
    assert.equal(a.ended, true);
    assert.deepEqual([a.root_causes.length, a.root_causes_total], [16, 20]);
    assert.deepEqual([a.consumes.length, a.consumes_total], [16, 20]);
    assert.deepEqual([a.waits_on.length, a.waits_on_total], [16, 18]);
    // The newest faults are the ones kept.
    assert.equal(a.root_causes[0].entity, "gpu-19");
    const text = formatWhy(a);
    assert.match(text, /^root causes \(16 of 20, newest first\):$/m);
    assert.match(text, /^waits on \(16 of 18, by name\):$/m);
    assert.match(text, /^consumes \(16 of 20, by name\):$/m);
    // A list that was not cut has a plain heading.
    const { q: q2 } = crashed([7]);
    const whole = q2.why(7) as EndedAnswer;
    assert.equal(whole.consumes_total, undefined);
    assert.match(formatWhy(whole), /^root causes:$/m);
  });

  it("keeps --scene-settle instead when it is longer than the error window", () => {
    const { s } = crashed([100], { sceneSettleMs: 2 * WINDOW });
    assert.equal(s.ex.ended!.keepMs, 2 * WINDOW);
  });

  it("gives way to a live process on the pid, and the newer one's end replaces it", () => {
    const { s, q } = crashed([100]);
    s.send({ ...start(100), job_id: "job-new" }, 13_000);
    const live = q.why(100)!;
    assert.deepEqual([live.ended, live.job_id, live.state, live.root_causes.length], [false, "job-new", "running", 0]);
    assert.deepEqual(live.ended_before, { job_id: "job-100", state: "exit", left_at: isoTime(T0 + 12_000) });
    s.send({ ...ev("process.state", "host-01", "exit", 100), job_id: "job-new" }, 14_000);
    s.send(ev("compute.util", "gpu-9", "1"), 16_000);
    const a = q.why(100) as EndedAnswer;
    assert.deepEqual([a.ended, a.job_id, a.root_causes.length, a.left_at], [true, "job-new", 0, isoTime(T0 + 16_000)]);
    assert.equal(s.ex.ended!.size, 1, "one answer per pid");
  });

  it("over HTTP: 200 with ended: true; ?ended=true asks for the remembered one even while a new process holds the pid", async () => {
    const { s } = crashed([100]);
    const app = createApp(s.ex);
    const get = async (path: string) => {
      const res = await app.request(path, {}, { remoteAddress: "127.0.0.1" });
      return [res.status, (await res.json()) as Record<string, unknown>] as const;
    };
    const [code, body] = await get("/api/v1/why/100");
    assert.deepEqual([code, body.ended, body.state], [200, true, "exit"]);
    // A run for it cannot be asked (the rules read the graph); the 404 points to its last answer.
    const run = await app.request("/api/v1/diagnoses?pid=100", { method: "POST" }, { remoteAddress: "127.0.0.1" });
    assert.deepEqual([run.status, await run.json()], [404, { error: `pid 100 has left the graph (ended at ${isoTime(T0 + 12_000)}): GET /api/v1/why/100 gives its last answer` }]);
    s.send({ ...start(100), job_id: "job-new" }, 13_000);
    assert.deepEqual((await get("/api/v1/why/100"))[1].job_id, "job-new");
    assert.deepEqual((await get("/api/v1/why/100?ended=false"))[1].job_id, "job-new");
    const [c2, last] = await get("/api/v1/why/100?ended=true");
    assert.deepEqual([c2, last.ended, last.job_id, last.state], [200, true, "job-100", "exit"]);
    assert.deepEqual(await get("/api/v1/why/101?ended=true"), [404, { error: "no process with pid 101 left the graph lately" }]);
    assert.deepEqual(await get("/api/v1/why/100?ended=yes"), [400, { error: "ended must be true or false" }]);
  });

  it("says a process that another job's process replaced on its pid left for that reason", () => {
    const s = scenario();
    s.send(start(7));
    s.send({ ...ev("compute.util", "gpu-0", "50", 7), job_id: "job-other" }, 2_000);
    assert.equal(s.ex.graph.processes.get(7)?.jobId, "job-other");
    assert.deepEqual([s.ex.ended!.get(7)?.left_because, s.ex.ended!.get(7)?.job_id], ["pid_reused", "job-7"]);
  });

  it("keeps evicted processes too, with the reason", () => {
    const s = scenario({ maxNodes: 100 });
    for (let pid = 1; pid <= 101; pid++) s.send(start(pid));
    const evicted = [...Array(101).keys()].map((i) => i + 1).filter((pid) => !s.ex.graph.processes.has(pid));
    assert.ok(evicted.length > 0);
    for (const pid of evicted) assert.deepEqual([s.ex.ended!.get(pid)?.left_because, s.ex.ended!.get(pid)?.state], ["evicted", "running"]);
  });

  it("holds at most its bound: the oldest answer goes, one with neither a scene nor a root cause first; counted in the metrics", async () => {
    const s = scenario({ maxEndedAnswers: 3 });
    const q = new Queries(s.ex);
    for (const pid of [1, 2, 3, 4, 5]) s.send(start(pid));
    s.send({ ...ev("compute.util", "gpu-0", "90", 1), job_id: "job-1" });
    s.send(ev("error.hw", "gpu-0", "XID_79"), 5_000);
    for (const pid of [1, 2, 3, 4, 5]) s.send({ ...ev("process.state", "host-01", "exit", pid), job_id: `job-${pid}` }, 6_000 + pid);
    s.send(ev("compute.util", "gpu-9", "1"), 8_000);
    assert.deepEqual([1, 2, 3, 4, 5].map((pid) => q.why(pid)?.ended ?? null), [true, null, null, true, true]);
    assert.equal(s.ex.ended!.dropped, 2);
    const text = await s.ex.metrics.render();
    assert.equal(metric(text, "xctl_ended_answers"), 3);
    assert.equal(metric(text, "xctl_ended_answers_dropped_total"), 2);
    assert.equal(metric(text, "xctl_ended_answers_scenes_skipped_total"), 0);
  });

  it("asks the rules about at most its budget of leaving processes a second; the others keep the graph's part, marked", () => {
    let now = T0;
    const s = scenario();
    const store = new EndedProcesses({ keepMs: WINDOW, scenesPerSecond: 2, scenesFor: (pid) => s.ex.engine.scenesFor(pid), now: () => now });
    s.ex.graph.onLeave((p, reason) => store.keep(p, reason));
    const pids = [1, 2, 3, 4, 5];
    for (const pid of pids) s.send(start(pid));
    for (const pid of pids) s.send({ ...ev("compute.util", "gpu-0", "90", pid), job_id: `job-${pid}` });
    s.send(ev("error.hw", "gpu-0", "XID_79"), 5_000);
    for (const pid of pids) s.send({ ...ev("process.state", "host-01", "exit", pid), job_id: `job-${pid}` }, 6_000 + pid);
    s.send(ev("compute.util", "gpu-9", "1"), 8_000);
    const answers = pids.map((pid) => store.get(pid)!);
    assert.deepEqual(answers.map((a) => a.scenes_asked), [true, true, false, false, false]);
    assert.ok(answers[0].scenes.some((m) => m.scene === "process_crash"));
    assert.deepEqual(answers[4].scenes, []);
    assert.deepEqual(answers.map((a) => a.root_causes.map((c) => c.error_type).join()), pids.map(() => "XID_79"));
    assert.equal(store.scenesSkipped, 3);
    // `why` says the scenes were not asked, not that none matched.
    assert.match(formatWhy(answers[4]), /\nscenes:\n {2}not asked as it left \(more processes left at once than the rules are asked about\): see xctl-exporter status\n$/);
    assert.match(formatWhy(answers[0]), /\nscenes:\n(.*\n)* {2}process_crash \(Process crash\), critical/);
    // A second later the budget is there again.
    now += 1000;
    s.send(start(6), 9_000);
    s.send({ ...ev("process.state", "host-01", "exit", 6), job_id: "job-6" }, 9_001);
    s.send(ev("compute.util", "gpu-9", "1"), 11_000);
    assert.equal(store.get(6)?.scenes_asked, true);
  });
});
