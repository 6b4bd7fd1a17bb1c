// The event push and graph routes, through the real app (app.fetch: no server needed).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Exporter } from "../../src/exporter.ts";
import { createApp, type AppOptions } from "../../src/http/app.ts";
import { isLoopback } from "../../src/http/routes/ingest-guard.ts";
import { createLogger } from "../../src/log.ts";
import type { RejectReason } from "../../src/events/schema.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;
const LOCAL = { remoteAddress: "127.0.0.1" };

function setup(opts: AppOptions = {}) {
  const exporter = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
  const app = createApp(exporter, opts);
  const call = (path: string, init: RequestInit & { duplex?: string } = {}, env = LOCAL) =>
    app.fetch(new Request(`http://x${path}`, init as RequestInit), env);
  const push = (body: BodyInit, type: string | null = "application/x-ndjson", env = LOCAL, headers: Record<string, string> = {}) =>
    call("/api/v1/events", { method: "POST", body, duplex: "half", headers: type ? { "content-type": type, ...headers } : headers }, env);
  return { exporter, app, call, push };
}

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, ts = T0, job_id: string | null = null): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

/** A push answer without each rejection's detail text, for comparing lines and reasons. */
function _lineReasons(body: unknown): unknown {
  const b = body as { rejected?: { line: number; reason: string }[] };
  return b.rejected === undefined ? body : { ...b, rejected: b.rejected.map(({ line, reason }) => ({ line, reason })) };
}

function rejectedCount(exporter: Exporter, reason: RejectReason): number {
  return exporter.ingest.rejected(reason);
}

/** A request body that yields `chunk` until `total` bytes, counting what was pulled. */
function chunkedBody(chunk: Uint8Array, total: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= total) return controller.close();
      state.pulled += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe("POST /api/v1/events", () => {
  it("takes NDJSON, counting each bad line by its physical line number", async () => {
    const { exporter, push } = setup();
    const body = [
      line("compute.util", "gpu-0", "85", 7),
      "not json",
      "",
      line("bogus.type", "gpu-0", "1"),
      "   ",
      line("compute.mem", "gpu-0", "100", 7) + "\r",
      JSON.stringify({ event_type: "compute.util", value: "1" }),
      line("transport.drop", "mlx5_0", "3", 7), // last line, no newline
    ].join("\n");
    const res = await push(body);
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { rejected: { detail: string }[] };
    // Each listed rejection says what was wrong, by field.
    assert.match(answer.rejected[0].detail, /^invalid_json: /);
    assert.equal(answer.rejected[2].detail, "missing_field: entity_id");
    assert.deepEqual(_lineReasons(answer), {
      accepted: 3,
      rejected: [
        { line: 2, reason: "invalid_json" },
        { line: 4, reason: "unknown_event_type" },
        { line: 7, reason: "missing_field" },
      ],
      rejected_total: 3,
    });
    assert.equal(exporter.ingest.accepted, 3);
    assert.equal(rejectedCount(exporter, "invalid_json"), 1);
    assert.equal(exporter.graph.edges.consumes, 1);
    assert.equal(exporter.graph.edges.waits_on, 1);
  });

  it("keeps line numbers right when a line is split across body chunks", async () => {
    const { push } = setup();
    const text = [line("compute.util", "gpu-0", "1", 1), "{broken", line("compute.util", "gpu-1", "1", 2), "[]"].join("\n") + "\n";
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.subarray(at, at + 7)); // 7-byte pieces cut every line
        at += 7;
      },
    });
    const res = await push(stream, "application/x-ndjson", LOCAL);
    assert.deepEqual(_lineReasons(await res.json()), {
      accepted: 2,
      rejected: [
        { line: 2, reason: "invalid_json" },
        { line: 4, reason: "not_object" },
      ],
      rejected_total: 2,
    });
  });

  it("takes a JSON array, numbering rejections by element", async () => {
    const { exporter, push } = setup();
    const arr = [JSON.parse(line("compute.util", "gpu-0", "1", 1)), 5, { event_type: "compute.util" }, JSON.parse(line("error.hw", "gpu-0", "XID_79"))];
    const res = await push(JSON.stringify(arr), "application/json");
    assert.deepEqual(_lineReasons(await res.json()), {
      accepted: 2,
      rejected: [
        { line: 2, reason: "not_object" },
        { line: 3, reason: "missing_field" },
      ],
      rejected_total: 2,
    });
    assert.equal(exporter.ingest.accepted, 2);
  });

  it("lets the content type decide: an array sent as NDJSON is one line that is not an event", async () => {
    const { exporter, push } = setup();
    const arr = [JSON.parse(line("compute.util", "gpu-0", "1", 1))];
    for (const type of [null, "application/x-ndjson"]) {
      const res = await push(JSON.stringify(arr), type);
      assert.deepEqual(_lineReasons(await res.json()), { accepted: 0, rejected: [{ line: 1, reason: "not_object" }], rejected_total: 1 });
    }
    assert.equal(exporter.ingest.accepted, 0);
  });

  it("rejects a too deeply nested element alone, before parsing it, and keeps the elements around it", async () => {
    const { exporter, push } = setup();
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const nested = `{"event_type":"compute.util","entity_id":"g","x":${"[".repeat(70)}${"]".repeat(70)}}`;
    const body = `[${line("compute.util", "gpu-0", "1", 1)},${deep},${nested},{"broken":},${line("compute.util", "gpu-1", "2", 2)}]`;
    const res = await push(body, "application/json");
    assert.equal(res.status, 200);
    assert.deepEqual(_lineReasons(await res.json()), {
      accepted: 2,
      rejected: [
        { line: 2, reason: "too_deep" },
        { line: 3, reason: "too_deep" },
        { line: 4, reason: "invalid_json" },
      ],
      rejected_total: 3,
    });
    assert.equal(exporter.ingest.accepted, 2);
    assert.equal(rejectedCount(exporter, "too_deep"), 2);
  });

  it("takes one object, pretty-printed or not, as application/json", async () => {
    const { exporter, push } = setup();
    const obj = JSON.parse(line("process.state", "host", "start", 42, T0, "job-1"));
    const res = await push(JSON.stringify(obj, null, 2), "application/json; charset=utf-8");
    assert.deepEqual(_lineReasons(await res.json()), { accepted: 1, rejected: [], rejected_total: 0 });
    assert.equal(exporter.graph.processes.get(42)?.jobId, "job-1");
  });

  it("frames NDJSON sent as application/json line by line", async () => {
    const { push } = setup();
    const res = await push([line("compute.util", "a", "1"), "nope", line("compute.util", "b", "1")].join("\n"), "application/json");
    assert.deepEqual(_lineReasons(await res.json()), { accepted: 2, rejected: [{ line: 2, reason: "invalid_json" }], rejected_total: 1 });
  });

  it("lists at most 100 rejections and counts them all", async () => {
    const { exporter, push } = setup();
    const lines: string[] = [];
    for (let i = 0; i < 150; i++) lines.push("x", line("compute.util", "gpu-0", String(i)));
    const res = await push(lines.join("\n"));
    const body = (await res.json()) as { accepted: number; rejected: { line: number }[]; rejected_total: number };
    assert.equal(body.accepted, 150);
    assert.equal(body.rejected_total, 150);
    assert.equal(body.rejected.length, 100);
    assert.equal(body.rejected[99].line, 199);
    assert.equal(rejectedCount(exporter, "invalid_json"), 150);
  });

  it("answers an empty body with nothing accepted", async () => {
    const { push } = setup();
    const res = await push("");
    assert.deepEqual(_lineReasons(await res.json()), { accepted: 0, rejected: [], rejected_total: 0 });
  });

  it("refuses a content type it cannot read", async () => {
    const { push } = setup();
    const res = await push("a", "multipart/form-data; boundary=x");
    assert.equal(res.status, 415);
    assert.match(((await res.json()) as { error: string }).error, /content type/);
  });
});

describe("body limit", () => {
  it("answers 413 up front when Content-Length is over --max-body", async () => {
    const { exporter, push } = setup({ ingest: { maxBodyBytes: 1000 } });
    const res = await push("x".repeat(1001), "text/plain", LOCAL, { "content-length": "1001" });
    assert.equal(res.status, 413);
    assert.match(((await res.json()) as { error: string }).error, /larger than 1000 bytes/);
    assert.equal(exporter.ingest.accepted, 0);
  });

  it("stops reading a streamed body as soon as it passes the limit", async () => {
    const limit = 256 * 1024;
    const { exporter, push } = setup({ ingest: { maxBodyBytes: limit } });
    const one = line("compute.util", "gpu-0", "85", 7) + "\n";
    const chunk = new TextEncoder().encode(one.repeat(Math.ceil(65536 / one.length)));
    const perChunk = Math.ceil(65536 / one.length);
    const { stream, state } = chunkedBody(chunk, 100 * 1024 * 1024);
    const res = await push(stream);
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: string; accepted: number };
    assert.match(body.error, /larger than 262144 bytes/);
    // Everything before the chunk that crossed the limit was ingested; nothing after it.
    const fullChunks = Math.floor(limit / chunk.length);
    assert.equal(body.accepted, fullChunks * perChunk);
    assert.equal(exporter.ingest.accepted, body.accepted);
    assert.ok(state.pulled <= limit + 2 * chunk.length, `pulled ${state.pulled} bytes of a 100 MiB body`);
    assert.equal(exporter.ingest.pushQueue.queueBytes, 0);
  });
});

describe("ingest guard", () => {
  const ok = line("compute.util", "gpu-0", "1");

  it("with a token: 401 without it or with a wrong one, saying nothing more", async () => {
    const { exporter, push } = setup({ ingest: { token: "s3cret-token" } });
    for (const auth of [undefined, "Bearer wrong", "Bearer s3cret-tokenX", "Basic czNjcmV0LXRva2Vu", "Bearer "]) {
      const res = await push(ok, "application/x-ndjson", LOCAL, auth ? { authorization: auth } : {});
      assert.equal(res.status, 401, String(auth));
      assert.deepEqual(_lineReasons(await res.json()), { error: "unauthorized" });
    }
    assert.equal(exporter.ingest.accepted, 0);
    const res = await push(ok, "application/x-ndjson", { remoteAddress: "10.1.2.3" }, { authorization: "bearer s3cret-token" });
    assert.equal(res.status, 200);
    assert.equal(exporter.ingest.accepted, 1);
  });

  it("without a token: loopback only (403 otherwise), unless remote is allowed", async () => {
    const { exporter, push } = setup();
    for (const remoteAddress of ["10.0.0.5", "192.168.1.1", "::ffff:10.0.0.1", "2001:db8::1", ""]) {
      const res = await push(ok, "application/x-ndjson", { remoteAddress });
      assert.equal(res.status, 403, remoteAddress);
      assert.match(((await res.json()) as { error: string }).error, /loopback/);
    }
    for (const remoteAddress of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) {
      assert.equal((await push(ok, "application/x-ndjson", { remoteAddress })).status, 200, remoteAddress);
    }
    assert.equal(exporter.ingest.accepted, 4);
    const open = setup({ ingest: { allowRemote: true } });
    assert.equal((await open.push(ok, "application/x-ndjson", { remoteAddress: "10.0.0.5" })).status, 200);
  });

  it("POST /-/reload is guarded as pushes are: loopback, or the token", async () => {
    const { exporter, call } = setup();
    const before = exporter.rulesReload.reloads.get("success");
    const remote = await call("/-/reload", { method: "POST" }, { remoteAddress: "10.0.0.5" });
    assert.equal(remote.status, 403);
    assert.equal(exporter.rulesReload.reloads.get("success"), before, "nothing reloaded");
    const local = await call("/-/reload", { method: "POST" });
    assert.equal(local.status, 200);
    assert.equal(exporter.rulesReload.reloads.get("success"), before! + 1);
    const body = (await local.json()) as { ok: boolean; rules: number; changed: string[] };
    assert.deepEqual([body.ok, body.rules, body.changed], [true, exporter.engine.rules.length, []]);
    const token = setup({ ingest: { token: "s3cret-token" } });
    assert.equal((await token.call("/-/reload", { method: "POST" }, { remoteAddress: "10.0.0.5" })).status, 401);
    assert.equal((await token.call("/-/reload", { method: "POST", headers: { authorization: "Bearer s3cret-token" } }, { remoteAddress: "10.0.0.5" })).status, 200);
  });

  it("recognises loopback addresses and nothing else", () => {
    for (const a of ["127.0.0.1", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1"]) assert.ok(isLoopback(a), a);
    for (const a of ["", "128.0.0.1", "10.127.0.1", "127.0.0", "127.0.0.1.5", "127.0.0.256", "::2", "::ffff:10.0.0.1", "localhost"]) assert.ok(!isLoopback(a), a);
  });
});

describe("ingest queue bound", () => {
  it("answers 503 with Retry-After while pushes in flight hold the bound, and counts it", async () => {
    const { exporter, push } = setup({ ingest: { maxBodyBytes: 1 << 20, queueBytes: 1000 } });
    const bytes = new TextEncoder().encode((line("compute.util", "gpu-0", "1", 1) + "\n").repeat(20));
    let release!: () => void;
    const held = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        release = () => c.close();
      },
    });
    const first = push(held);
    // Wait until the first push has read its bytes and holds them.
    for (let i = 0; i < 200 && exporter.ingest.pushQueue.queueBytes === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(exporter.ingest.pushQueue.queueBytes, bytes.length);

    const refused = await push(line("compute.util", "gpu-1", "1"));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.match(((await refused.json()) as { error: string }).error, /queue full/);
    assert.equal(exporter.ingest.pushQueue.queueFull.get("http"), 1);

    release();
    assert.deepEqual(_lineReasons(await (await first).json()), { accepted: 20, rejected: [], rejected_total: 0 });
    assert.equal(exporter.ingest.pushQueue.queueBytes, 0);
    assert.equal((await push(line("compute.util", "gpu-1", "1"))).status, 200);
  });
});

describe("slow pushes", () => {
  it("hold the queue only by the bytes they sent, not by what they declared", async () => {
    const { exporter, push } = setup({ ingest: { maxBodyBytes: 1 << 20, queueBytes: 1 << 20 } });
    const releases: (() => void)[] = [];
    const slow = [];
    for (let i = 0; i < 4; i++) {
      const held = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("{"));
          releases.push(() => c.close());
        },
      });
      slow.push(push(held, "application/x-ndjson", LOCAL, { "content-length": String(1 << 20) }));
    }
    for (let i = 0; i < 200 && exporter.ingest.pushQueue.queueBytes < 4; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(exporter.ingest.pushQueue.queueBytes, 4, "each holds the one byte it sent");
    assert.equal((await push(line("compute.util", "gpu-1", "1"))).status, 200);
    for (const r of releases) r();
    for (const res of await Promise.all(slow)) assert.equal(res.status, 200);
    assert.equal(exporter.ingest.pushQueue.queueBytes, 0);
  });

  it("a body that stops sending gets 408 after the idle timeout and frees its bytes", async () => {
    const { exporter, push } = setup({ ingest: { bodyIdleMs: 200 } });
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(line("compute.util", "gpu-0", "1") + "\n{"));
      },
    });
    const res = await push(stalled);
    assert.equal(res.status, 408);
    assert.match(((await res.json()) as { error: string }).error, /idle/);
    assert.equal(exporter.ingest.pushQueue.queueBytes, 0);
  });
});

describe("graph routes", () => {
  async function scenario() {
    const s = setup();
    const body = [
      line("process.state", "host", "start", 200, T0, "job-b"),
      line("compute.util", "gpu-0", "85", 100, T0 + 1, "job-a"),
      line("transport.bw", "mlx5_0", "IO_WAIT", 100, T0 + 2),
      line("compute.util", "gpu-1", "40", 200, T0 + 3),
      line("error.hw", "gpu-0", "XID_79", null, T0 + 4),
    ].join("\n");
    assert.equal((await s.push(body)).status, 200);
    return s;
  }

  it("GET /api/v1/processes lists rows sorted by pid", async () => {
    const { call } = await scenario();
    const res = await call("/api/v1/processes");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-total-count"), "2");
    // age_s counts from the wall-clock receipt of the last event: anything from 0 up.
    const rows = ((await res.json()) as Record<string, unknown>[]).map(({ age_s, ...r }) => (assert.equal(typeof age_s, "number"), r));
    assert.deepEqual(rows, [
      {
        pid: 100,
        job_id: "job-a",
        state: "running",
        resources: ["gpu-0", "mlx5_0"],
        consumes: ["gpu-0"],
        waits_on: ["mlx5_0"],
        blocked_by: ["error-gpu-0"],
        blocked_by_errors: [{ error: "error-gpu-0", entity: "gpu-0", error_type: "XID_79" }],
        scenes: [],
        settling_scenes: [],
        updated_at: new Date(T0 + 2).toISOString(),
      },
      {
        pid: 200,
        job_id: "job-b",
        state: "running",
        resources: ["gpu-1"],
        consumes: ["gpu-1"],
        waits_on: [],
        blocked_by: [],
        blocked_by_errors: [],
        scenes: [],
        settling_scenes: [],
        updated_at: new Date(T0 + 3).toISOString(),
      },
    ]);
    const cut = await call("/api/v1/processes?limit=1");
    assert.equal(cut.headers.get("x-truncated"), "true");
    assert.equal(((await cut.json()) as unknown[]).length, 1);
    assert.equal((await call("/api/v1/processes?limit=zero")).status, 400);
  });

  it("GET /api/v1/why/:pid gives root causes; 404 unknown, 400 not a pid", async () => {
    const { call } = await scenario();
    const res = await call("/api/v1/why/100");
    assert.equal(res.status, 200);
    // Scenes belong to the diagnosis (tested with it); here they only have to be a list.
    const { scenes, ...rest } = (await res.json()) as { scenes: unknown };
    assert.ok(Array.isArray(scenes));
    assert.deepEqual(rest, {
      pid: 100,
      job_id: "job-a",
      state: "running",
      ended: false,
      root_causes: [{ error: "error-gpu-0", entity: "gpu-0", error_type: "XID_79", since: new Date(T0 + 4).toISOString(), updated_at: new Date(T0 + 4).toISOString() }],
      waits_on: [{ resource: "mlx5_0", meta: { bw: "IO_WAIT" } }],
      consumes: [{ resource: "gpu-0", meta: { util: "85" } }],
    });
    const missing = await call("/api/v1/why/4242");
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "no process with pid 4242" });
    for (const bad of ["abc", "-1", "1.5", "99999999999"]) {
      const r = await call(`/api/v1/why/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.match(((await r.json()) as { error: string }).error, /pid/);
    }
  });

  it("GET /api/v1/why/:pid carries the scenes the diagnosis matches, with their evidence", async () => {
    const { exporter, call } = setup();
    await ingestLine(exporter, line("process.state", "host", "start", 5, T0, "job-5"), "test");
    await ingestLine(exporter, line("compute.mem", "gpu-0", "98", 5, T0 + 1), "test");
    await ingestLine(exporter, line("error.hw", "gpu-0", "OOM", null, T0 + 2), "test");
    await ingestLine(exporter, line("process.state", "host", "start", 6, T0 + 3, "job-6"), "test");
    const why = (await (await call("/api/v1/why/5")).json()) as { scenes: { scene: string; rule: string; causes: { kind: string; entity_id?: string }[] }[] };
    assert.deepEqual(why.scenes.map((s) => s.scene), ["gpu_oom"]);
    assert.ok(why.scenes[0].rule.length > 0);
    assert.ok(why.scenes[0].causes.some((c) => c.kind === "error" && c.entity_id === "gpu-0"));
    const other = (await (await call("/api/v1/why/6")).json()) as { scenes: unknown[] };
    assert.deepEqual(other.scenes, []);
  });

  it("GET /api/v1/diagnoses?limit= lists every kept run, automatic and on-demand, newest first", async () => {
    const { exporter, call } = setup();
    for (let i = 0; i < 105; i++) exporter.engine.runNow("replay"); // the automatic ring keeps 100
    for (let i = 0; i < 20; i++) assert.equal((await call("/api/v1/diagnoses", { method: "POST" })).status, 200);
    const list = async (q: string) => (await (await call(`/api/v1/diagnoses${q}`)).json()) as { id: number; trigger: string }[];
    const all = await list("?limit=1000");
    assert.equal(all.length, 120, "100 automatic and 20 on-demand runs are kept");
    assert.deepEqual(all.map((r) => r.id), [...all.map((r) => r.id)].sort((a, b) => b - a));
    assert.equal(all.filter((r) => r.trigger === "api").length, 20);
    assert.equal((await list("?limit=120")).length, 120);
    assert.equal((await list("")).length, 20, "20 by default");
    for (const bad of ["0", "-1", "abc", "1.5"]) {
      const res = await call(`/api/v1/diagnoses?limit=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.match(((await res.json()) as { error: string }).error, /^limit must be a positive integer \(120 runs are kept\)$/);
    }
  });

  it("ps's rows carry consumed GPUs, blocking errors with their type, and the active scenes", async () => {
    const { exporter, call } = setup();
    await ingestLine(exporter, line("process.state", "host", "start", 5, T0, "job-5"), "test");
    await ingestLine(exporter, line("compute.mem", "gpu-0", "98", 5, T0 + 1), "test");
    await ingestLine(exporter, line("error.hw", "gpu-0", "OOM", null, T0 + 2), "test");
    // An on-demand run changes no scene state: the automatic run (event time, 1 s on) does.
    assert.equal((await call("/api/v1/diagnoses", { method: "POST" })).status, 200);
    assert.deepEqual(((await (await call("/api/v1/processes")).json()) as Record<string, unknown>[])[0].scenes, []);
    await ingestLine(exporter, line("compute.mem", "gpu-0", "98", 5, T0 + 2000), "test");
    const [row] = (await (await call("/api/v1/processes")).json()) as Record<string, unknown>[];
    assert.deepEqual(row.consumes, ["gpu-0"]);
    assert.deepEqual(row.blocked_by_errors, [{ error: "error-gpu-0", entity: "gpu-0", error_type: "OOM" }]);
    assert.deepEqual(row.scenes, ["gpu_oom"]);
    assert.equal(typeof row.age_s, "number");
    const status = (await (await call("/api/v1/status")).json()) as { scenes: { scene: string; root_cause: string; affected_pids: number[]; affected_jobs: string[] }[] };
    assert.deepEqual(status.scenes.map((s) => [s.scene, s.affected_pids, s.affected_jobs]), [["gpu_oom", [5], ["job-5"]]]);
    assert.match(status.scenes[0].root_cause, /OOM on gpu-0/);
  });

  it("a wrong method gets 405 with Allow on every route; OPTIONS lists the methods", async () => {
    const { call } = setup({ metricsPath: "/m" });
    const cases: [string, string, string][] = [
      ["DELETE", "/m", "GET, HEAD"],
      ["POST", "/", "GET, HEAD"],
      ["PUT", "/healthz", "GET, HEAD"],
      ["POST", "/readyz", "GET, HEAD"],
      ["GET", "/api/v1/events", "POST"],
      ["POST", "/api/v1/events/stream", "GET, HEAD"],
      ["DELETE", "/api/v1/processes", "GET, HEAD"],
      ["POST", "/api/v1/status", "GET, HEAD"],
      ["POST", "/api/v1/why/5", "GET, HEAD"],
      ["PATCH", "/api/v1/graph", "GET, HEAD"],
      ["PUT", "/api/v1/diagnoses", "GET, HEAD, POST"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
      assert.match(((await r.json()) as { error: string }).error, new RegExp(`^method ${method} not allowed`));
    }
    const opt = await call("/api/v1/diagnoses", { method: "OPTIONS" });
    assert.equal(opt.status, 204);
    assert.equal(opt.headers.get("allow"), "GET, HEAD, POST, OPTIONS");
    assert.equal((await call("/nope", { method: "POST" })).status, 404);
    assert.equal((await call("/metrics")).status, 404, "the default path is not served when another is configured");
  });

  it("/readyz is 503 before start with the reason, then 200 listing each source", async () => {
    const { exporter, call } = setup();
    const before = await call("/readyz");
    assert.equal(before.status, 503);
    assert.deepEqual(((await before.json()) as { error: string }).error, "not ready: starting");
    exporter.start();
    const after = await call("/readyz");
    assert.equal(after.status, 200);
    const body = (await after.json()) as { status: string; rules: number; sources: unknown[] };
    assert.equal(body.status, "ready");
    assert.ok(body.rules > 0);
    assert.deepEqual(body.sources, []);
    await exporter.stop();
    assert.equal((await call("/readyz")).status, 503);
  });

  it("GET /api/v1/graph gives nodes and edges as JSON, or DOT", async () => {
    const { call } = await scenario();
    const res = await call("/api/v1/graph");
    const g = (await res.json()) as { nodes: { id: string; type: string }[]; edges: unknown[]; truncated: boolean };
    assert.deepEqual(
      g.nodes.map((n) => `${n.type}:${n.id}`),
      ["process:pid-100", "process:pid-200", "resource:gpu-0", "resource:gpu-1", "resource:mlx5_0", "error:error-gpu-0"],
    );
    assert.deepEqual(g.edges, [
      { type: "consumes", from: "pid-100", to: "gpu-0" },
      { type: "waits_on", from: "pid-100", to: "mlx5_0" },
      { type: "blocked_by", from: "pid-100", to: "error-gpu-0" },
      { type: "consumes", from: "pid-200", to: "gpu-1" },
    ]);
    assert.equal(g.truncated, false);

    const dot = await call("/api/v1/graph?format=dot");
    assert.equal(dot.status, 200);
    assert.match(dot.headers.get("content-type") ?? "", /^text\/vnd\.graphviz/);
    const text = await dot.text();
    assert.match(text, /^digraph xctl \{/);
    assert.ok(text.includes('"pid-100" -> "error-gpu-0" [label="blocked_by"'));

    const cut = (await (await call("/api/v1/graph?limit=2")).json()) as { nodes: unknown[]; edges: unknown[]; truncated: boolean };
    assert.deepEqual([cut.nodes.length, cut.edges.length, cut.truncated], [2, 0, true]);
    assert.equal((await call("/api/v1/graph?format=svg")).status, 400);
  });
});
