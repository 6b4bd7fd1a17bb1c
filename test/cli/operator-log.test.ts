// What an operator sees of a running service: the start summary, the transitions in the log
// (scenes, a source crash-looping) in each log format, and /readyz's body.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, ROOT, startExporter, type RunningExporter } from "../_helpers.ts";

const SLOW = { timeout: 60_000 };
const T0 = Date.now();
const CRASH = join(ROOT, "test/fixtures/fault-probes/crash-loop.sh");

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, job_id: string | null = null, ts = T0): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

async function oom(ex: RunningExporter): Promise<void> {
  const body = [line("process.state", "host", "start", 5, "job-5"), line("compute.mem", "gpu-0", "98", 5, "job-5", T0 + 1), line("error.hw", "gpu-0", "OOM", null, null, T0 + 2)].join("\n");
  assert.equal(((await (await fetch(`${ex.url}/api/v1/events`, { method: "POST", body })).json()) as { accepted: number }).accepted, 3);
  assert.equal((await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).status, 200);
}

describe("the service's log", () => {
  let ex: RunningExporter | undefined;
  after(() => ex?.stop());

  it("pretty: a timestamp on every line, the start summary, a scene going active with pids, jobs and root cause", SLOW, async () => {
    ex = await startExporter([]);
    await oom(ex);
    await eventually(() => /scene active: gpu_oom/.test(ex!.stderr()), 10_000, "the scene line");
    const lines = ex.stderr().trimEnd().split("\n");
    for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info |warn |error|debug|trace) /, l);
    const text = ex.stderr();
    assert.match(text, /info  xctl-exporter \d+\.\d+\.\d+ \(\w+ [^)]+\) listening on http:\/\/127\.0\.0\.1:\d+\/metrics; landing page http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(text, /warn  no sources: nothing feeds the graph/);
    assert.match(text, /info  rules: 19 loaded \(19 embedded\)/);
    assert.match(text, /info  TLS off/);
    assert.match(text, /info  basic auth off/);
    assert.match(text, /info  pushes \(POST \/api\/v1\/events\) accepted from loopback only/);
    assert.match(text, /warn  scene active: gpu_oom: .*\(OOM on gpu-0\) scene=gpu_oom pids=5 jobs=job-5$/m);
    await ex.stop();
    ex = undefined;
  });

  it("logfmt as node_exporter writes it, a crash-looping source logged once and shown by /readyz (still 200)", SLOW, async () => {
    ex = await startExporter(["--log.format", "logfmt", "--probe", CRASH]);
    const readyz = await eventually(async () => {
      const r = await fetch(`${ex!.url}/readyz`);
      const body = (await r.json()) as { status: string; sources: { name: string; state: string }[]; degraded?: string[] };
      return body.sources[0]?.state === "crash-looping" ? { status: r.status, body } : undefined;
    }, 20_000, "the source to show as crash-looping");
    assert.equal(readyz.status, 200);
    assert.deepEqual(readyz.body.degraded, ["crash-loop.sh"]);
    await eventually(() => /source crash-looping/.test(ex!.stderr()), 5_000, "the crash-loop line");
    const lines = ex.stderr().trimEnd().split("\n");
    for (const l of lines) assert.match(l, /^ts=\S+Z level=(info|warn|error|debug) (source=\S+ )?msg=("([^"\\]|\\.)*"|\S+)( [\w.-]+=("([^"\\]|\\.)*"|\S*))*$/, l);
    assert.equal(lines.filter((l) => l.includes('msg="source crash-looping: crash-loop.sh')).length, 1);
    assert.ok(lines.some((l) => /^ts=\S+ level=info msg="sources: crash-loop\.sh" count=1$/.test(l)));
  });

  it("json: one object per line, fatal errors too", SLOW, async () => {
    const { runCli } = await import("../_helpers.ts");
    const r = await runCli(["--log-format", "json", "--host", "192.0.2.55", "--port", "0"]);
    assert.equal(r.code, 1);
    const objs = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
    assert.equal(objs.length, 1);
    assert.equal(objs[0].level, "error");
    assert.match(objs[0].msg, /^cannot listen on 192\.0\.2\.55:0: /);
  });

  it("json and logfmt: a bad value of another flag or variable is one line in that format too", SLOW, async () => {
    const { runCli } = await import("../_helpers.ts");
    const json = await runCli(["--log-format", "json", "--max-nodes", "5"]);
    assert.equal(json.code, 2, json.stderr);
    const objs = json.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.deepEqual(objs.map((o) => [o.level, o.msg]), [["error", '--max-nodes: "5" is not an integer from 100 to 100000000']]);
    const logfmt = await runCli(["--log.format", "logfmt"], { env: { XCTL_PORT: "-1" } });
    assert.equal(logfmt.code, 2, logfmt.stderr);
    assert.match(logfmt.stderr, /^ts=\S+Z level=error msg="XCTL_PORT: \\"-1\\" is out of range \(a port number is 0-65535\)"\n$/);
  });
});
