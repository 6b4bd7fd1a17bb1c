// "Why did my job die", asked after the alert fired, through the compiled binary: a labelled
// incident's events pushed to `serve` (shifted to end now, as they just happened), the process
// that dies leaves the graph a second later (SPEC §3), and `why PID` and GET /api/v1/why/:pid
// still answer with what why said just before it left, marked ended; ps, the graph and the
// metrics of the graph no longer show it, and a new process on the pid wins.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const INCIDENTS = join(ROOT, "test/fixtures/incidents");

interface Ended {
  pid: number;
  job_id: string | null;
  state: string;
  ended: boolean;
  left_because?: string;
  left_at?: string;
  kept_until?: string;
  root_causes: { entity: string; error_type: string }[];
  consumes: { resource: string }[];
  scenes: { scene: string; evidence: { events?: { pid: number | null; value: string }[] }[] }[];
}

/** Pushes the incident ending 2 s ago; then `body` with the CLI bound to the exporter. */
async function pushed(incident: string, body: (url: string, cli: (...args: string[]) => Promise<{ code: number | null; out: string }>) => Promise<void>): Promise<void> {
  const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
  try {
    const events = readFileSync(join(INCIDENTS, `${incident}.ndjson`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { ts: number });
    const shift = Date.now() - 2000 - events[events.length - 1].ts;
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify({ ...e, ts: e.ts + shift })).join("\n") });
    assert.equal(res.status, 200, await res.text());
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, "--url", ex.url], { timeoutMs: 10_000 });
      return { code: r.code, out: r.stdout + r.stderr };
    };
    await body(ex.url, cli);
  } finally {
    await ex.stop();
  }
}

const pidsOf = async (url: string) => ((await (await fetch(`${url}/api/v1/processes`)).json()) as { pid: number }[]).map((p) => p.pid);

describe("why of a process that just ended, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a tenant that died after its GPU fell off the bus: its last answer, with root cause, scenes and evidence, after it left the graph", { timeout: 30_000 }, async () => {
    await pushed("12-xid79-cotenant-exits", async (url, cli) => {
      await eventually(async () => !(await pidsOf(url)).includes(12230), 10_000, "pid 12230 to leave the graph");
      const res = await fetch(`${url}/api/v1/why/12230`);
      assert.equal(res.status, 200);
      const a = (await res.json()) as Ended;
      assert.deepEqual([a.ended, a.pid, a.job_id, a.state, a.left_because], [true, 12230, "job-1223", "exit", "ended"]);
      assert.deepEqual(a.root_causes.map((c) => `${c.error_type}@${c.entity}`), ["XID_79@gpu-01"]);
      assert.deepEqual(a.consumes.map((c) => c.resource), ["gpu-01"]);
      assert.deepEqual(a.scenes.map((s) => s.scene).sort(), ["gpu_xid", "process_crash"]);
      const crash = a.scenes.find((s) => s.scene === "process_crash")!;
      assert.ok(crash.evidence.some((c) => c.events?.some((e) => e.pid === 12230 && e.value === "exit")), JSON.stringify(crash.evidence));
      // Kept for the error window (5 minutes by default) from when it left.
      assert.equal(Date.parse(a.kept_until!) - Date.parse(a.left_at!), 5 * 60_000);

      const why = await cli("why", "12230");
      assert.equal(why.code, 0, why.out);
      assert.match(why.out, /^pid 12230 {2}job job-1223 {2}state exit\nended: this process has ended and left the graph at \S+ \(removed after it ended; its last event \S+\)\.\nThis is its last answer, as it stood just before it left; kept until \S+\.\n\nroot causes:\n {2}XID_79 on gpu-01 /, why.out);
      assert.match(why.out, /^ {2}process_crash \(Process crash\), critical/m, why.out);
      assert.match(why.out, /process\.state gpu-01 "exit" pid 12230 job job-1223/, why.out);

      // The graph rule stands: ps, the graph dump and the graph's metrics have let it go.
      assert.doesNotMatch((await cli("ps")).out, /12230/);
      assert.doesNotMatch(await (await fetch(`${url}/api/v1/graph`)).text(), /pid-12230/);
      const m = await scrape(url);
      assert.equal(m.get("xctl_blockedby_edges"), 1, "only the hanging tenant 12201 is blocked");
      assert.equal(m.get("xctl_ended_answers"), 1);
      assert.equal(m.get("xctl_ended_answers_dropped_total"), 0);
      // The tenant that still hangs is answered live.
      const live = (await (await fetch(`${url}/api/v1/why/12201`)).json()) as Ended;
      assert.deepEqual([live.ended, live.state], [false, "running"]);

      // A new process on the pid wins over the remembered one.
      const now = Date.now();
      const start = { ts: now, event_type: "process.state", entity_id: "gpu-02", job_id: "job-next", pid: 12230, value: "start" };
      assert.equal((await fetch(`${url}/api/v1/events`, { method: "POST", body: JSON.stringify(start) })).status, 200);
      const next = (await (await fetch(`${url}/api/v1/why/12230`)).json()) as Ended;
      assert.deepEqual([next.ended, next.job_id, next.state, next.root_causes], [false, "job-next", "running", []]);
      assert.equal((next as { ended_before?: { job_id: string } }).ended_before?.job_id, "job-1223");
      const nextWhy = await cli("why", "12230");
      assert.match(nextWhy.out, /^pid 12230 {2}job job-next {2}state running\n\(an earlier process on this pid, job job-1223, state exit, left the graph at \S+: xctl-exporter why 12230 --ended gives its last answer\)\n\nroot causes:\n {2}none known/, nextWhy.out);
      // The one that died is still there to ask for, by name.
      const last = (await (await fetch(`${url}/api/v1/why/12230?ended=true`)).json()) as Ended;
      assert.deepEqual([last.ended, last.job_id, last.state], [true, "job-1223", "exit"]);
      const lastWhy = await cli("why", "12230", "--ended");
      assert.equal(lastWhy.code, 0, lastWhy.out);
      assert.match(lastWhy.out, /^pid 12230 {2}job job-1223 {2}state exit\nended: this process has ended/, lastWhy.out);
      const none = await cli("why", "12201", "--ended");
      assert.deepEqual([none.code, none.out], [1, `xctl-exporter: no process with pid 12201 left the graph lately at ${url}\n`]);
    });
  });

  it("a job that died of a double-bit ECC error on a hot GPU: why names the crash, not only the heat", { timeout: 30_000 }, async () => {
    await pushed("104-hot-gpu-double-bit-ecc-job-dies", async (url, cli) => {
      await eventually(async () => !(await pidsOf(url)).includes(90003), 10_000, "pid 90003 to leave the graph");
      const why = await cli("why", "90003");
      assert.equal(why.code, 0, why.out);
      assert.match(why.out, /^pid 90003 {2}job job-9000 {2}state exit\nended: this process has ended/, why.out);
      assert.match(why.out, /^ {2}process_crash \(Process crash\)/m, why.out);
      assert.match(why.out, /error\.hw gpu-03 "XID_48"/, why.out);
      const json = JSON.parse((await cli("why", "90003", "--json")).out) as Ended;
      assert.equal(json.ended, true);
      assert.ok(json.scenes.some((s) => s.scene === "process_crash"));
    });
  });
});
