// The service's transition log in-process: a real exporter, the real logger library with a
// reporter that keeps the lines, the log's timer run fast.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsola, type LogObject } from "consola";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { Queries } from "../../src/query/queries.ts";
import { startServiceLog } from "../../src/cli/service-log.ts";
import { eventually } from "../_helpers.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, ts = T0, job_id: string | null = null): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

function kept() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const log = createConsola({
    level: 5,
    reporters: [{ log: (o: LogObject) => void lines.push({ level: o.type, msg: String(o.args[0]), fields: (o.args[1] ?? {}) as Record<string, unknown> }) }],
  });
  return { log, lines };
}

describe("service log", () => {
  it("logs a scene going active (pids, jobs, root cause) and clearing, once per transition", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const q = new Queries(ex, "test");
    const { log, lines } = kept();
    const svc = startServiceLog(q, log, { tickMs: 10 });
    try {
      await ingestLine(ex, line("process.state", "host", "start", 5, T0, "job-5"), "t");
      await ingestLine(ex, line("compute.mem", "gpu-0", "98", 5, T0 + 1), "t");
      await ingestLine(ex, line("error.hw", "gpu-0", "OOM", null, T0 + 2), "t");
      ex.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
      ex.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
      assert.deepEqual(lines.filter((l) => l.level === "debug").map((l) => l.msg).slice(0, 2), ["diagnosis run 1: active: gpu_oom", "diagnosis run 2: active: gpu_oom"]);
      await eventually(() => lines.some((l) => l.msg.startsWith("scene active: gpu_oom")), 5_000, "the scene line");
      const active = lines.filter((l) => l.msg.startsWith("scene active: gpu_oom"));
      assert.equal(active.length, 1, "a second run with the scene still active logs nothing");
      assert.equal(active[0].level, "warn");
      assert.match(active[0].msg, /\(OOM on gpu-0\)$/);
      assert.deepEqual([active[0].fields.pids, active[0].fields.jobs], [[5], ["job-5"]]);
      await ingestLine(ex, line("process.state", "host", "exit", 5, T0 + 3), "t");
      await ingestLine(ex, line("compute.util", "gpu-9", "1", null, T0 + 3_600_000), "t");
      ex.graph.cleanup(Date.now() + 3_600_000);
      ex.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
      assert.ok(lines.some((l) => l.level === "info" && l.msg === "scene cleared: gpu_oom"));
    } finally {
      svc.stop();
      await ex.stop();
    }
  });

  it("logs evictions at the node bound, one line per period", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, maxNodes: 100 });
    const q = new Queries(ex, "test");
    const { log, lines } = kept();
    const svc = startServiceLog(q, log, { tickMs: 10, evictionEveryMs: 30 });
    try {
      for (let pid = 1; pid <= 300; pid++) await ingestLine(ex, line("process.state", "host", "start", pid, T0 + pid), "t");
      assert.ok([...ex.graph.evictions.values()].some((n) => n > 0));
      const l = await eventually(() => lines.find((x) => x.msg.startsWith("graph full: ")), 5_000, "the eviction line");
      assert.equal(l.level, "warn");
      assert.match(l.msg, /^graph full: \d+ nodes evicted in the last \d+s to stay within --max-nodes$/);
      assert.equal(lines.filter((x) => x.msg.startsWith("graph full: ")).length, 1);
    } finally {
      svc.stop();
      await ex.stop();
    }
  });

  it("logs a graph that stays full once, then once per persist window with the count, and when it stops", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, maxNodes: 100 });
    const q = new Queries(ex, "test");
    const { log, lines } = kept();
    // The clock is the test's: the timer never fires (an hour), each tick is called by hand.
    const clock = { now: 1_800_000_000_000 };
    const svc = startServiceLog(q, log, { tickMs: 3_600_000, evictionEveryMs: 10_000, evictionPersistMs: 300_000, now: () => clock.now });
    const evicted = () => [...ex.graph.evictions.values()].reduce((a, b) => a + b, 0);
    try {
      let pid = 1;
      // Twenty minutes of a full graph fed new pids: evictions in every 10 s period.
      for (let period = 0; period < 120; period++) {
        for (let i = 0; i < 10; i++, pid++) await ingestLine(ex, line("process.state", "host", "start", pid, T0 + pid), "t");
        clock.now += 10_000;
        svc.tick();
      }
      const ours = () => lines.filter((x) => x.msg.startsWith("graph "));
      // Before: one line per period, 120 of them (8,640 a day).
      assert.equal(ours().filter((x) => x.msg.startsWith("graph full: ")).length, 1, JSON.stringify(ours()));
      const still = ours().filter((x) => x.msg.startsWith("graph still full: "));
      assert.equal(still.length, 3, JSON.stringify(ours()));
      assert.match(still[0].msg, /^graph still full: \d+ nodes evicted in the last 300s to stay within --max-nodes \(evicting since \S+Z\)$/);
      // Quiet for longer than the window: said once, with what the last lines did not count.
      for (let period = 0; period < 40; period++) {
        clock.now += 10_000;
        svc.tick();
      }
      const over = ours().filter((x) => x.msg.startsWith("graph no longer evicting: "));
      assert.equal(over.length, 1, JSON.stringify(ours()));
      assert.equal(over[0].level, "info");
      // Every eviction is told: the lines' counts add up to the graph's.
      const told = ours().reduce((n, x) => n + Number(x.fields.evicted ?? 0), 0);
      assert.equal(told, evicted());
      // A new episode is news again.
      for (let i = 0; i < 10; i++, pid++) await ingestLine(ex, line("process.state", "host", "start", pid, T0 + pid), "t");
      clock.now += 10_000;
      svc.tick();
      assert.equal(ours().filter((x) => x.msg.startsWith("graph full: ")).length, 2);
    } finally {
      svc.stop();
      await ex.stop();
    }
  });
});
