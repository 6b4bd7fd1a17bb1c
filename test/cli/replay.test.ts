// `replay FILE|-` prints the final exposition and a summary, and agrees with a running
// server fed the same file over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, parseExposition, runCli, scrape, startExporter } from "../_helpers.ts";

const T0 = 1_732_500_000_000;

/**
 * A deterministic busy host: jobs start, use GPUs, NICs and disks, some exit (and are never
 * mentioned again), errors come and some expire across a six-minute gap; bad lines among them.
 */
function scenario(): { text: string; accepted: number; rejected: Record<string, number> } {
  // mulberry32: small, seeded, and good in the low bits too.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const lines: string[] = [];
  let accepted = 0;
  const rejected: Record<string, number> = { invalid_json: 0, unknown_event_type: 0, bad_value: 0, too_long: 0 };
  const emit = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null, job_id: string | null) => {
    lines.push(JSON.stringify({ ts, event_type, entity_id, job_id, pid, value }));
    accepted++;
  };
  const live = new Map<number, string>();
  let nextPid = 100;
  let ts = T0;
  for (let i = 0; i < 3000; i++) {
    ts += i === 1500 ? 6 * 60_000 : rnd(40);
    const r = rnd(100);
    const pids = [...live.keys()];
    const pid = pids.length > 0 ? pids[rnd(pids.length)] : null;
    const job = pid === null ? null : live.get(pid)!;
    if (r < 8 || pid === null) {
      const p = nextPid++;
      const j = `job-${rnd(6)}`;
      live.set(p, j);
      emit(ts, "process.state", "host", "start", p, j);
    } else if (r < 12 && live.size > 3) {
      live.delete(pid);
      emit(ts, "process.state", "host", rnd(2) ? "exit" : "zombie", pid, job);
    } else if (r < 40) emit(ts, "compute.util", `gpu-${rnd(8)}`, String(rnd(101)), pid, job);
    else if (r < 55) emit(ts, "compute.mem", `gpu-${rnd(8)}`, String(rnd(80000)), pid, job);
    else if (r < 65) emit(ts, "transport.bw", `mlx5_${rnd(4)}`, rnd(5) ? String(rnd(200)) : "0.4", pid, job);
    else if (r < 68) emit(ts, "transport.drop", `mlx5_${rnd(4)}`, String(rnd(9)), pid, job);
    else if (r < 74) emit(ts, "storage.iops", `nvme${rnd(2)}n1`, rnd(4) ? String(rnd(9000)) : "IO_WAIT", pid, job);
    else if (r < 78) emit(ts, "storage.qdepth", `nvme${rnd(2)}n1`, String(rnd(64)), pid, job);
    else if (r < 80) emit(ts, "error.hw", `gpu-${rnd(8)}`, ["XID_79", "OOM", "ECC"][rnd(3)], null, null);
    else if (r < 81) emit(ts, "error.net", `mlx5_${rnd(4)}`, "LINK_FLAP", null, null);
    else if (r < 82) emit(ts, "topo.link_down", `mlx5_${rnd(4)}`, "down", null, null);
    else if (r < 86) emit(ts, "intent.run", "sched", "run", pid, `job-${rnd(6)}`);
    else if (r < 88) emit(ts, "action.exec", "host", "noop", null, null);
    else if (r < 89) {
      lines.push(`{"ts": ${ts}, "event_type": "compute.util", "entity_id": `);
      rejected.invalid_json++;
    } else if (r < 90) {
      lines.push(JSON.stringify({ ts, event_type: "gpu.melt", entity_id: "gpu-0", value: "1" }));
      rejected.unknown_event_type++;
    } else if (r < 91) {
      lines.push(JSON.stringify({ ts, event_type: "compute.util", entity_id: "gpu-0", pid: -5, value: "1" }));
      rejected.bad_value++;
    } else if (r < 92 && rejected.too_long < 2) {
      lines.push(JSON.stringify({ ts, event_type: "compute.util", entity_id: "gpu-0", value: "x".repeat(70_000) }));
      rejected.too_long++;
    } else if (r < 95) lines.push(""); // blank lines are not events
    else emit(ts, "compute.util", `gpu-${rnd(8)}`, String(rnd(101)), null, null);
  }
  return { text: lines.join("\n") + "\n", accepted, rejected };
}

/** The xctl_* samples that follow from the events alone. */
function eventSamples(exposition: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of exposition) {
    if (!k.startsWith("xctl_")) continue;
    // Build info differs by nature. Diagnosis (runs, latency, active scenes) is debounced on
    // the wall clock in a server and on event time in a replay: the diagnosis tests own it. Rule
    // reloads (SIGHUP) and the last why answers of processes that ended are a server's alone.
    if (/^xctl_(build_info|diagnoses_|diagnosis_latency|scene_active|scene_activations|rules_|ended_answers)/.test(k)) continue;
    out.set(k, v);
  }
  return out;
}

const SLOW = { timeout: 60_000 }; // subprocesses: Deno starts slowly, Bun's default is 5 s

describe("replay", () => {
  let dir: string;
  let file: string;
  let expected: ReturnType<typeof scenario>;
  let replayed: Awaited<ReturnType<typeof runCli>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "xctl-replay-"));
    file = join(dir, "events.ndjson");
    expected = scenario();
    writeFileSync(file, expected.text);
    replayed = await runCli(["replay", file]);
  }, SLOW);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prints the final exposition and a summary with counts by reason", SLOW, async () => {
    const r = replayed;
    assert.equal(r.code, 0, r.stderr);
    const samples = parseExposition(r.stdout);
    assert.equal(samples.get("xctl_events_total"), expected.accepted);
    for (const [reason, n] of Object.entries(expected.rejected)) {
      assert.equal(samples.get(`xctl_events_rejected_total{reason="${reason}"}`), n, reason);
    }
    assert.ok(!r.stdout.includes("process_cpu"), "no runtime process metrics in a replay");
    const total = Object.values(expected.rejected).reduce((a, b) => a + b, 0);
    const reasons = Object.entries(expected.rejected)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(", ");
    const n = (x: number) => x.toLocaleString("en-US");
    const summary = r.stderr.trim().split("\n").at(-1)!;
    assert.match(summary, new RegExp(`^replay: ${n(expected.accepted)} events accepted, ${total} rejected \\(${reasons}\\) in \\d+\\.\\d{3} s: [\\d,]+ events/s$`));
  });

  it("reads standard input with -, to the same result", SLOW, async () => {
    const fromStdin = await runCli(["replay", "-"], { input: expected.text });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual(eventSamples(parseExposition(fromStdin.stdout)), eventSamples(parseExposition(replayed.stdout)));
  });

  it("agrees with a running server fed the same file over HTTP", SLOW, async () => {
    assert.equal(replayed.code, 0, replayed.stderr);
    const want = eventSamples(parseExposition(replayed.stdout));
    assert.ok(want.get("xctl_waitson_edges")! > 0 && want.get("xctl_blockedby_edges")! > 0 && want.get("xctl_error_nodes")! > 0, "the scenario exercises every edge kind");

    const server = await startExporter([]);
    try {
      const res = await fetch(`${server.url}/api/v1/events`, { method: "POST", body: expected.text, headers: { "content-type": "application/x-ndjson" } });
      const body = (await res.json()) as { accepted: number; rejected_total: number };
      assert.equal(body.accepted, expected.accepted);
      // The server cleans up on its own clock within a second; wait for it to settle.
      let got = new Map<string, number>();
      await eventually(
        async () => {
          got = eventSamples(await scrape(server.url));
          return [...want].every(([k, v]) => got.get(k) === v) && got.size === want.size;
        },
        10_000,
        "the server's metrics to match the replay",
      ).catch(() => {});
      assert.deepEqual(got, want);
    } finally {
      await server.stop();
    }
  });

  it("says what is wrong in one line: exit 2 for usage and a file it cannot open (as rules check), 1 when nothing was accepted", SLOW, async () => {
    const none = await runCli(["replay"]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, "xctl-exporter: replay: give an event file, or - for standard input\n");
    const missing = await runCli(["replay", join(dir, "nope.ndjson")]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `xctl-exporter: cannot read ${join(dir, "nope.ndjson")}: no such file\n`);
    const isDir = await runCli(["replay", dir]);
    assert.equal(isDir.code, 2);
    assert.equal(isDir.stderr, `xctl-exporter: cannot read ${dir}: is a directory\n`);
    const junk = join(dir, "junk.ndjson");
    writeFileSync(junk, "not json\n{}\n");
    const r = await runCli(["replay", junk]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").at(-1), `xctl-exporter: replay: no event accepted from ${junk} (2 lines rejected)`);
  });

  it("warns each rejected line with its number, across read chunks, in plain and gzip files alike", SLOW, async () => {
    // ~3.5 MB: the bad lines fall in the first, second and fourth 1 MiB read.
    const good = (i: number) => JSON.stringify({ ts: T0 + i, event_type: "compute.util", entity_id: `gpu-${i % 8}`, job_id: "job-padding-padding-padding-padding", pid: 1000 + (i % 50), value: "50" });
    const bad: Record<number, string> = { 5: "{oops", 12_001: '{"ts":1,"event_type":"gpu.melt","entity_id":"x","value":"1"}', 29_998: "\u00ff\u00fe not utf-8" };
    const lines: string[] = [];
    for (let n = 1; n <= 30_000; n++) lines.push(bad[n] ?? good(n));
    const file = join(dir, "numbered.ndjson");
    writeFileSync(file, lines.join("\n") + "\n", "latin1");
    const { gzipSync } = await import("node:zlib");
    const { readFileSync } = await import("node:fs");
    writeFileSync(join(dir, "numbered.gz"), gzipSync(readFileSync(file)));
    for (const f of [file, join(dir, "numbered.gz")]) {
      const r = await runCli(["replay", f]);
      assert.equal(r.code, 0, r.stderr);
      const warned = r.stderr.split("\n").filter((l) => l.includes("rejected:")).map((l) => l.replace(/^.* warn {2}/, ""));
      assert.deepEqual(warned.map((w) => w.replace(/^(\S+ rejected: \w+).*$/, "$1")), [`${f}:5: rejected: invalid_json`, `${f}:12001: rejected: unknown_event_type`, `${f}:29998: rejected: invalid_utf8`]);
      assert.match(warned[1], /unknown_event_type: "gpu\.melt" \(known: compute\.util, /);
      assert.match(r.stderr, /^replay: 29,997 events accepted, 3 rejected/m);
      assert.ok(!r.stderr.includes("\r"), "no progress line when stderr is not a terminal");
    }
  });

  it("--log-format json: each warning is one JSON object on stderr, as serve logs; a wrong format stops it with status 2", async () => {
    const file = join(dir, "one-bad.ndjson");
    writeFileSync(file, [JSON.stringify({ ts: T0, event_type: "compute.util", entity_id: "gpu-0", job_id: null, pid: null, value: "5" }), "{oops"].join("\n") + "\n");
    const r = await runCli(["replay", "--log-format", "json", file]);
    assert.equal(r.code, 0, r.stderr);
    const warn = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.deepEqual(warn.map((w) => [w.level, w.msg.replace(/: rejected: (\w+).*$/, " $1")]), [["warn", `${file}:2 invalid_json`]]);
    const bad = await runCli(["replay", "--log-format", "xml", file]);
    assert.deepEqual([bad.code, bad.stderr], [2, 'xctl-exporter: --log-format: "xml" is not one of pretty, logfmt, json\n']);
  });

  it("--json: counts and the timeline of scenes by event time, on stdout", SLOW, async () => {
    const file = join(dir, "scene.ndjson");
    const ev = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null = null) => JSON.stringify({ ts, event_type, entity_id, pid, job_id: pid === null ? null : `job-${pid}`, value });
    writeFileSync(
      file,
      [
        ev(T0, "process.state", "host", "start", 7),
        ev(T0 + 1_000, "compute.util", "gpu-1", "80", 7),
        ev(T0 + 2_000, "error.hw", "gpu-1", "XID_79"),
        ev(T0 + 3_000, "compute.util", "gpu-2", "80", 8),
        // Ten minutes later the error has left its window; the next run sees the scene cleared.
        ev(T0 + 600_000, "compute.util", "gpu-2", "80", 8),
        ev(T0 + 602_000, "compute.util", "gpu-2", "81", 8),
      ].join("\n") + "\n",
    );
    const r = await runCli(["replay", "--json", file]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { accepted: number; gzip: boolean; rejected: object; timeline: { scene: string; active_at: string; cleared_at: string | null }[] };
    assert.equal(s.accepted, 6);
    assert.equal(s.gzip, false);
    assert.deepEqual(s.rejected, {});
    const xid = s.timeline.find((t) => t.scene === "gpu_xid");
    assert.ok(xid, JSON.stringify(s.timeline));
    assert.ok(Date.parse(xid.active_at) >= T0 + 2_000 && Date.parse(xid.active_at) < T0 + 600_000, xid.active_at);
    assert.ok(xid.cleared_at !== null && Date.parse(xid.cleared_at) >= T0 + 600_000, String(xid.cleared_at));
  });

  it("--json: a scene that only the final run finds (a file shorter than the debounce) is in the timeline, as it is active in the exposition", SLOW, async () => {
    const file = join(dir, "short.ndjson");
    const ev = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null = null) => JSON.stringify({ ts, event_type, entity_id, pid, job_id: pid === null ? null : `job-${pid}`, value });
    writeFileSync(file, [ev(T0, "process.state", "host", "start", 7), ev(T0 + 100, "compute.util", "gpu-1", "80", 7), ev(T0 + 200, "error.hw", "gpu-1", "XID_79")].join("\n") + "\n");
    const r = await runCli(["replay", "--json", file]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { matching: string[]; timeline: { scene: string; active_at: string; cleared_at: string | null }[] };
    assert.ok(s.matching.includes("gpu_xid"), JSON.stringify(s.matching));
    const xid = s.timeline.find((t) => t.scene === "gpu_xid");
    assert.ok(xid, `gpu_xid matches but the timeline lacks it: ${JSON.stringify(s.timeline)}`);
    assert.equal(xid.active_at, new Date(T0 + 200).toISOString());
    assert.equal(xid.cleared_at, null);
    const prom = await runCli(["replay", file]);
    assert.match(prom.stdout, /^xctl_scene_active\{scene="gpu_xid"\} 1$/m);
  });
});

describe("replay diagnoses", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xctl-replay-diag-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs the rules over the recorded events and counts the concluding scene", SLOW, async () => {
    const t = 1_732_500_000_000;
    const events = [
      { ts: t, event_type: "process.state", entity_id: "host", pid: 4242, job_id: "job-1", value: "start" },
      { ts: t + 10, event_type: "compute.util", entity_id: "gpu-03", pid: 4242, value: "97" },
      { ts: t + 20, event_type: "error.hw", entity_id: "gpu-03", value: "XID_79" },
      { ts: t + 5000, event_type: "compute.util", entity_id: "gpu-03", pid: 4242, value: "0" },
    ];
    const file = join(dir, "xid.ndjson");
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const r = await runCli(["replay", file]);
    assert.equal(r.code, 0, r.stderr);
    const m = parseExposition(r.stdout);
    assert.ok(m.get("xctl_diagnoses_total")! >= 1);
    assert.ok(m.get('xctl_diagnoses_by_scene{scene="gpu_xid"}')! >= 1, r.stdout);
    assert.equal(m.get('xctl_scene_active{scene="gpu_xid"}'), 1);
    assert.equal(m.get('xctl_diagnoses_by_scene{scene="npu_ecc_error"}'), 0, "every loaded scene present at 0");
    assert.match(r.stderr, /final: gpu_xid/);
  });

  it("loads a quick site rule (name, scene, priority, conditions) and fires it, saying it has no steps", SLOW, async () => {
    const rules = join(dir, "quick");
    mkdirSync(rules);
    writeFileSync(
      join(rules, "nvlink.yaml"),
      [
        "name: NVLink down",
        "scene: nvlink_down",
        "priority: 84",
        "scope: process",
        "conditions:",
        '  - {type: event, event_type: topo.link_down, entity_id_pattern: "gpu-*"}',
        '  - {type: graph, edge_type: blocked_by, to_pattern: "error-gpu-*"}',
        "",
      ].join("\n"),
    );
    const events = [
      { ts: T0, event_type: "process.state", entity_id: "gpu-04", pid: 4747, job_id: "job-47", value: "start" },
      { ts: T0 + 1000, event_type: "compute.util", entity_id: "gpu-04", pid: 4747, job_id: "job-47", value: "96" },
      { ts: T0 + 2000, event_type: "topo.link_down", entity_id: "gpu-04", value: "NVLINK_DOWN link=3" },
      { ts: T0 + 3000, event_type: "compute.util", entity_id: "gpu-04", pid: 4747, job_id: "job-47", value: "97" },
    ];
    const file = join(dir, "nvlink.ndjson");
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const r = await runCli(["replay", "--rules", rules, file]);
    assert.equal(r.code, 0, r.stderr);
    const m = parseExposition(r.stdout);
    assert.equal(m.get('xctl_scene_active{scene="nvlink_down"}'), 1, r.stdout);
    assert.equal(m.get('xctl_scene_info{scene="nvlink_down",severity="critical"}'), 1, "severity from priority 84");
    assert.match(r.stderr, /final: nvlink_down/);
    assert.match(r.stderr, /nvlink\.yaml: solution_steps: warning: none given: a match of this rule will carry no solution steps/);
  });

  it("refuses a quick rule whose optional field is malformed: exit 2, one line naming it", SLOW, async () => {
    const rules = join(dir, "malformed");
    mkdirSync(rules);
    writeFileSync(join(rules, "site.yaml"), "name: x\nscene: x\npriority: 1\nconditions: [{type: graph, edge_type: waits_on}]\nsolution_steps: check the cable\n");
    const r = await runCli(["replay", "--rules", rules, join(dir, "missing.ndjson")]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `xctl-exporter: ${join(rules, "site.yaml")}:5: solution_steps: must be a list (got "check the cable")\n`);
  });

  it("refuses a bad rule directory before reading anything: exit 2, one line", SLOW, async () => {
    const rules = join(dir, "rules");
    mkdirSync(rules);
    writeFileSync(join(rules, "broken.yaml"), "name: x\nscene: Bad-Scene\npriority: 1\nconditions: []\n");
    const r = await runCli(["replay", "--rules", rules, join(dir, "missing.ndjson")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /broken\.yaml:2: scene/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});
