// builtin:demo: a fixed seed at high speed shows every edge kind, the error nodes and the
// incident signatures the default scenes look for, through a real exporter.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsola } from "consola";
import type { Exporter } from "../../src/exporter.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";
import { DEMO_GPUS, DEMO_NICS, DEMO_NVME, DEMO_STORAGE, DemoHost, INCIDENTS, type DemoEvent } from "../../src/sources/demo-host.ts";
import { DemoSource } from "../../src/sources/demo.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { eventually, sleep } from "../_helpers.ts";
import { testExporter } from "./_probe-kit.ts";

/** The exporter's own path for built-in events, with a look at the graph after each one. */
function watchedContext(ex: Exporter, after: (ev: DemoEvent) => void): SourceContext {
  const input = ex.ingest.feed("demo");
  return {
    push: (chunk) => void input.push(chunk),
    end: () => void input.end(),
    processes: () => [],
    emit: (ev) => {
      assert.equal(ex.ingest.object(ev, "demo"), undefined, JSON.stringify(ev));
      after(ev as unknown as DemoEvent);
    },
    setUp() {},
    restarted() {},
    log: createConsola({ level: -999 }),
  };
}

describe("DemoSource", () => {
  it("shows every edge kind, error nodes and each incident within a simulated minute", () => {
    const { ex } = testExporter();
    const g = ex.graph;
    const maxEdges = { consumes: 0, waits_on: 0, blocked_by: 0 };
    const errorTypes = new Set<string>();
    const seen = new Set<string>();
    const demo = new DemoSource({ seed: 42, manual: true, rate: 100 });
    const waitedOn = (entity: string) => (g.resources.get(entity)?.waiters.size ?? 0) > 0;
    demo.start(
      watchedContext(ex, (ev) => {
        for (const k of ["consumes", "waits_on", "blocked_by"] as const) maxEdges[k] = Math.max(maxEdges[k], g.edges[k]);
        const v = ev.value;
        const n = Number(v);
        if (ev.event_type.startsWith("error.") || ev.event_type === "topo.link_down") {
          errorTypes.add(g.errors.get(ev.entity_id)!.errorType);
        }
        if (ev.event_type === "error.hw" && /^XID_\d+$/.test(v) && DEMO_GPUS.includes(ev.entity_id)) seen.add("xid");
        if (ev.event_type === "error.hw" && v === "OOM" && Number(g.resources.get(ev.entity_id)?.meta.mem) >= 95) seen.add("oom");
        if (ev.event_type === "topo.link_down" && DEMO_NICS.includes(ev.entity_id)) seen.add("link_down");
        if (ev.event_type === "transport.drop" && n >= 10 && ev.pid !== null) seen.add("drop_storm");
        if (ev.event_type === "error.net" && /PFC/.test(v) && waitedOn(ev.entity_id)) seen.add("pfc_storm");
        if (ev.event_type === "error.hw" && ev.entity_id === DEMO_STORAGE && v === "io_error" && waitedOn(DEMO_STORAGE)) seen.add("io_error");
        if (ev.event_type === "compute.util" && n < 10 && ev.pid !== null && g.processes.get(ev.pid)?.state === "running") seen.add("util_stall");
        if (ev.event_type === "storage.iops" && ev.pid !== null && ev.entity_id === DEMO_NVME && n < 1) {
          if (/checkpoint/.test(g.processes.get(ev.pid)!.state)) seen.add("checkpoint_stall");
        }
        if (ev.event_type === "process.state" && v === "exit" && (g.processes.get(ev.pid!)?.blockedBy.length ?? 0) > 0) seen.add("crash_while_blocked");
      }),
    );
    demo.advance(60_000);

    assert.ok(maxEdges.consumes > 0 && maxEdges.waits_on > 0 && maxEdges.blocked_by > 0, JSON.stringify(maxEdges));
    assert.deepEqual([...seen].sort(), [...INCIDENTS, "crash_while_blocked"].sort());
    for (const t of ["OOM", "down", "PFC storm", "io_error"]) assert.ok(errorTypes.has(t), `${t} in ${[...errorTypes]}`);
    assert.ok([...errorTypes].some((t) => t.startsWith("XID_")));
    assert.ok(g.errors.size >= 4, `error nodes: ${[...g.errors.keys()]}`);
    for (const [i, n] of demo.host!.dealt) assert.ok(n >= 1, `${i} dealt ${n} times`);
    // Every event type shows, and nothing the demo says is ever rejected.
    for (let i = 0; i < EVENT_TYPES.length; i++) assert.ok(ex.ingest.counters.byType[i] > 0, EVENT_TYPES[i]);
    assert.equal(ex.ingest.rejected(), 0);
    // 100 telemetry events a simulated second, plus lifecycle and incident events.
    assert.ok(ex.ingest.accepted >= 6000 && ex.ingest.accepted < 6500, String(ex.ingest.accepted));
  });

  it("left running, wraps its pids at pid_max like the kernel, never onto a live one", () => {
    // A small pid_max stands for months at a high speed: several wraps in a few simulated hours.
    const pidMax = 9000;
    const live = new Map<number, string>();
    let starts = 0;
    let wraps = 0;
    let last = 0;
    const host = new DemoHost({ startTs: 1_800_000_000_000, rate: 1, seed: 7, pidMax }, (ev) => {
      if (ev.pid === null || ev.event_type !== "process.state") return;
      if (ev.value === "start") {
        starts++;
        assert.ok(ev.pid >= 300 && ev.pid <= pidMax, `pid ${ev.pid} outside 300..${pidMax}`);
        assert.equal(live.get(ev.pid), undefined, `pid ${ev.pid} started while ${live.get(ev.pid)} still holds it`);
        live.set(ev.pid, ev.job_id!);
        if (ev.pid < last) wraps++;
        last = ev.pid;
      } else if (ev.value === "exit" || ev.value === "oom_killed" || ev.value === "killed") live.delete(ev.pid);
    });
    for (let i = 0; i < 6 * 3600; i++) host.tick(1000);
    assert.ok(wraps >= 3, `${wraps} wraps in ${starts} starts`);
  });

  it("repeats itself exactly for a given seed, and differs for another", () => {
    const run = (seed: number) => {
      const out: string[] = [];
      const d = new DemoSource({ seed, manual: true, rate: 50 });
      const { ex } = testExporter();
      d.start(watchedContext(ex, (ev) => out.push(JSON.stringify({ ...ev, ts: 0 }))));
      d.advance(20_000);
      return out;
    };
    const a = run(7);
    assert.deepEqual(run(7), a);
    assert.notDeepEqual(run(8), a);
  });

  it("runs on timers through the exporter at high speed and stops when told", async () => {
    const { ex } = testExporter();
    const demo = new DemoSource({ seed: 3, speed: 300, rate: 50 });
    ex.addSource(demo);
    ex.start();
    try {
      assert.equal(ex.probes.get("demo")!.up, true);
      await eventually(() => demo.simElapsedMs >= 60_000, 8000, "a simulated minute");
    } finally {
      await ex.stop();
    }
    assert.equal(ex.probes.get("demo")!.up, false);
    for (let i = 0; i < EVENT_TYPES.length; i++) assert.ok(ex.ingest.counters.byType[i] > 0, EVENT_TYPES[i]);
    assert.equal(ex.ingest.accepted, demo.emitted);
    const page = await ex.metrics.registry.metrics();
    assert.match(page, /^xctl_probe_last_event_timestamp_seconds\{probe="demo"\} [1-9]/m);
    const after = demo.emitted;
    await sleep(50);
    assert.equal(demo.emitted, after, "no events after stop()");
  });
});
