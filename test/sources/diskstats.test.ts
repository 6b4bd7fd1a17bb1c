// builtin:diskstats: the parser on the kernel's text, rounds on a fixture tree rewritten between
// them, the real /proc/diskstats of this machine, and what its readings do in the graph.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { DiskstatsSource } from "../../src/sources/diskstats/index.ts";
import { DEFAULT_IGNORE, parseDiskstats, type DiskLine } from "../../src/sources/diskstats/parse.ts";
import { queueDepth } from "../../src/sources/diskstats/tracker.ts";
import { harness, hostTree, testClock } from "./_host-kit.ts";

describe("diskstats parser", () => {
  it("reads the 20-field, 18-field and 14-field layouts and skips short and malformed lines", () => {
    const text = [
      " 259       0 nvme0n1 163219 2871 9730214 31588 588221 310045 24761970 512034 7 361260 559430 0 0 0 0 20817 15807",
      "   8       0 sda 4211 1002 301244 3110 900 1203 84012 7012 3 6104 10122 0 0 0 0",
      "   8      16 sdb 10 0 80 1 20 0 160 2 0 3 3",
      "   8      32 sdc 1 2 3 4 5 6 7 8 9 10",
      "   8      33 sdc1 70 560 12 96",
      "garbage",
      "   8      48 sdd x 0 0 0 0 0 0 0 0 0 0 0 0 0",
      "",
    ].join("\n");
    assert.deepEqual(parseDiskstats(text), [
      { major: 259, minor: 0, name: "nvme0n1", reads: 163219, writes: 588221, inFlight: 7, weightedMs: 559430 },
      { major: 8, minor: 0, name: "sda", reads: 4211, writes: 900, inFlight: 3, weightedMs: 10122 },
      { major: 8, minor: 16, name: "sdb", reads: 10, writes: 20, inFlight: 0, weightedMs: 3 },
    ]);
  });

  it("leaves out RAM disks, loop devices and partitions, as node_exporter does, and keeps dm and md", () => {
    for (const n of ["loop0", "ram1", "zram0", "sda1", "vdb12", "xvda1", "nvme0n1p1", "mmcblk0p2", "sdaa1", "fd0"]) assert.ok(DEFAULT_IGNORE.test(n), n);
    for (const n of ["sda", "vdb", "nvme0n1", "nvme10n2", "dm-0", "md127", "mmcblk0", "sr0", "nbd0"]) assert.ok(!DEFAULT_IGNORE.test(n), n);
  });
});

describe("diskstats queue depth", () => {
  const line = (inFlight: number, weightedMs: number): DiskLine => ({ major: 8, minor: 0, name: "sda", reads: 0, writes: 0, inFlight, weightedMs });
  it("is the average in flight over the round, across the 32-bit wrap of the weighted time", () => {
    assert.equal(queueDepth(line(0, 45_000), { weightedMs: 0 }, 900, 15_000), 3);
    assert.equal(queueDepth(line(5, 14_000), { weightedMs: 2 ** 32 - 1000 }, 900, 15_000), 1);
  });
  it("is the count in flight now when nothing completed in the round (a hung device adds no weighted time)", () => {
    assert.equal(queueDepth(line(32, 100), { weightedMs: 100 }, 0, 15_000), 32);
    assert.equal(queueDepth(line(1, 130), { weightedMs: 100 }, 40, 15_000), 0.002);
  });
});

describe("builtin:diskstats rounds", () => {
  it("emits IOPS and queue depth per disk from the second round, host-level, with no edge in the graph", async () => {
    const tree = hostTree();
    const h = harness("diskstats");
    const clock = testClock();
    try {
      const src = new DiskstatsSource({ procfs: tree.procfs, clock: clock.now });
      src.attach(h.ctx);
      await src.runOnce();
      assert.deepEqual(h.take(), [], "the first round only sets baselines");
      // 15 s later: nvme1n1 did 300 reads and 150 writes, 9 in flight on average over the round
      // (135 s of weighted time in 15 s) and 2 now; sda completed nothing and has 3 in flight
      // now (stuck: their time is added only when they complete); dm-0 did 30 writes, 15 ms
      // of I/O in all, and has one in flight at the instant it is read: its queue is empty.
      const text = readFileSync(`${tree.procfs}/diskstats`, "utf8")
        .replace("nvme1n1 841203 103 107612440 402718 2201 17 330512 1900 2 230718 404618 ", "nvme1n1 841503 103 107614840 402818 2351 17 331712 1990 2 244718 539618 ")
        .replace("sda 4211 1002 301244 3110 900 1203 84012 7012 0 ", "sda 4211 1002 301244 3110 900 1203 84012 7012 3 ")
        .replace("dm-0 1200 0 9600 540 300 0 2400 210 0 700 750 ", "dm-0 1200 0 9600 540 330 0 2640 230 1 715 765 ");
      tree.write("proc/diskstats", text);
      clock.advance(15_000);
      await src.runOnce();
      const got = h.take().map((e) => `${e.event_type} ${e.entity_id} ${e.value} pid=${e.pid ?? "-"}`);
      assert.deepEqual(got, [
        "storage.iops nvme0n1 0 pid=-",
        "storage.qdepth nvme0n1 0 pid=-",
        "storage.iops nvme1n1 30 pid=-",
        "storage.qdepth nvme1n1 9 pid=-",
        "storage.iops sda 0 pid=-",
        "storage.qdepth sda 3 pid=-",
        "storage.iops dm-0 2 pid=-",
        "storage.qdepth dm-0 0 pid=-",
      ]);
      const g = h.exporter.graph;
      assert.equal(g.resources.get("nvme1n1")?.meta.iops, "30");
      assert.equal(g.resources.get("nvme1n1")?.meta.qdepth, "9");
      assert.equal(g.processes.size, 0);
      assert.equal(g.edges.waits_on, 0, "readings below 1.0 without a pid make no waits_on");
      assert.ok(!g.resources.has("nvme0n1p1") && !g.resources.has("loop0") && !g.resources.has("zram0"));

      // A reset (counts went down) starts a new baseline: no negative rate, and the next round counts from it.
      tree.write("proc/diskstats", text.replace("nvme1n1 841503 103 107614840 402818 2351 ", "nvme1n1 10 0 80 1 5 "));
      clock.advance(15_000);
      await src.runOnce();
      assert.deepEqual(h.take().filter((e) => e.entity_id === "nvme1n1"), []);
      tree.write("proc/diskstats", text.replace("nvme1n1 841503 103 107614840 402818 2351 ", "nvme1n1 160 0 80 1 5 "));
      clock.advance(15_000);
      await src.runOnce();
      assert.deepEqual(h.take().filter((e) => e.event_type === "storage.iops" && e.entity_id === "nvme1n1").map((e) => e.value), ["10"]);

      // The file vanishing is said once, and nothing is emitted.
      tree.remove("proc/diskstats");
      clock.advance(15_000);
      await src.runOnce();
      await src.runOnce();
      assert.deepEqual(h.take(), []);
      assert.equal(h.logs.filter((l) => l.msg.includes("cannot read") && l.msg.includes("ENOENT")).length, 1);
    } finally {
      tree.close();
    }
  });

  it("reads this machine's /proc/diskstats for two rounds without a false event", { skip: !existsSync("/proc/diskstats") }, async () => {
    const h = harness("diskstats");
    const src = new DiskstatsSource({ procfs: "/proc", intervalMs: 1000 });
    src.attach(h.ctx);
    await src.runOnce();
    assert.deepEqual(h.take(), []);
    await new Promise((r) => setTimeout(r, 200));
    await src.runOnce();
    const evs = h.take();
    const disks = parseDiskstats(readFileSync("/proc/diskstats", "utf8")).filter((d) => !DEFAULT_IGNORE.test(d.name));
    assert.equal(evs.length, 2 * disks.length, "one IOPS and one queue depth per disk");
    for (const e of evs) {
      assert.ok(e.event_type === "storage.iops" || e.event_type === "storage.qdepth");
      assert.equal(e.pid, undefined);
      assert.ok(Number.isFinite(Number(e.value)) && Number(e.value) >= 0, String(e.value));
    }
    assert.equal(h.exporter.graph.edges.waits_on, 0);
    assert.equal(h.exporter.graph.processes.size, 0);
  });
});
