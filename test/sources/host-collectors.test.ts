// What the three host collectors share: their `builtin:` specs and options, and the poll loop
// (rounds on the interval, never two at once, stopped within a second).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { UsageError } from "../../src/errors.ts";
import { DiskstatsSource } from "../../src/sources/diskstats/index.ts";
import { createProbe, createProbes } from "../../src/sources/index.ts";
import { InfinibandSource } from "../../src/sources/infiniband/index.ts";
import { PollingSource } from "../../src/sources/poller.ts";
import { ProcfsSource } from "../../src/sources/procfs/index.ts";
import { harness } from "./_host-kit.ts";

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);
const HOST = { procfs: "/host/proc", sysfs: "/host/sys" };

describe("host collector specs", () => {
  it("makes each collector with its defaults, reading under the host paths given", () => {
    const p = createProbe("builtin:procfs", undefined, HOST) as ProcfsSource;
    assert.ok(p instanceof ProcfsSource);
    assert.deepEqual([p.name, p.intervalMs, p.dWaitMs, p.host], ["procfs", 15_000, 30_000, HOST]);
    const i = createProbe("builtin:infiniband", undefined, HOST) as InfinibandSource;
    assert.deepEqual([i.name, i.intervalMs, i.congestionPerSec, i.sysfs, i.opts.procfs], ["infiniband", 15_000, 1000, "/host/sys", "/host/proc"]);
    const d = createProbe("builtin:diskstats", undefined, HOST) as DiskstatsSource;
    assert.deepEqual([d.name, d.intervalMs, d.path], ["diskstats", 15_000, "/host/proc/diskstats"]);
  });

  it("takes ?interval=, each collector's own knobs, and ?procfs=/?sysfs= for that collector alone", () => {
    const p = createProbe("builtin:procfs?interval=5s&dwait=1m&procfs=/fx/proc", undefined, HOST) as ProcfsSource;
    assert.deepEqual([p.intervalMs, p.dWaitMs, p.host], [5000, 60_000, { procfs: "/fx/proc", sysfs: "/host/sys" }]);
    const i = createProbe("builtin:infiniband?congestion=250&interval=500ms&sysfs=/fx/sys") as InfinibandSource;
    assert.deepEqual([i.intervalMs, i.congestionPerSec, i.sysfs, i.opts.procfs], [500, 250, "/fx/sys", "/proc"]);
    const names = createProbes(["builtin:diskstats", "builtin:diskstats?procfs=/other/proc"]).map((s) => s.name);
    assert.deepEqual(names, ["diskstats", "diskstats-2"]);
  });

  it("refuses a bad option with a usage error naming the spec, the option and the value", () => {
    assert.throws(() => createProbe("builtin:procfs?dwait=soon"), usage(/^--probe builtin:procfs\?dwait=soon: dwait must be a duration .*got "soon"/));
    assert.throws(() => createProbe("builtin:procfs?interval=10ms"), usage(/interval must be a duration from 100ms to 24h/));
    assert.throws(() => createProbe("builtin:diskstats?interval=15"), usage(/interval must be a duration/));
    assert.throws(() => createProbe("builtin:infiniband?congestion=-1"), usage(/congestion must be a positive number, got "-1"/));
    assert.throws(() => createProbe("builtin:infiniband?colour=red"), usage(/unknown option "colour" \(known: interval, congestion, procfs, sysfs\)/));
    assert.throws(() => createProbe("builtin:diskstats?procfs="), usage(/procfs must be one directory/));
    assert.throws(() => createProbe("builtin:diskstats?procfs=/a&procfs=/b"), usage(/procfs must be one directory/));
  });
});

describe("host collector poll loop", () => {
  it("runs a round at start and then every interval, never two at once, and stops without waiting for a hung round", async () => {
    const h = harness("poll");
    let inFlight = 0;
    let most = 0;
    let rounds = 0;
    let release: () => void = () => {};
    const src = new PollingSource("poll", 100, async (ctx) => {
      inFlight++;
      most = Math.max(most, inFlight);
      rounds++;
      // The third round hangs until stop: a round slower than the interval.
      if (rounds === 3) await new Promise<void>((r) => (release = r));
      ctx.emit({ event_type: "storage.iops", entity_id: `round-${rounds}`, value: "1" });
      inFlight--;
    });
    src.start(h.ctx);
    const deadline = Date.now() + 5000;
    while (rounds < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(rounds, 3);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(rounds, 3, "no round starts while one is in flight");
    assert.equal(most, 1);
    // stop gives up on the hung round after its second (a timer): it resolves with the round
    // still in flight. Raced against a far bound so a stop that waits for the round fails here
    // instead of hanging; no tighter wall-clock bound, which a loaded machine would break.
    const stopped = await Promise.race([src.stop().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 20_000))]);
    assert.ok(stopped, "stop returns without waiting for the hung round");
    assert.equal(inFlight, 1, "the round was still hung when stop returned");
    release();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(rounds, 3, "no round after stop");
    assert.deepEqual(h.events.map((e) => e.entity_id), ["round-1", "round-2"], "the round stop gave up on emits nothing");
  });

  it("logs a round that throws and carries on", async () => {
    const h = harness("poll");
    let n = 0;
    const src = new PollingSource("poll", 1000, async () => {
      if (++n === 1) throw new Error("disk on fire");
    });
    src.attach(h.ctx);
    await src.runOnce();
    await src.runOnce();
    assert.equal(src.rounds, 1);
    assert.ok(h.logs.some((l) => l.type === "warn" && l.msg.includes("round failed: disk on fire")));
  });
});

describe("xctl_collector_reads_denied_total", () => {
  it("counts each collector's refusals per kind in one family, logging each kind once", async () => {
    const h = harness("procfs");
    const registry = new Registry();
    const procfs = new ProcfsSource({ host: HOST });
    const ib = new InfinibandSource({ ...HOST, name: "infiniband" });
    procfs.registerMetrics(registry);
    ib.registerMetrics(registry);
    for (let i = 0; i < 3; i++) procfs.denied.note(h.ctx, "environ", `/proc/${i}/environ`);
    ib.denied.note(h.ctx, "fd", "/proc/1/fd");
    let page = await registry.metrics();
    assert.match(page, /^xctl_collector_reads_denied_total\{probe="procfs",kind="environ"\} 3$/m);
    assert.match(page, /^xctl_collector_reads_denied_total\{probe="infiniband",kind="fd"\} 1$/m);
    assert.equal(page.match(/# TYPE xctl_collector_reads_denied_total counter/g)?.length, 1);
    procfs.denied.note(h.ctx, "environ", "/proc/9/environ");
    page = await registry.metrics();
    assert.match(page, /^xctl_collector_reads_denied_total\{probe="procfs",kind="environ"\} 4$/m);
    assert.equal(h.logs.filter((l) => l.msg.includes("permission denied")).length, 2, "once per collector and kind");
  });
});
