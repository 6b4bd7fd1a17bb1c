// The diagnosis through the real CLI and HTTP: `rules check`, serve refusing a bad rule,
// automatic runs seen over GET /api/v1/diagnoses, on-demand runs (host and per pid), the why
// answer's scenes, and the diagnosis metrics on /metrics.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, ROOT, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BAD = join(ROOT, "test/fixtures/rules-bad");
const GOOD = join(ROOT, "test/fixtures/rules-good");
const UPSTREAM = join(ROOT, "test/fixtures/rules-upstream");

describe("rules check", () => {
  it("accepts the default rules directory", async () => {
    const r = await runCli(["rules", "check", "rules"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "19 rules OK\n");
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

  it("names every problem of every file and path at once, and checks a single file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-check-"));
    try {
      copyFileSync(join(BAD, "metric-op-unknown.yaml"), join(dir, "a.yaml"));
      copyFileSync(join(BAD, "event-type-unknown.yaml"), join(dir, "b.yml"));
      const r = await runCli(["rules", "check", dir, join(UPSTREAM, "gpu_overheat.yaml")]);
      assert.equal(r.code, 2);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 4, r.stderr);
      assert.match(lines[0], /a\.yaml:19: conditions\[2\]\.metrics\[0\]\.op: unknown operator "greater" \(one of gt, lt, eq, gte, lte, ne, contains\)$/);
      assert.match(lines[1], /b\.yml:8: .*event_type: unknown event type "[^"]+" \(one of compute\.util, .*\)$/);
      assert.match(lines[2], /gpu_overheat\.yaml:17: conditions\.all\[1\]\.metrics\[0\]\.key: warning: no event sets "temperature"/);
      assert.equal(lines[3], "xctl-exporter: rules check: 2 errors, 1 warning");
      const one = await runCli(["rules", "check", join(GOOD, "example.yaml")]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(one.stdout, "1 rules OK\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("loads an upstream-style directory with warnings (exit 0); --strict makes them errors (exit 2)", async () => {
    const r = await runCli(["rules", "check", UPSTREAM]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "4 rules OK (4 warnings)\n");
    assert.equal(r.stderr.trim().split("\n").length, 4);
    assert.ok(r.stderr.split("\n").filter(Boolean).every((l) => l.includes(": warning: ") && l.endsWith("this condition can never hold")), r.stderr);
    const strict = await runCli(["rules", "check", "--strict", UPSTREAM]);
    assert.equal(strict.code, 2);
    assert.ok(!strict.stderr.includes("warning: no event"), "errors under --strict");
    assert.match(strict.stderr, /rules check: 4 errors\n$/);
  });

  it("accepts a quick rule with no root cause, steps or evidences, warning that a match carries no steps; --strict refuses it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-check-"));
    try {
      const file = join(dir, "quick.yaml");
      writeFileSync(file, "name: Scratch disk errors\nscene: scratch_io\npriority: 70\nconditions:\n  - {type: event, event_type: error.hw, entity_id_pattern: nvme2n1}\n");
      const r = await runCli(["rules", "check", dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "1 rules OK (1 warning)\n");
      assert.equal(r.stderr, `xctl-exporter: ${file}: solution_steps: warning: none given: a match of this rule will carry no solution steps\n`);
      const strict = await runCli(["rules", "check", "--strict", dir]);
      assert.equal(strict.code, 2);
      assert.equal(strict.stdout, "");
      assert.equal(strict.stderr, `xctl-exporter: ${file}: solution_steps: none given: a match of this rule will carry no solution steps\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rules list prints the loaded scenes with priority, severity, scope, source and title", async () => {
    const r = await runCli(["rules", "list"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^SCENE +PRIORITY +SEVERITY +SCOPE +SOURCE +TITLE$/);
    assert.equal(lines.length, 20);
    assert.match(lines[1], /^gpu_oom +90 +critical +process +embedded +GPU out of memory$/);
    assert.ok(lines.some((l) => /^host_oom_kill +82 +critical +process +embedded +Host out of memory \(OOM killer\)$/.test(l)), r.stdout);
    assert.match(lines[19], /^gpu_util_low +20 +info +process +embedded +Accelerator utilisation low$/);
    // A directory's rule that replaces a built-in scene says which file it came from.
    const dir = mkdtempSync(join(tmpdir(), "xctl-list-"));
    try {
      writeFileSync(join(dir, "oom.yaml"), "name: Site OOM\nscene: gpu_oom\npriority: 95\nconditions:\n  - type: event\n    event_type: error.hw\n    value_pattern: OOM\n");
      const site = await runCli(["rules", "list", "--rules", dir]);
      assert.equal(site.code, 0, site.stderr);
      const row = site.stdout.split("\n").find((l) => l.startsWith("gpu_oom "));
      assert.equal(row?.split(/ {2,}/).join("|"), `gpu_oom|95|critical|host|${join(dir, "oom.yaml")}|Site OOM`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const mine = await runCli(["rules", "list", "--no-default-rules", "--rules", UPSTREAM]);
    assert.equal(mine.code, 0, mine.stderr);
    assert.deepEqual(mine.stdout.trim().split("\n").slice(1).map((l) => l.split(/ +/).slice(0, 3)), [
      ["hbm_ecc", "86", "critical"],
      ["gpu_overheat", "72", "warning"],
      ["nvlink_lane_down", "60", "warning"],
      ["site_xid99", "30", "info"],
    ]);
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
      assert.equal(lines[0], `xctl-exporter: ${join(dir, "site.yaml")}:19: conditions[2].metrics[0].op: unknown operator "greater" (one of gt, lt, eq, gte, lte, ne, contains)`);
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
    // On-demand runs (three POSTs) move no scene counter; automatic ones do.
    assert.ok((m.get('xctl_diagnoses_by_scene{scene="gpu_oom"}') ?? 0) >= 1);
    assert.equal(m.get("xctl_diagnoses_on_demand_total"), 3);
    assert.equal(m.get('xctl_scene_activations_total{scene="gpu_oom"}'), 1);
    assert.equal(m.get('xctl_scene_info{scene="gpu_oom",severity="critical"}'), 1);
    assert.equal(m.get("xctl_diagnosis_latency_seconds_count"), m.get("xctl_diagnoses_total"));
  });
});

describe("why through the command line", () => {
  it("charges a process only with what concerns it, and prints the evidence of every scene", async () => {
    const ex = await startExporter(["--diagnosis-interval", "50ms", "--log-level", "warn"]);
    try {
      const now = Date.now();
      const e = (o: Record<string, unknown>) => JSON.stringify({ ts: now, job_id: null, pid: null, ...o });
      const lines = [
        e({ event_type: "process.state", entity_id: "host", pid: 5496, job_id: "job-1020", value: "start" }),
        e({ event_type: "compute.util", entity_id: "gpu-02", pid: 5496, value: "80" }),
        e({ event_type: "process.state", entity_id: "host", pid: 5673, job_id: "job-1028", value: "start" }),
        e({ event_type: "compute.mem", entity_id: "gpu-02", pid: 5673, value: "99" }),
        // The OOM names pid 5673: a process fault, not pid 5496's.
        e({ event_type: "error.hw", entity_id: "gpu-02", pid: 5673, job_id: "job-1028", value: "CUDA out of memory" }),
        // A GPU falls off the bus (no pid: a device fault) under pid 5496.
        e({ event_type: "compute.util", entity_id: "gpu-03", pid: 5496, value: "0" }),
        e({ ts: now + 1, event_type: "error.hw", entity_id: "gpu-03", value: "XID_79" }),
        // job-1037 joins gpu-02 after the OOM and gpu-03 after the Xid.
        e({ ts: now + 2, event_type: "process.state", entity_id: "host", pid: 5929, job_id: "job-1037", value: "start" }),
        e({ ts: now + 2, event_type: "compute.util", entity_id: "gpu-02", pid: 5929, value: "75" }),
        e({ ts: now + 2, event_type: "compute.util", entity_id: "gpu-03", pid: 5929, value: "75" }),
      ];
      const res = await fetch(ex.url + "/api/v1/events", { method: "POST", body: lines.join("\n") + "\n", headers: { "content-type": "application/x-ndjson" } });
      assert.equal(res.status, 200, await res.text());

      const late = await runCli(["why", "5929", "--url", ex.url]);
      assert.equal(late.code, 0, late.stderr);
      assert.match(late.stdout, /^root causes:\n  none known\n/m);
      assert.match(late.stdout, /^scenes:\n  none matching\n$/m, late.stdout);

      const victim = await runCli(["why", "5496", "--url", ex.url]);
      assert.equal(victim.code, 0, victim.stderr);
      assert.match(victim.stdout, /^  XID_79 on gpu-03 \(error-gpu-03, since /m);
      assert.doesNotMatch(victim.stdout, /gpu_oom|out of memory"/, "another job's OOM is not pid 5496's");
      const xid = victim.stdout.split("\n  gpu_xid ")[1];
      assert.ok(xid, victim.stdout);
      assert.match(xid, /^\(GPU Xid error\), critical, confidence 1\.00\n/);
      assert.match(xid, /\n    evidence:\n      event error\.hw on gpu-\* value XID\|PCIE_AER_FATAL\|PCIE_AER_UNRECOVERED\|GPU_LOST\|\S+  \[conditions\[0\]\]\n        \S+Z  error\.hw gpu-03 "XID_79" \(no pid: device\)\n/);

      const oom = await runCli(["why", "5673", "--url", ex.url]);
      assert.equal(oom.code, 0, oom.stderr);
      const scene = oom.stdout.split("\n  gpu_oom ")[1];
      assert.ok(scene, oom.stdout);
      assert.match(scene, /error\.hw gpu-02 "CUDA out of memory" pid 5673 job job-1028\n/);
      assert.match(scene, /compute\.mem gpu-02 "99" pid 5673\n/);
    } finally {
      await ex.stop();
    }
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
