// The diagnosis through the real CLI and HTTP: `rules check`, serve refusing a bad rule,
// automatic runs seen over GET /api/v1/diagnoses, on-demand runs (host and per pid), the why
// answer's scenes, and the diagnosis metrics on /metrics.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, ROOT, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BAD = join(ROOT, "test/fixtures/rules-bad");
const GOOD = join(ROOT, "test/fixtures/rules-good");

describe("rules check", () => {
  it("accepts the default rules directory", async () => {
    const r = await runCli(["rules", "check", "rules"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "14 rules OK\n");
    const one = await runCli(["rules", "check", GOOD]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, "1 rules OK\n");
  });

  it("refuses a bad directory with one line naming the file, the field and the reason (exit 2)", async () => {
    const r = await runCli(["rules", "check", join(BAD, "dup-scene")]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `xctl-exporter: ${join(BAD, "dup-scene", "b.yaml")}: scene: scene "same_scene" is also defined in ${join(BAD, "dup-scene", "a.yaml")}\n`);
  });

  it("exits 2 without a directory or with an unknown sub-command", async () => {
    for (const args of [["rules", "check"], ["rules"], ["rules", "lint", "rules"]]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  });
});

describe("serve with a bad rule", () => {
  it("refuses to start: exit 2, one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-bad-rules-"));
    try {
      copyFileSync(join(BAD, "metric-op-unknown.yaml"), join(dir, "site.yaml"));
      const ex = await startExporter(["--rules", dir], { waitHealthy: false });
      const code = await ex.exited;
      assert.equal(code, 2);
      const lines = ex.stderr().trim().split("\n");
      assert.equal(lines.length, 1, ex.stderr());
      assert.equal(lines[0], `xctl-exporter: ${join(dir, "site.yaml")}: conditions[2].metrics[0].op: unknown operator "greater" (expected gt, lt, eq, gte, lte, ne or contains)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("diagnosis over HTTP", () => {
  let ex: RunningExporter;
  const post = (path: string, body?: string) => fetch(ex.url + path, { method: "POST", body, headers: body ? { "content-type": "application/x-ndjson" } : {} });

  before(async () => {
    ex = await startExporter(["--rules", GOOD, "--diagnosis-interval", "50ms", "--log-level", "warn"]);
  });
  after(async () => {
    await ex.stop();
  });

  it("serves every loaded scene at 0, the site rule included", async () => {
    const m = await scrape(ex.url);
    assert.equal(m.get('xctl_diagnoses_by_scene{scene="example"}'), 0);
    assert.equal(m.get('xctl_scene_active{scene="gpu_oom"}'), 0);
    assert.equal(m.get("xctl_diagnoses_total"), 0);
  });

  it("diagnoses pushed events automatically, answers on demand, per pid and in why", async () => {
    const now = Date.now();
    const lines = [
      { ts: now, event_type: "process.state", entity_id: "host", pid: 4242, job_id: "job-7", value: "start" },
      { ts: now, event_type: "process.state", entity_id: "host", pid: 4343, job_id: "job-8", value: "start" },
      { ts: now, event_type: "compute.mem", entity_id: "gpu-5", pid: 4242, value: "99" },
      { ts: now, event_type: "compute.util", entity_id: "gpu-6", pid: 4343, value: "75" },
      { ts: now, event_type: "error.hw", entity_id: "gpu-5", value: "OOM" },
    ];
    const res = await post("/api/v1/events", lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    assert.equal(res.status, 200, await res.text());

    const auto = await eventually(async () => {
      const list = (await (await fetch(ex.url + "/api/v1/diagnoses")).json()) as { trigger: string; scene: string }[];
      return list.find((r) => r.trigger === "auto" && r.scene === "gpu_oom");
    }, 10_000, "an automatic run concluding gpu_oom");
    assert.ok(auto);

    const host = await post("/api/v1/diagnoses");
    assert.equal(host.status, 200);
    const hr = (await host.json()) as Record<string, unknown>;
    assert.equal(hr.scene, "gpu_oom");
    assert.deepEqual(hr.affected_pids, [4242]);
    assert.deepEqual(hr.affected_jobs, ["job-7"]);
    assert.ok(Array.isArray(hr.solution_steps) && hr.solution_steps.length > 0);

    const mine = (await (await post("/api/v1/diagnoses?pid=4242")).json()) as Record<string, unknown>;
    assert.equal(mine.scene, "gpu_oom");
    assert.equal(mine.pid, 4242);
    const other = (await (await post("/api/v1/diagnoses?pid=4343")).json()) as Record<string, unknown>;
    assert.equal(other.scene, null, "gpu_oom is on another process");

    const unknown = await post("/api/v1/diagnoses?pid=999999");
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /999999/);
    const bad = await post("/api/v1/diagnoses?pid=abc");
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();

    const listed = (await (await fetch(ex.url + "/api/v1/diagnoses?limit=2")).json()) as { id: number }[];
    assert.equal(listed.length, 2);
    assert.ok(listed[0].id > listed[1].id, "newest first");
    const badLimit = await fetch(ex.url + "/api/v1/diagnoses?limit=0");
    assert.equal(badLimit.status, 400);
    await badLimit.arrayBuffer();

    const why = (await (await fetch(ex.url + "/api/v1/why/4242")).json()) as { scenes: { scene: string }[] };
    assert.deepEqual(why.scenes.map((s) => s.scene), ["gpu_oom"]);
    const whyOther = (await (await fetch(ex.url + "/api/v1/why/4343")).json()) as { scenes: unknown[] };
    assert.deepEqual(whyOther.scenes, []);

    const m = await scrape(ex.url);
    assert.equal(m.get('xctl_scene_active{scene="gpu_oom"}'), 1);
    assert.ok((m.get('xctl_diagnoses_by_scene{scene="gpu_oom"}') ?? 0) >= 3);
    assert.ok((m.get("xctl_diagnoses_total") ?? 0) >= 4);
    assert.equal(m.get("xctl_diagnosis_latency_seconds_count"), m.get("xctl_diagnoses_total"));
  });
});

describe("serve --no-default-rules", () => {
  it("loads only the --rules directory", async () => {
    const ex = await startExporter(["--no-default-rules", "--rules", GOOD]);
    try {
      const m = await scrape(ex.url);
      const scenes = [...m.keys()].filter((k) => k.startsWith("xctl_scene_active{"));
      assert.deepEqual(scenes, ['xctl_scene_active{scene="example"}']);
    } finally {
      await ex.stop();
    }
  });
});
