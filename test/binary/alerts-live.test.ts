// deploy/prometheus/alerts.yml loaded into a real Prometheus server (Debian's `prometheus`;
// .ci/run installs it) that scrapes the compiled binary, as a fleet operator runs them: an alert
// fires when its condition is met, with the labels and annotations the operator routes and reads
// by, resolves when the scene clears, and nothing fires on a healthy idle host. Every duration of
// the rules (range windows, `for:`, XctlEventsStopped's 300 s) is divided by SCALE so that one
// alert minute passes in one second; the exporter's --scene-settle (1 s) and --error-window (3 s)
// are short too. The expressions, labels and annotations are the file's own. Runs only with
// XCTL_BINARY.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { startPrometheus, type RunningPrometheus } from "./_prometheus.ts";
import { ROOT, freePort, sleep, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const SKIP = !BINARY
  ? "XCTL_BINARY not set (scripts/test.sh sets it)"
  : spawnSync("prometheus", ["--version"]).error
    ? "no prometheus on PATH (apt-get install -y prometheus; .ci/run does)"
    : false;
/** Alert time passes this much faster: 1m of the rules is 1 s here. */
const SCALE = 60;
/** Prometheus's scrape interval and timeout here: the usual 15 s, scaled. */
const SCRAPE_MS = 15_000 / SCALE;
/** The label the shipped scrape example (deploy/prometheus/prometheus.yml) adds to its targets. */
const CLUSTER = "training-a";
/** Runbook base of the shipped alerts (deploy/README.md says how to replace it). */
const RUNBOOKS = "https://runbooks.example/xctl-exporter/";

/** `5m` → `5000ms` / SCALE; `1h` likewise. */
function _scaled(n: string, unit: string): string {
  const ms = (Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!) / SCALE;
  assert.ok(Number.isInteger(ms) && ms > 0, `${n}${unit} does not scale`);
  return `${ms}ms`;
}

/** alerts.yml with every duration of its expressions and `for:` fields divided by SCALE. */
function scaledAlerts(text: string): string {
  // deno-lint-ignore no-explicit-any
  const doc = parse(text) as { groups: { rules: any[] }[] };
  for (const g of doc.groups) {
    for (const r of g.rules) {
      let expr = String(r.expr).replace(/\[(\d+)(ms|s|m|h)\]/g, (_, n, u) => `[${_scaled(n, u)}]`);
      // A wall-clock age in seconds (time() - a timestamp): the threshold scales too.
      if (/\btime\(\)/.test(expr)) expr = expr.replace(/> (\d+)\b/g, (_, n) => `> ${Number(n) / SCALE}`);
      assert.doesNotMatch(expr, /\b\d+(s|m|h)\b/, `${r.alert}: a duration left unscaled in ${expr}`);
      r.expr = expr;
      if (r.for !== undefined) {
        const m = /^(\d+)(ms|s|m|h)$/.exec(String(r.for));
        assert.ok(m, `${r.alert}: for ${r.for}`);
        r.for = _scaled(m[1], m[2]);
      }
    }
  }
  return stringify(doc);
}

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
}

describe("the shipped alert rules in a real Prometheus, scraping the binary", { skip: SKIP }, () => {
  let busy: RunningExporter | undefined;
  let idle: RunningExporter | undefined;
  let prom: RunningPrometheus | undefined;
  let dir = "";
  let api = "";
  /** Every alert Prometheus reported while the test ran, by instance. */
  const seen: Alert[] = [];
  let watching = true;
  let watcher: Promise<void> | undefined;

  async function alerts(): Promise<Alert[]> {
    const res = await fetch(`${api}/api/v1/alerts`);
    const now = ((await res.json()) as { data: { alerts: Alert[] } }).data.alerts;
    seen.push(...now);
    return now;
  }

  /** Polls the alerts until `pick` finds something (bounded: 30 s, load included). */
  async function until<T>(what: string, pick: (a: Alert[]) => T | undefined): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = pick(await alerts());
      if (got !== undefined) return got;
      if (Date.now() > deadline) assert.fail(`no ${what} within 30 s; alerts seen: ${JSON.stringify(seen.slice(-5))}\n${prom?.log(1500)}`);
      await sleep(100);
    }
  }

  /** The raw samples of `series` over the last `seconds`, by their time (ms). */
  async function samples(series: string, seconds: number): Promise<Map<number, number>> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(`${series}[${seconds}s]`)}`);
    const body = (await res.json()) as { data: { result: { values: [number, string][] }[] } };
    return new Map((body.data.result[0]?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]));
  }

  /**
   * The scrapes of `instance` (over the whole test) that failed by another way than running past
   * the scaled timeout: refused, an error status, a page Prometheus could not parse. A scrape that
   * takes longer than 250 ms by the clock is the loaded machine (the usual timeout is 60 times
   * that): it makes `up` 0 and XctlExporterDown pending, which is why that alert is only looked at
   * here. How long the exporter itself makes a scrape wait is flood.test.ts's to bound.
   */
  async function failedScrapes(instance: string): Promise<string[]> {
    const up = await samples(`up{instance="${instance}"}`, 300);
    const took = await samples(`scrape_duration_seconds{instance="${instance}"}`, 300);
    assert.ok(up.size > 0, `no scrapes of ${instance}`);
    const failed = [...up].filter(([, v]) => v === 0).map(([t]) => [t, took.get(t)] as const);
    const timedOut = failed.filter(([, s]) => s !== undefined && s * 1000 >= 0.9 * SCRAPE_MS);
    if (timedOut.length > 0) console.log(`${instance}: ${timedOut.length} of ${up.size} scrapes ran past the ${SCRAPE_MS} ms timeout (the machine is loaded)`);
    return failed.filter(([t]) => !timedOut.some(([u]) => u === t)).map(([t, s]) => `${new Date(t).toISOString()} after ${s} s`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "xctl-alerts-"));
    // A diskless node's /proc/diskstats: loop and zram devices only, which the collector ignores.
    mkdirSync(join(dir, "proc"));
    writeFileSync(
      join(dir, "proc/diskstats"),
      ["   7       0 loop0 1006 19 15972 346 680 245 1692 674 0 804 1514 0 0 0 0 452 493", " 252       0 zram0 76 0 4824 1 0 0 0 0 0 8 1 0 0 0 0 0 0", ""].join("\n"),
    );
    // A host with GPUs and a fault to come; a healthy idle diskless one, its collector running.
    busy = await startExporter(["--scene-settle", "1s", "--error-window", "3s", "--diagnosis-interval", "100ms"]);
    idle = await startExporter(["--collectors", "diskstats", `--path.procfs=${join(dir, "proc")}`]);
    writeFileSync(join(dir, "alerts.yml"), scaledAlerts(readFileSync(join(ROOT, "deploy/prometheus/alerts.yml"), "utf8")));
    const promPort = await freePort();
    api = `http://127.0.0.1:${promPort}`;
    writeFileSync(
      join(dir, "prometheus.yml"),
      stringify({
        global: { scrape_interval: `${SCRAPE_MS}ms`, scrape_timeout: `${SCRAPE_MS}ms`, evaluation_interval: `${SCRAPE_MS}ms` },
        rule_files: [join(dir, "alerts.yml")],
        scrape_configs: [{ job_name: "xctl", static_configs: [{ targets: [`127.0.0.1:${busy.port}`, `127.0.0.1:${idle.port}`], labels: { cluster: CLUSTER } }] }],
      }),
    );
    prom = await startPrometheus(dir, promPort);
    // Both targets scraped and every rule evaluated at least once.
    const deadline = Date.now() + 30_000;
    for (const t of [busy, idle]) {
      const q = encodeURIComponent(`count_over_time(up{instance="127.0.0.1:${t.port}"}[10s]) >= 3`);
      for (;;) {
        const body = (await (await fetch(`${api}/api/v1/query?query=${q}`)).json()) as { data: { result: unknown[] } };
        if (body.data.result.length > 0) break;
        if (Date.now() > deadline) throw new Error(`no scrapes of ${t.url}:\n${prom?.log()}`);
        await sleep(100);
      }
    }
    watcher = (async () => {
      while (watching) {
        await alerts().catch(() => undefined);
        await sleep(100);
      }
    })();
  });

  after(async () => {
    watching = false;
    await watcher;
    await prom?.stop();
    await busy?.stop();
    await idle?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a GPU Xid fires XctlSceneActive and an OOM kill XctlSceneOccurred, each critical with the rule's title and runbook, and both resolve", async () => {
    const instance = `127.0.0.1:${busy!.port}`;
    // XctlExporterDown goes pending on a scrape past the scaled timeout: failedScrapes judges those.
    const mine = (a: Alert[]) => a.filter((x) => x.labels.instance === instance && x.labels.alertname !== "XctlExporterDown");
    assert.deepEqual(mine(await alerts()), [], "nothing fires before the faults");

    const push = async (...events: object[]) => {
      const res = await fetch(`${busy!.url}/api/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: events.map((e) => `${JSON.stringify(e)}\n`).join(""),
      });
      assert.equal(res.status, 200, await res.text());
    };
    // A job on gpu-01 that the kernel's OOM killer ends (a state, then an event: host_oom_kill),
    // and an Xid on gpu-00 (gpu_xid, a host scene for one --error-window).
    await push({ event_type: "process.state", entity_id: "gpu-01", pid: 4242, job_id: "job-7", value: "start" });
    await sleep(200);
    await push({ event_type: "process.state", entity_id: "host", pid: 4242, value: "oom_killed" });
    await push({ event_type: "error.hw", entity_id: "gpu-00", value: "XID_79" });

    const firing = (a: Alert[], scene: string) => mine(a).find((x) => x.state === "firing" && x.labels.scene === scene);
    const checks: [string, string, string, RegExp][] = [
      ["gpu_xid", "XctlSceneActive", "GPU Xid error", /^The NVIDIA driver reported an Xid error .* Active \d+(\.\d+)?% of the last 5m\./],
      ["host_oom_kill", "XctlSceneOccurred", "Host out of memory (OOM killer)", /^The kernel's OOM killer killed the process\b.* It was active within the last 5m\./],
    ];
    for (const [scene, alertname, title, description] of checks) {
      const a = await until(`firing ${scene} alert`, (x) => firing(x, scene));
      assert.deepEqual(a.labels, { alertname, job: "xctl", instance, cluster: CLUSTER, scene, severity: "critical" });
      assert.equal(a.annotations.summary, `${title} on ${instance}`);
      assert.equal(a.annotations.runbook_url, `${RUNBOOKS}${scene}.md`);
      assert.ok(existsSync(join(ROOT, "deploy/runbooks", `${scene}.md`)), `deploy/runbooks/${scene}.md`);
      assert.match(a.annotations.description, description);
    }

    // The Xid's scene clears after --error-window and --scene-settle, the kill's after the
    // settle; both alerts with them.
    await until("resolve of both alerts", (a) => (mine(a).length === 0 ? true : undefined));
    const names = new Set(mine(seen).map((x) => `${x.labels.alertname} ${x.labels.scene}`));
    assert.deepEqual([...names].sort(), ["XctlSceneActive gpu_xid", "XctlSceneOccurred host_oom_kill"], "only the scenes' alerts: no process_crash, no recurrence");
    assert.deepEqual(await failedScrapes(instance), [], "every scrape answered");
  });

  it("a healthy idle diskless host fires nothing, not even pending (its diskstats collector has no disk to report)", async () => {
    const instance = `127.0.0.1:${idle!.port}`;
    const m = await (await fetch(`${idle!.url}/metrics`)).text();
    assert.match(m, /^xctl_probe_up\{probe="diskstats"\} 1$/m, "the collector runs");
    assert.match(m, /^xctl_probe_last_event_timestamp_seconds\{probe="diskstats"\} 0$/m, "and has nothing to say");
    await alerts();
    assert.deepEqual(seen.filter((x) => x.labels.instance === instance && x.labels.alertname !== "XctlExporterDown"), []);
    assert.deepEqual(await failedScrapes(instance), [], "every scrape answered");
  });
});
