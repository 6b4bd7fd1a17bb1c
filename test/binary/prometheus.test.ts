// A real Prometheus server (Debian's `prometheus`; .ci/run installs it) scrapes the compiled
// binary running builtin:demo with its default settings, only the scrape interval shortened,
// and answers queries on every seed name of SPEC §5 exactly as written there. Runs only with
// XCTL_BINARY set (scripts/test.sh builds the binary and sets it).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPrometheus, type RunningPrometheus } from "./_prometheus.ts";
import { ROOT, freePort, sleep, startExporter, type RunningExporter } from "../_helpers.ts";
import { SEED_METRICS } from "../../src/metrics/names.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";

const BINARY = process.env.XCTL_BINARY;
const HINT = "install Debian's prometheus package (apt-get install -y prometheus; .ci/run does)";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** The series a user queries for a seed name: a classic histogram is stored as _bucket/_sum/_count. */
function seriesToQuery(name: string, type: string): string[] {
  return type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

describe("a real Prometheus server scraping the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter | undefined;
  let prom: RunningPrometheus | undefined;
  let dir = "";
  let api = "";

  async function query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    assert.equal(body.status, "success", `${expr}: ${body.error}`);
    return body.data.result;
  }

  /** Polls a query until it returns data (a series appears after its first scrape). */
  async function data(expr: string, timeoutMs = 20_000): Promise<Sample[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await query(expr);
      if (result.length > 0) return result;
      if (Date.now() > deadline) assert.fail(`Prometheus has no data for ${expr}\nPrometheus log:\n${prom?.log()}`);
      await sleep(250);
    }
  }

  before(async () => {
    const found = spawnSync("prometheus", ["--version"]);
    if (found.error) throw new Error(`prometheus not found on PATH: ${HINT}`);

    // Fast scenes, so every seed metric has moved by the time Prometheus is asked.
    ex = await startExporter(["--probe", "builtin:demo?speed=20"]);
    dir = mkdtempSync(join(tmpdir(), "xctl-prom-"));
    const promPort = await freePort();
    api = `http://127.0.0.1:${promPort}`;
    // Prometheus's defaults for everything but the intervals; the shipped alert rules ride along.
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files:",
        `  - ${JSON.stringify(join(ROOT, "deploy/prometheus/alerts.yml"))}`,
        "scrape_configs:",
        "  - job_name: xctl",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${ex.port}"]`,
        "",
      ].join("\n"),
    );
    prom = await startPrometheus(dir, promPort);
    // A few scrapes: `up` has three samples in the last minute.
    await data("count_over_time(up[1m]) >= 3", 30_000);
  });

  after(async () => {
    await prom?.stop();
    await ex?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("finds the target healthy, with no scrape error", async () => {
    const res = await fetch(`${api}/api/v1/targets?state=active`);
    const body = (await res.json()) as { data: { activeTargets: { health: string; lastError: string; scrapeUrl: string }[] } };
    const targets = body.data.activeTargets;
    assert.equal(targets.length, 1);
    assert.equal(targets[0].scrapeUrl, `${ex!.url}/metrics`);
    assert.equal(targets[0].lastError, "");
    assert.equal(targets[0].health, "up");
  });

  it("answers `up` with 1", async () => {
    const up = await data('up{job="xctl"}');
    assert.equal(up.length, 1);
    assert.equal(up[0].value[1], "1");
  });

  for (const [name, type] of Object.entries(SEED_METRICS)) {
    for (const series of seriesToQuery(name, type)) {
      it(`answers ${series} with data`, async () => {
        const result = await data(series);
        for (const s of result) {
          assert.equal(s.metric.__name__, series);
          assert.equal(s.metric.job, "xctl");
          assert.ok(Number.isFinite(Number(s.value[1])), `${series}: ${s.value[1]}`);
        }
      });
    }
  }

  it("stores the type of every seed metric as the exporter declares it", async () => {
    const res = await fetch(`${api}/api/v1/metadata`);
    const meta = ((await res.json()) as { data: Record<string, { type: string }[]> }).data;
    for (const [name, type] of Object.entries(SEED_METRICS)) {
      assert.deepEqual(
        meta[name]?.map((m) => m.type),
        [type],
        `metadata of ${name}`,
      );
    }
  });

  it("has all twelve event types and every loaded scene as series, and the demo's events counted", async () => {
    const byType = await data("xctl_events_by_type");
    assert.deepEqual(byType.map((s) => s.metric.event_type).sort(), [...EVENT_TYPES].sort());
    const scenes = await data("xctl_diagnoses_by_scene");
    assert.ok(scenes.length >= 13, `${scenes.length} scenes`);
    for (const s of scenes) assert.match(s.metric.scene, /^[a-z][a-z0-9_]*$/);
    // Stored as counters that move: the demo's events and the diagnoses they set off.
    await data("increase(xctl_events_total[30s]) > 0");
    await data("xctl_diagnoses_total > 0");
    await data("histogram_quantile(0.99, rate(xctl_diagnosis_latency_seconds_bucket[30s])) >= 0");
  });

  it("joins every scene's severity as the scene alerts do (xctl_scene_info, group_left)", async () => {
    const joined = await data(
      "(avg_over_time(xctl_scene_active[1m]) >= 0) * on (job, instance, scene) group_left (severity) max by (job, instance, scene, severity) (xctl_scene_info)",
    );
    assert.ok(joined.length >= 14, `${joined.length} scenes joined`);
    for (const s of joined) assert.match(s.metric.severity ?? "", /^(critical|warning|info)$/, s.metric.scene);
  });

  it("evaluates the shipped alert rules against the real series without error", async () => {
    type Rule = { name: string; health: string; lastError?: string };
    const deadline = Date.now() + 15_000;
    let rules: Rule[] = [];
    for (;;) {
      const res = await fetch(`${api}/api/v1/rules`);
      const groups = ((await res.json()) as { data: { groups: { rules: Rule[] }[] } }).data.groups;
      rules = groups.flatMap((g) => g.rules);
      if (rules.length > 0 && rules.every((r) => r.health !== "unknown")) break;
      if (Date.now() > deadline) break;
      await sleep(250);
    }
    assert.ok(rules.length > 0, "the alert rules are loaded");
    for (const r of rules) assert.equal(r.health, "ok", `${r.name}: ${r.lastError}`);
  });
});
