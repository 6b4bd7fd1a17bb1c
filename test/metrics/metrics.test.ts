// The metrics page written without prom-client: the text format Prometheus parses (checked by
// promtool), label escaping, the histogram, the runtime's process metrics, and the /metrics
// route's own gzip.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { Exporter } from "../../src/exporter.ts";
import { acceptsGzip, createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/log.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";
import { EXTRA_METRICS, SEED_METRICS } from "../../src/metrics/names.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;

function loaded(processMetrics = false) {
  // With a rule source, as serve has it: the rule-reload families are served too.
  const ex = new Exporter({ log: createLogger("silent"), processMetrics, liveClock: false, ruleSource: { defaults: true } });
  ex.probes.set('odd "probe"\\with\nnewline', { up: true, restarts: 2, lastEventMs: 1_500 });
  const input = ex.ingest.feed("test");
  const lines = [
    { ts: T0, event_type: "compute.util", entity_id: "gpu-00", job_id: "j", pid: 7, value: "90" },
    { ts: T0 + 1, event_type: "transport.drop", entity_id: "mlx5_0", job_id: "j", pid: 7, value: "12" },
    { ts: T0 + 2, event_type: "error.hw", entity_id: "gpu-00", job_id: null, pid: null, value: "XID_79" },
  ];
  input.push(new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join("\n") + "\nnot json\n"));
  input.end();
  return ex;
}

/** name{labels} → value, and the order of the # TYPE lines. */
function parse(page: string) {
  const samples = new Map<string, number>();
  const types: string[] = [];
  for (const l of page.split("\n")) {
    if (l.startsWith("# TYPE ")) types.push(l.split(" ")[2]);
    else if (l !== "" && !l.startsWith("#")) {
      const at = l.lastIndexOf(" ");
      samples.set(l.slice(0, at), Number(l.slice(at + 1)));
    }
  }
  return { samples, types };
}

describe("metrics page", () => {
  it("promtool parses it; its only lint findings are the two contract names without _total", async () => {
    const page = await loaded(true).metrics.render();
    const r = spawnSync("promtool", ["check", "metrics"], { input: page, encoding: "utf8" });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
      assert.fail("promtool not found: install Debian's prometheus package (apt-get install -y prometheus)");
    }
    const findings = `${r.stdout}${r.stderr}`.trim().split("\n").filter(Boolean).sort();
    assert.deepEqual(findings, [
      'xctl_diagnoses_by_scene counter metrics should have "_total" suffix',
      'xctl_events_by_type counter metrics should have "_total" suffix',
    ]);
  });

  it("has every served family once, each with HELP and TYPE, and the counts of the graph", async () => {
    const ex = loaded();
    const page = await ex.metrics.render();
    const { samples, types } = parse(page);
    assert.equal(new Set(types).size, types.length, "no family twice");
    for (const [name, type] of Object.entries({ ...SEED_METRICS, ...EXTRA_METRICS })) {
      assert.ok(page.includes(`# TYPE ${name} ${type}\n`), name);
      assert.ok(page.includes(`# HELP ${name} `), name);
    }
    assert.equal(samples.get("xctl_events_total"), 3);
    assert.equal(samples.get('xctl_events_rejected_total{reason="invalid_json"}'), 1);
    for (const t of EVENT_TYPES) assert.ok(samples.has(`xctl_events_by_type{event_type="${t}"}`), t);
    assert.equal(samples.get('xctl_events_by_type{event_type="compute.util"}'), 1);
    assert.equal(samples.get("xctl_consumes_edges"), 1);
    assert.equal(samples.get("xctl_waitson_edges"), 1);
    assert.equal(samples.get("xctl_blockedby_edges"), 1);
    assert.equal(samples.get("xctl_error_nodes"), 1);
    assert.equal(samples.get('xctl_probe_up{probe="odd \\"probe\\"\\\\with\\nnewline"}'), 1);
    assert.equal(samples.get('xctl_probe_last_event_timestamp_seconds{probe="odd \\"probe\\"\\\\with\\nnewline"}'), 1.5);
    assert.ok(!page.includes("process_cpu"), "no process metrics when off");
  });

  it("reads the state at each render: nothing is cached between scrapes", async () => {
    const ex = loaded();
    const before = parse(await ex.metrics.render()).samples.get("xctl_events_total");
    await ingestLine(ex, JSON.stringify({ ts: T0 + 5, event_type: "compute.mem", entity_id: "gpu-01", pid: 8, value: "1" }), "test");
    const after = parse(await ex.metrics.render()).samples;
    assert.equal(before, 3);
    assert.equal(after.get("xctl_events_total"), 4);
    assert.equal(after.get("xctl_consumes_edges"), 2);
  });

  it("serves the runtime's process metrics, read fresh", async () => {
    const ex = loaded(true);
    const { samples } = parse(await ex.metrics.render());
    const now = Date.now() / 1000;
    assert.ok(samples.get("process_resident_memory_bytes")! > 1_000_000);
    assert.ok(samples.get("process_virtual_memory_bytes")! >= samples.get("process_resident_memory_bytes")!);
    assert.ok(samples.get("process_open_fds")! >= 3);
    assert.ok(samples.get("process_max_fds")! >= samples.get("process_open_fds")!);
    const start = samples.get("process_start_time_seconds")!;
    assert.ok(start <= now + 1 && start > now - 3600, `start time ${start}`);
    const cpu = samples.get("process_cpu_seconds_total")!;
    assert.ok(cpu > 0);
    assert.ok(Math.abs(cpu - samples.get("process_cpu_user_seconds_total")! - samples.get("process_cpu_system_seconds_total")!) < 0.05);
    assert.ok(samples.get("nodejs_heap_size_used_bytes")! > 0);
    // Burn some CPU: the next scrape shows more.
    const t = Date.now();
    while (Date.now() - t < 30);
    assert.ok(parse(await ex.metrics.render()).samples.get("process_cpu_seconds_total")! > cpu);
  });

  it("writes the diagnosis latency as a cumulative histogram with +Inf, sum and count", async () => {
    const ex = loaded();
    for (const v of [0.00005, 0.0001, 0.3, 30]) ex.metrics.diagnosisLatency.observe(v);
    const { samples } = parse(await ex.metrics.render());
    assert.equal(samples.get('xctl_diagnosis_latency_seconds_bucket{le="0.0001"}'), 2);
    assert.equal(samples.get('xctl_diagnosis_latency_seconds_bucket{le="0.5"}'), 3);
    assert.equal(samples.get('xctl_diagnosis_latency_seconds_bucket{le="10"}'), 3);
    assert.equal(samples.get('xctl_diagnosis_latency_seconds_bucket{le="+Inf"}'), 4);
    assert.equal(samples.get("xctl_diagnosis_latency_seconds_count"), 4);
    assert.ok(Math.abs(samples.get("xctl_diagnosis_latency_seconds_sum")! - 30.30015) < 1e-9);
  });

  it("counters never go down between scrapes and start at 0 for every label", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const first = parse(await ex.metrics.render()).samples;
    assert.equal(first.get('xctl_events_rejected_total{reason="too_long"}'), 0);
    await ingestLine(ex, "garbage", "t");
    await ingestLine(ex, "garbage", "t");
    const second = parse(await ex.metrics.render()).samples;
    assert.equal(second.get('xctl_events_rejected_total{reason="invalid_json"}'), 2);
    const third = parse(await ex.metrics.render()).samples;
    assert.equal(third.get('xctl_events_rejected_total{reason="invalid_json"}'), 2, "a scrape without news repeats the total");
  });
});

describe("GET /metrics compression", () => {
  it("knows when a client takes gzip", () => {
    assert.equal(acceptsGzip(undefined), false);
    assert.equal(acceptsGzip(""), false);
    assert.equal(acceptsGzip("gzip"), true);
    assert.equal(acceptsGzip("GZip"), true);
    assert.equal(acceptsGzip("deflate, gzip;q=0.5"), true);
    assert.equal(acceptsGzip("gzip;q=0"), false);
    assert.equal(acceptsGzip("gzip; q=0.0, *"), false);
    assert.equal(acceptsGzip("identity"), false);
    assert.equal(acceptsGzip("*"), true);
    assert.equal(acceptsGzip("*;q=0"), false);
    assert.equal(acceptsGzip("x-gzip"), true);
  });

  it("gzips when asked, with the right length, and not otherwise", async () => {
    const ex = loaded();
    const app = createApp(ex);
    const plain = await app.fetch(new Request("http://x/metrics"), { remoteAddress: "127.0.0.1" });
    const text = await plain.text();
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(plain.headers.get("content-length"), String(new TextEncoder().encode(text).length));
    assert.match(plain.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    assert.match(plain.headers.get("vary") ?? "", /accept-encoding/i);

    const zipped = await app.fetch(new Request("http://x/metrics", { headers: { "accept-encoding": "gzip" } }), { remoteAddress: "127.0.0.1" });
    const raw = new Uint8Array(await zipped.arrayBuffer());
    assert.equal(zipped.headers.get("content-encoding"), "gzip");
    assert.equal(zipped.headers.get("content-length"), String(raw.length));
    assert.equal(parse(gunzipSync(raw).toString("utf8")).samples.get("xctl_events_total"), 3);
    assert.ok(raw.length < text.length / 2);
  });
});

describe("text format", () => {
  it("writes exactly the samples prom-client's own writer does", async () => {
    const ex = loaded(true);
    ex.metrics.diagnosisLatency.observe(0.002);
    const ours = parse(await ex.metrics.render()).samples;
    const theirs = parse(await ex.metrics.registry.metrics()).samples;
    // Process metrics are read at each render, so they may differ by the time between the two.
    const stable = (m: Map<string, number>) => new Map([...m].filter(([k]) => !/^(process_|nodejs_)/.test(k)));
    assert.deepEqual(stable(ours), stable(theirs));
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  });

  it("keeps escaping label values as the format wants, render after render", async () => {
    const ex = loaded();
    for (let i = 0; i < 3; i++) {
      const page = await ex.metrics.render();
      assert.ok(page.includes('xctl_probe_restarts_total{probe="odd \\"probe\\"\\\\with\\nnewline"} 2\n'), page);
    }
  });
});
