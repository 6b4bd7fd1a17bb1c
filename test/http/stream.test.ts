// GET /api/v1/events/stream: a live reader on a real server, the type filter, the client cap,
// and a slow reader cut off by the hub (through the real app).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Exporter, type ExporterOptions } from "../../src/exporter.ts";
import { createApp, type AppOptions } from "../../src/http/app.ts";
import { sseBody } from "../../src/http/routes/stream.ts";
import { EventHub } from "../../src/events/hub.ts";
import type { Queries } from "../../src/query/queries.ts";
import type { SceneChange } from "../../src/query/scene-watch.ts";
import { createLogger } from "../../src/log.ts";
import { eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;
const LOCAL = { remoteAddress: "127.0.0.1" };

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, ts = T0): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id: null, pid, value });
}

/** Reads SSE frames from a body: data payloads parsed, comments kept as text. */
class SseReader {
  private readonly _reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly _dec = new TextDecoder();
  private _text = "";
  readonly events: Record<string, unknown>[] = [];
  /** Every record with its `id:` and `event:` fields. */
  readonly records: { id?: string; event?: string; data: Record<string, unknown> }[] = [];
  readonly comments: string[] = [];
  done = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this._reader = body.getReader();
  }

  /** Reads until `check` holds or the stream ends; fails after `timeoutMs` (a stream never ends by itself). */
  async until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stream did not show it within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this._read(check), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async _read(check: () => boolean): Promise<void> {
    while (!check() && !this.done) {
      const { done, value } = await this._reader.read();
      if (done) {
        this.done = true;
        break;
      }
      this._text += this._dec.decode(value, { stream: true });
      let end: number;
      while ((end = this._text.indexOf("\n\n")) !== -1) {
        const frame = this._text.slice(0, end);
        this._text = this._text.slice(end + 2);
        const rec: { id?: string; event?: string; data?: Record<string, unknown> } = {};
        for (const l of frame.split("\n")) {
          if (l.startsWith("data: ")) rec.data = JSON.parse(l.slice(6));
          else if (l.startsWith("id: ")) rec.id = l.slice(4);
          else if (l.startsWith("event: ")) rec.event = l.slice(7);
          else if (l.startsWith(":")) this.comments.push(l);
        }
        if (rec.data !== undefined) {
          this.records.push(rec as { data: Record<string, unknown> });
          if (rec.event !== "scene") this.events.push(rec.data);
        }
      }
    }
  }

  cancel(): Promise<void> {
    return this._reader.cancel();
  }
}

function setup(opts: { exporter?: Partial<ExporterOptions>; app?: AppOptions } = {}) {
  const exporter = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, ...opts.exporter });
  const app = createApp(exporter, opts.app);
  const open = (query = "") => app.fetch(new Request(`http://x/api/v1/events/stream${query}`), LOCAL);
  return { exporter, open };
}

const SLOW = { timeout: 60_000 }; // a real server: Deno starts slowly, Bun's default is 5 s

describe("stream records", () => {
  it("carry id: and event:, and scene changes come as `event: scene` records", async () => {
    const { exporter, open } = setup();
    const res = await open();
    const sse = new SseReader(res.body!);
    await sse.until(() => sse.comments.length > 0);
    await ingestLine(exporter, line("process.state", "host", "start", 5), "test");
    await ingestLine(exporter, line("compute.mem", "gpu-0", "98", 5, T0 + 1), "test");
    await ingestLine(exporter, line("error.hw", "gpu-0", "OOM", null, T0 + 2), "test");
    exporter.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
    await sse.until(() => sse.records.some((r) => r.event === "scene"));
    assert.deepEqual(sse.records.slice(0, 3).map((r) => [r.id, r.event, r.data.event_type]), [
      ["1", "event", "process.state"],
      ["2", "event", "compute.mem"],
      ["3", "event", "error.hw"],
    ]);
    const scene = sse.records.find((r) => r.event === "scene" && r.data.scene === "gpu_oom")!;
    assert.equal(scene.data.active, true);
    assert.equal(scene.data.event_time, new Date(T0 + 2).toISOString());
    assert.equal(Number(scene.id), sse.records.indexOf(scene) + 1, "ids count up across both kinds");

    // Only scene records with ?type=scene.
    const only = new SseReader((await open("?type=scene")).body!);
    await only.until(() => only.comments.length > 0);
    // An hour of event time later the error has left the window and the process is gone.
    await ingestLine(exporter, line("process.state", "host", "exit", 5, T0 + 3), "test");
    await ingestLine(exporter, line("compute.util", "gpu-9", "1", null, T0 + 3_600_000), "test");
    exporter.graph.cleanup(Date.now() + 3_600_000);
    exporter.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
    await only.until(() => only.records.some((r) => r.data.scene === "gpu_oom"));
    assert.ok(only.records.every((r) => r.event === "scene"));
    assert.equal(only.records.find((r) => r.data.scene === "gpu_oom")!.data.active, false);
    await sse.cancel();
    await only.cancel();
    await exporter.stop();
  });
});

describe("event stream on a live server", () => {
  let server: RunningExporter;
  before(async () => {
    server = await startExporter([]);
  }, SLOW);
  after(async () => {
    await server.stop();
  });

  it("delivers pushed events of the asked types, in order, and lets go on disconnect", SLOW, async () => {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/api/v1/events/stream?type=error.hw,process.state`, { signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const sse = new SseReader(res.body!);
    await sse.until(() => sse.comments.length > 0); // connected
    assert.equal((await scrape(server.url)).get("xctl_sse_clients"), 1);

    const body = [
      line("compute.util", "gpu-0", "85", 7),
      line("process.state", "host", "start", 7),
      line("transport.drop", "mlx5_0", "3", 7),
      line("error.hw", "gpu-0", "XID_79"),
      line("error.net", "mlx5_0", "LINK_FLAP"),
      line("process.state", "host", "exit", 7, T0 + 1),
    ].join("\n");
    const push = await fetch(`${server.url}/api/v1/events`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
    assert.deepEqual(await push.json(), { accepted: 6, rejected: [], rejected_total: 0 });

    await sse.until(() => sse.events.length >= 3);
    assert.deepEqual(sse.events, [
      { ts: T0, event_type: "process.state", entity_id: "host", job_id: null, pid: 7, value: "start" },
      { ts: T0, event_type: "error.hw", entity_id: "gpu-0", job_id: null, pid: null, value: "XID_79" },
      { ts: T0 + 1, event_type: "process.state", entity_id: "host", job_id: null, pid: 7, value: "exit" },
    ]);

    abort.abort();
    await sse.cancel().catch(() => {});
    await eventually(async () => (await scrape(server.url)).get("xctl_sse_clients") === 0, 10_000, "the server to drop the client");
  });

  it("refuses an unknown event type with 400", async () => {
    const res = await fetch(`${server.url}/api/v1/events/stream?type=compute.util,gpu.melt`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'unknown event type "gpu.melt"' });
  });
});

describe("event stream limits", () => {
  it("cuts off a reader that stops reading, and counts it", async () => {
    const { exporter, open } = setup({ exporter: { sseBuffer: 4 } });
    const res = await open();
    const sse = new SseReader(res.body!);
    await sse.until(() => sse.comments.length > 0);
    assert.equal(exporter.hub.clients, 1);

    // The reader takes nothing more while ten events arrive: past four it is dropped.
    for (let i = 0; i < 10; i++) await ingestLine(exporter, line("compute.util", "gpu-0", String(i), 1), "test");
    assert.equal(exporter.hub.clients, 0);
    assert.equal(exporter.hub.dropped.get("slow"), 1);
    assert.match(await exporter.metrics.render(), /^xctl_sse_dropped_total\{reason="slow"\} 1$/m);

    // What it had not taken is gone and the stream ends, saying why.
    await sse.until(() => false);
    assert.equal(sse.done, true);
    assert.ok(sse.events.length <= 4, `got ${sse.events.length} events after being cut off`);
    assert.match(sse.comments.at(-1) ?? "", /^: cut off: this reader fell too far behind \(4 events /);
  });

  it("cuts off a reader that leaves scene changes unread: counted as slow, told why", async () => {
    const { hub, sse, emit } = await _sceneStream();
    // The reader takes nothing while 300 scene changes happen: past 256 it is cut off.
    for (let i = 0; i < 300; i++) emit({ scene: "gpu_oom", active: i % 2 === 0, wallMs: T0 + i, eventMs: T0 + i });
    await sse.until(() => false);
    assert.equal(sse.done, true);
    assert.equal(hub.clients, 0);
    assert.equal(hub.dropped.get("slow"), 1);
    assert.match(sse.comments.at(-1) ?? "", /^: cut off: /);
  });

  it("says a clear that a rule reload caused (the rule removed) apart from a recovery", async () => {
    const { hub, sse, emit } = await _sceneStream();
    emit({ scene: "gpu_oom", active: false, wallMs: T0, eventMs: T0 });
    emit({ scene: "site_xid", active: false, wallMs: T0, eventMs: T0, unloaded: true });
    try {
      await sse.until(() => sse.records.length === 2);
      assert.deepEqual(
        sse.records.map((r) => [r.data.scene, r.data.reason]),
        [
          ["gpu_oom", undefined],
          ["site_xid", "rule_removed"],
        ],
      );
    } finally {
      await sse.cancel();
    }
  });

  it("keeps up a reader that reads, whatever the volume", async () => {
    const { exporter, open } = setup({ exporter: { sseBuffer: 4 } });
    const sse = new SseReader((await open("?type=compute.util")).body!);
    await sse.until(() => sse.comments.length > 0);
    for (let i = 0; i < 50; i++) {
      await ingestLine(exporter, line("compute.util", "gpu-0", String(i), 1), "test");
      await ingestLine(exporter, line("compute.mem", "gpu-0", String(i), 1), "test"); // filtered out
      await sse.until(() => sse.events.length > i);
    }
    assert.deepEqual(sse.events.map((e) => e.value), Array.from({ length: 50 }, (_, i) => String(i)));
    assert.equal(exporter.hub.dropped.get("slow"), 0);
    await sse.cancel();
    assert.equal(exporter.hub.clients, 0);
  });

  it("answers 503 past the client cap, and counts it", async () => {
    const { exporter, open } = setup({ exporter: { maxSseClients: 1 } });
    const first = await open();
    assert.equal(first.status, 200);
    const second = await open();
    assert.equal(second.status, 503);
    assert.deepEqual(await second.json(), { error: "too many event-stream clients" });
    assert.equal(exporter.hub.dropped.get("too_many_clients"), 1);
    await first.body!.cancel();
    assert.equal(exporter.hub.clients, 0);
    const third = await open();
    assert.equal(third.status, 200);
    await third.body!.cancel();
  });

  it("sends heartbeat comments while idle, and ends at shutdown", async () => {
    const { exporter, open } = setup({ app: { sseHeartbeatMs: 20 } });
    const sse = new SseReader((await open()).body!);
    await sse.until(() => sse.comments.includes(": heartbeat"));
    exporter.hub.closeAll();
    await sse.until(() => false);
    assert.equal(sse.done, true);
    assert.equal(exporter.hub.clients, 0);
  });
});

/** A stream with no events of its own whose scene changes the test emits, once it has started. */
async function _sceneStream(): Promise<{ hub: EventHub; sse: SseReader; emit: (c: SceneChange) => void }> {
  const hub = new EventHub();
  const sub = hub.subscribe(null)!;
  let listener: (c: SceneChange) => void = () => {};
  const queries = { onSceneChange: (f: (c: SceneChange) => void) => ((listener = f), () => {}) } as unknown as Queries;
  const sse = new SseReader(sseBody(hub, sub, undefined, 60_000, queries));
  await sse.until(() => sse.comments.length > 0);
  return { hub, sse, emit: (c) => listener(c) };
}
