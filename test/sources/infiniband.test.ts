// builtin:infiniband: the sysfs parsers on strings, rounds on the fixture's class/infiniband
// tree (IB and RoCE ports) rewritten between them through a real graph and diagnosis, and this
// machine's /sys.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { whyView } from "../../src/query/why.ts";
import { InfinibandSource } from "../../src/sources/infiniband/index.ts";
import { parseCounter, parsePortState, uverbsOf } from "../../src/sources/infiniband/parse.ts";
import { join } from "node:path";
import { ROOT } from "../_helpers.ts";
import { narrowUsers, parseRdmaPds } from "../../src/sources/infiniband/rdma-pds.ts";
import { copyTree, harness, hostTree, testClock, type Harness, type HostTree } from "./_host-kit.ts";

describe("infiniband parsers", () => {
  it("reads port states, counters (past 2^53) and verbs device paths", () => {
    assert.deepEqual(parsePortState("4: ACTIVE\n"), { code: 4, name: "ACTIVE" });
    assert.deepEqual(parsePortState("5: LinkUp\n"), { code: 5, name: "LinkUp" });
    assert.deepEqual(parsePortState("4: PortConfigurationTraining\n"), { code: 4, name: "PortConfigurationTraining" });
    assert.equal(parsePortState("ACTIVE"), null);
    assert.equal(parseCounter("18446744073709551615\n"), 18446744073709551615n);
    assert.equal(parseCounter("0\n"), 0n);
    assert.equal(parseCounter("N/A\n"), null);
    assert.equal(parseCounter(""), null);
    assert.equal(uverbsOf("/dev/infiniband/uverbs12"), "uverbs12");
    assert.equal(uverbsOf("/dev/infiniband/rdma_cm"), null);
    assert.equal(uverbsOf("/dev/infiniband/uverbs1 (deleted)"), null);
  });
});

const P = (dev: string, port = 1) => `sys/class/infiniband/${dev}/ports/${port}`;

interface Rig {
  tree: HostTree;
  h: Harness;
  /** One round, `ms` after the last (15 s, the default interval). */
  round(ms?: number): Promise<string[]>;
  /** Adds `by` to a counter file (`counters/symbol_error`, `hw_counters/np_cnp_sent`). */
  bump(dev: string, file: string, by: bigint, port?: number): void;
  set(dev: string, file: string, text: string, port?: number): void;
}

/** `pds`: the protection domains the stand-in rdma tool (test/fixtures/rdma) reports; absent: the tool is not run. */
async function rig(fn: (r: Rig) => Promise<void>, pds?: { ifname: string; pid: number; comm: string }[]): Promise<void> {
  const tree = hostTree();
  const h = harness("infiniband");
  const clock = testClock();
  let rdma: { rdma: string | null; env?: Record<string, string> } = { rdma: null };
  if (pds !== undefined) {
    // As iproute2 6.x prints `rdma -j res show pd`: the kernel's own PDs with their module's name, no pid.
    const rows = pds.map((d, i) => (d.pid === 0 ? { ifindex: 0, ifname: d.ifname, local_dma_lkey: "0x1000", users: 4, comm: d.comm, pdn: i } : { ifindex: 0, ifname: d.ifname, users: 3, pid: d.pid, comm: d.comm, ctxn: i, pdn: i }));
    tree.write("pds.json", JSON.stringify(rows));
    rdma = { rdma: join(ROOT, "test/fixtures/rdma"), env: { PATH: process.env.PATH ?? "", FAKE_RDMA_PDS: join(tree.dir, "pds.json") } };
  }
  const src = new InfinibandSource({ procfs: tree.procfs, sysfs: tree.sysfs, clock: clock.now, ...rdma });
  src.attach(h.ctx);
  let first = true;
  const r: Rig = {
    tree,
    h,
    round: async (ms = 15_000) => {
      if (!first) clock.advance(ms);
      first = false;
      await src.runOnce();
      h.exporter.graph.cleanup(Date.now());
      return h.take().map((e) => `${e.event_type} ${e.entity_id}${e.pid === undefined ? "" : ` pid=${e.pid}`} ${e.value}`);
    },
    bump: (dev, file, by, port = 1) => {
      const path = `${tree.dir}/${P(dev, port)}/${file}`;
      tree.write(`${P(dev, port)}/${file}`, `${BigInt(readFileSync(path, "utf8").trim()) + by}\n`);
    },
    set: (dev, file, text, port = 1) => tree.write(`${P(dev, port)}/${file}`, text),
  };
  try {
    await fn(r);
  } finally {
    tree.close();
  }
}

const start = (pid: number, job: string) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: job, value: "start" });
const GB_WORDS = 250_000_000n; // 10^9 bytes in 4-byte words

describe("protection domains per process (rdma -j res show pd)", () => {
  it("reads the devices each process has allocated on, leaving out the kernel's, and narrows the holders of a device to them", () => {
    const text = `[{"ifindex":2,"ifname":"mlx5_0","local_dma_lkey":"0x1000","users":6,"comm":"[ib_ipoib]","pdn":1},{"ifindex":2,"ifname":"mlx5_0","users":5,"pid":4242,"comm":"python3","ctxn":3,"pdn":9},{"ifindex":3,"ifname":"mlx5_1","users":2,"pid":4444,"comm":"python3","ctxn":1,"pdn":4}]`;
    const pds = parseRdmaPds(text)!;
    assert.deepEqual([...pds].map(([pid, devs]) => [pid, [...devs]]), [[4242, ["mlx5_0"]], [4444, ["mlx5_1"]]]);
    assert.deepEqual(parseRdmaPds(`[{"ifname":"mlx5_0","users":1,"pid":7,"comm":"a"}]\n[{"ifname":"mlx5_2","users":1,"pid":7,"comm":"a"}]\n`)?.get(7), new Set(["mlx5_0", "mlx5_2"]));
    assert.equal(parseRdmaPds("Failed to open NETLINK_RDMA socket"), null);
    const using = new Map([["mlx5_0", [4242, 4444, 4646]], ["mlx5_1", [4444]]]);
    assert.deepEqual([...narrowUsers(using, pds)], [["mlx5_0", [4242, 4646]], ["mlx5_1", [4444]]]);
    assert.deepEqual([...narrowUsers(using, null)], [...using], "not known: every holder");
  });
});

describe("builtin:infiniband rounds", () => {
  it("turns error and congestion counter deltas into drops and ECN/CNP errors, and a job using the NIC waits on it", async () => {
    await rig(async ({ h, round, bump }) => {
      // 4242 holds uverbs0 (mlx5_0, InfiniBand), 4343 uverbs2 (mlx5_2, RoCE), 4545 uverbs4 (mlx4_0).
      h.feed(start(4242, "7001"), start(4343, "pod-a"), start(4545, "7003"));
      assert.deepEqual(await round(), [], "the first round sets baselines only");
      bump("mlx5_0", "counters/symbol_error", 3n);
      bump("mlx5_0", "counters/port_rcv_errors", 2n);
      bump("mlx5_0", "hw_counters/out_of_sequence", 5n);
      bump("mlx5_0", "counters/port_xmit_data", 15n * GB_WORDS);
      bump("mlx5_0", "counters/port_rcv_data", 15n * GB_WORDS);
      bump("mlx5_2", "hw_counters/np_cnp_sent", 20_000n);
      bump("mlx5_2", "hw_counters/rp_cnp_handled", 10_000n);
      bump("mlx5_2", "hw_counters/np_ecn_marked_roce_packets", 3_000n);
      bump("mlx5_1", "counters/port_xmit_data", 1_875_000n); // 0.0005 GB/s, written 0.001: a low reading, no pid
      assert.deepEqual(await round(), [
        "transport.bw mlx4_0 0",
        "transport.drop mlx5_0 pid=4242 10",
        "transport.bw mlx5_0 2",
        "transport.bw mlx5_1 0.001",
        "error.net mlx5_2 ECN/CNP congestion: np_cnp_sent +20000, rp_cnp_handled +10000, np_ecn_marked_roce_packets +3000 in 15s",
        "transport.bw mlx5_2 0",
        "transport.bw mlx5_3 0",
      ]);
      const g = h.exporter.graph;
      assert.equal(g.edges.waits_on, 1, "only the pid-bearing drop makes an edge; host-level bandwidth makes none");
      assert.deepEqual(whyView(g, 4242)!.waits_on.map((w) => [w.resource, w.meta.drop]), [["mlx5_0", "10"]]);
      assert.equal(g.errors.get("mlx5_2")?.errorType.includes("ECN/CNP"), true);

      // Drops on the RoCE NIC too: roce_congestion (ECN/CNP error + a process waiting on mlx5_*) matches.
      bump("mlx5_2", "hw_counters/packet_seq_err", 4n);
      bump("mlx5_2", "hw_counters/np_cnp_sent", 30_000n);
      assert.deepEqual((await round()).filter((l) => !l.startsWith("transport.bw")), [
        "transport.drop mlx5_2 pid=4343 4",
        "error.net mlx5_2 ECN/CNP congestion: np_cnp_sent +30000 in 15s",
      ]);
      const run = h.exporter.engine.runNow();
      assert.ok(run.matches.some((m) => m.scene === "roce_congestion"), JSON.stringify(run.matches));
      assert.ok(run.matches.some((m) => m.scene === "network_stall"), "10 drops in one reading: network_stall too");

      // Congestion under the threshold (1000/s): no error.
      bump("mlx5_2", "hw_counters/np_cnp_sent", 14_000n);
      assert.deepEqual((await round()).filter((l) => l.startsWith("error.net")), []);

      // A short interval (?interval=500ms) says how short, not "in 0s" or "in 1s".
      bump("mlx5_2", "hw_counters/np_cnp_sent", 2_000n);
      assert.deepEqual((await round(500)).filter((l) => l.startsWith("error.net")), [
        "error.net mlx5_2 ECN/CNP congestion: np_cnp_sent +2000 in 0.5s",
      ]);
    });
  });

  it("says a port left ACTIVE every round while it is down, makes its users wait on the device, and stops when it is back", async () => {
    await rig(async ({ h, round, bump, set }) => {
      h.feed(start(4242, "7001"));
      await round();
      set("mlx5_0", "state", "1: DOWN\n");
      set("mlx5_0", "phys_state", "3: Disabled\n");
      bump("mlx5_0", "counters/link_downed", 1n);
      const down = (await round()).filter((l) => !l.startsWith("transport.bw mlx") || l.includes("pid="));
      assert.deepEqual(down, [
        "transport.drop mlx5_0 pid=4242 1",
        "transport.bw mlx5_0 pid=4242 IO_WAIT LINK_DOWN port=1",
        "topo.link_down mlx5_0 LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand",
      ]);
      const why = whyView(h.exporter.graph, 4242)!;
      // What `why` shows: the device it waits on, with the link down as its last bandwidth reading.
      assert.deepEqual(why.waits_on.map((w) => [w.resource, w.meta.bw, w.meta.drop]), [["mlx5_0", "IO_WAIT LINK_DOWN port=1", "1"]]);
      assert.ok(h.exporter.graph.errors.has("mlx5_0"));
      assert.equal(h.logs.filter((l) => l.msg.includes("mlx5_0 port 1 left ACTIVE")).length, 1);
      // Physical link up again but the port still INIT (no subnet manager yet): still down.
      set("mlx5_0", "phys_state", "5: LinkUp\n");
      set("mlx5_0", "state", "2: INIT\n");
      assert.deepEqual((await round()).filter((l) => l.startsWith("topo.")), ["topo.link_down mlx5_0 LINK_DOWN port=1 state=INIT phys_state=LinkUp link_layer=InfiniBand"]);
      set("mlx5_0", "state", "4: ACTIVE\n");
      const up = await round();
      assert.deepEqual(up.filter((l) => !l.startsWith("transport.bw")), [], "recovery: no more link_down");
      assert.ok(up.includes("transport.bw mlx5_0 0"));
      // Its user is told its wait on the link is over: it waits on the NIC no more.
      assert.ok(up.includes("transport.bw mlx5_0 pid=4242 LINK_UP port=1"), up.join("\n"));
      assert.deepEqual(whyView(h.exporter.graph, 4242)!.waits_on, []);
      assert.equal(h.logs.filter((l) => l.msg.includes("mlx5_0 port 1 is ACTIVE again")).length, 1);
    });
  });

  it("a port down concerns the holders of its device that allocated on it, not another job's ranks that hold every NIC open (NCCL) and talk through their own", async () => {
    await rig(
      async ({ h, round, set, tree }) => {
        // 4242 (job 7001) and 4444 (job 7002) both hold mlx5_0 open, as NCCL opens every NIC; 4444
        // holds mlx5_1 too, the NIC it talks through (its protection domain is there). 4646 holds
        // mlx5_0 and has allocated nothing yet (not connected): nothing says it does not use it.
        tree.link("proc/4444/fd/31", "/dev/infiniband/uverbs0");
        tree.link("proc/4444/fd/32", "/dev/infiniband/uverbs1");
        tree.write("proc/4646/stat", "4646 (python3) S 1 4646 4646 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
        tree.link("proc/4646/fd/40", "/dev/infiniband/uverbs0");
        h.feed(start(4242, "7001"), start(4444, "7002"), start(4646, "7003"));
        await round();
        set("mlx5_0", "state", "1: DOWN\n");
        set("mlx5_0", "phys_state", "3: Disabled\n");
        const down = (await round()).filter((l) => l.includes("LINK_DOWN"));
        assert.deepEqual(down, [
          "transport.bw mlx5_0 pid=4242 IO_WAIT LINK_DOWN port=1",
          "transport.bw mlx5_0 pid=4646 IO_WAIT LINK_DOWN port=1",
          "topo.link_down mlx5_0 LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand",
        ]);
        assert.deepEqual(whyView(h.exporter.graph, 4444)!.root_causes, [], "it allocated on mlx5_1 only");
        assert.deepEqual(whyView(h.exporter.graph, 4242)!.root_causes.map((c) => c.entity), ["mlx5_0"]);
      },
      [
        { ifname: "mlx5_0", pid: 4242, comm: "python3" },
        { ifname: "mlx5_1", pid: 4444, comm: "python3" },
        { ifname: "mlx5_0", pid: 0, comm: "[ib_ipoib]" },
      ],
    );
  });

  it("a port already down when first read (the exporter restarted, the host rebooted with a dead link) is a fault once a process uses its device", async () => {
    await rig(async ({ h, round, set }) => {
      set("mlx5_0", "state", "1: DOWN\n");
      set("mlx5_0", "phys_state", "2: Polling\n");
      // 4242 holds mlx5_0 (one port, down); 4545 holds mlx4_0, whose port 1 is up and port 2
      // unused; mlx5_3 is down and nobody's.
      h.feed(start(4242, "7001"), start(4545, "7003"));
      assert.deepEqual((await round()).filter((l) => !l.startsWith("transport.bw mlx") || l.includes("pid=")), [
        "transport.bw mlx5_0 pid=4242 IO_WAIT LINK_DOWN port=1",
        "topo.link_down mlx5_0 LINK_DOWN port=1 state=DOWN phys_state=Polling link_layer=InfiniBand",
      ]);
      assert.equal(h.logs.filter((l) => l.type === "warn" && l.msg.includes("mlx5_0 port 1")).length, 1);
      const run = h.exporter.engine.runNow();
      assert.ok(run.matches.some((m) => m.scene === "nic_link_down" && m.affected_pids.includes(4242)), JSON.stringify(run.matches.map((m) => m.scene)));
      // Every round while it lasts, as for a port seen going down.
      assert.ok((await round()).includes("topo.link_down mlx5_0 LINK_DOWN port=1 state=DOWN phys_state=Polling link_layer=InfiniBand"));
    });
  });

  it("handles a counter going down, missing files, unused ports, devices removed and added, and ended users", async () => {
    await rig(async ({ tree, h, round, bump, set }) => {
      h.feed(start(4242, "7001"), start(4545, "7003"));
      await round();
      // A reset: no drop, no bandwidth for that device this round; the next round counts from there.
      set("mlx5_0", "hw_counters/out_of_sequence", "0\n");
      bump("mlx5_0", "hw_counters/out_of_sequence", 0n);
      tree.write(`${P("mlx5_0")}/counters/port_xmit_data`, "12\n");
      tree.write(`${P("mlx5_0")}/counters/port_rcv_data`, "12\n");
      tree.write(`${P("mlx5_0")}/counters/port_xmit_discards`, "0\n");
      // A file that vanished (driver without it) and a state file gone: no conclusion, no crash.
      tree.remove(`${P("mlx4_0")}/counters/symbol_error`);
      tree.remove(`${P("mlx4_0", 2)}/state`);
      let out = await round();
      assert.ok(!out.some((l) => l.includes("mlx5_0")), out.join("\n"));
      bump("mlx5_0", "counters/port_xmit_discards", 7n);
      out = await round();
      assert.ok(out.includes("transport.drop mlx5_0 pid=4242 7"), out.join("\n"));

      // 4545 ended; mlx4_0 (which it used) drops: no event for the ended pid, one without pid.
      h.feed({ event_type: "process.state", entity_id: "pid-4545", pid: 4545, value: "exit" });
      bump("mlx4_0", "counters/port_rcv_errors", 2n);
      out = await round();
      assert.ok(out.includes("transport.drop mlx4_0 2"), out.join("\n"));
      assert.ok(!out.some((l) => l.includes("pid=4545")));

      // Hot-plug: mlx5_1 (ACTIVE, unused) and mlx5_2 (ACTIVE, 4343 on it) removed, mlx5_4 added.
      h.feed(start(4343, "pod-a"));
      await round();
      copyTree(`${tree.dir}/sys/class/infiniband/mlx5_2`, `${tree.dir}/sys/class/infiniband/mlx5_4`);
      for (const n of [1, 2]) {
        tree.remove(`sys/class/infiniband/mlx5_${n}`);
        tree.remove(`sys/class/infiniband_verbs/uverbs${n}`);
      }
      out = await round();
      assert.ok(out.includes("topo.link_down mlx5_1 LINK_DOWN port=1 device removed"), out.join("\n"));
      assert.ok(out.includes("topo.link_down mlx5_2 LINK_DOWN port=1 device removed"), out.join("\n"));
      assert.ok(out.includes("transport.bw mlx5_2 pid=4343 IO_WAIT LINK_DOWN port=1"), "its user, still holding the fd, waits on it");
      assert.deepEqual(whyView(h.exporter.graph, 4343)!.waits_on.map((w) => w.resource), ["mlx5_2"]);
      assert.ok(!out.some((l) => l.includes("mlx5_4")), "a new device's first round is its baseline");
      bump("mlx5_4", "hw_counters/rnr_nak_retry_err", 1n);
      out = await round();
      assert.ok(out.includes("transport.drop mlx5_4 1"), out.join("\n"));
      assert.ok(!out.some((l) => l.includes("mlx5_1") || l.includes("mlx5_2")), "a removed device is said once");
      // Ports down from the start (mlx5_3, mlx4_0 port 2) were never a fault.
      const all = h.events.filter((e) => e.event_type === "topo.link_down").map((e) => e.entity_id);
      assert.deepEqual(all, ["mlx5_1", "mlx5_2"]);
      assert.ok(h.logs.some((l) => l.msg.includes("mlx5_1 is gone")));
      assert.deepEqual(h.logs.filter((l) => l.msg.includes("appeared")).map((l) => l.msg), ["mlx5_4 appeared"], "the devices of the first round are no news");
    });
  });

  it("finds a process that opens a verbs device after its first scan at its next rescan (60 s)", async () => {
    await rig(async ({ tree, h, round, bump }) => {
      tree.remove("proc/4343/fd/3");
      h.feed(start(4343, "pod-a"));
      await round();
      tree.link("proc/4343/fd/9", "/dev/infiniband/uverbs2");
      const drops: string[] = [];
      for (let i = 0; i < 5; i++) {
        bump("mlx5_2", "hw_counters/local_ack_timeout_err", 1n);
        drops.push(...(await round()).filter((l) => l.startsWith("transport.drop")));
      }
      // Rounds at 15, 30, 45 s: no user known yet; at 60 s the rescan sees the new fd.
      assert.deepEqual(drops, ["transport.drop mlx5_2 1", "transport.drop mlx5_2 1", "transport.drop mlx5_2 1", "transport.drop mlx5_2 pid=4343 1", "transport.drop mlx5_2 pid=4343 1"]);
    });
  });

  it("reads this machine's /sys and /proc for two rounds without a false event", async () => {
    const h = harness("infiniband");
    h.feed(start(process.pid, "self"));
    const src = new InfinibandSource({ procfs: "/proc", sysfs: "/sys", intervalMs: 1000 });
    src.attach(h.ctx);
    await src.runOnce();
    await new Promise((r) => setTimeout(r, 100));
    await src.runOnce();
    const evs = h.take();
    // Whatever RDMA hardware this machine has, two rounds 100 ms apart cannot have a port
    // leave ACTIVE without a fault; readings are host-level bandwidth and real counter deltas.
    for (const e of evs) {
      assert.ok(e.event_type === "transport.bw" || e.event_type === "transport.drop", JSON.stringify(e));
      assert.equal(e.pid, undefined, "this test process holds no verbs device");
    }
    assert.equal(h.exporter.graph.edges.waits_on, 0);
  });
});

describe("builtin:infiniband with no RDMA stack on the host", () => {
  it("is down while <sysfs>/class/infiniband is missing, says so once, and comes up when it appears", async () => {
    const tree = hostTree();
    const h = harness("infiniband");
    const ups: boolean[] = [];
    const ctx = { ...h.ctx, setUp: (u: boolean) => void ups.push(u) };
    const ib = `${tree.dir}/sys/class/infiniband`;
    copyTree(ib, `${tree.dir}/ib-later`);
    tree.remove("sys/class/infiniband");
    try {
      const src = new InfinibandSource({ procfs: tree.procfs, sysfs: tree.sysfs, clock: testClock().now });
      src.attach(ctx);
      await src.runOnce();
      await src.runOnce();
      // As README says of a collector listed in --collectors whose source is missing.
      assert.equal(ups.at(-1), false, `ups: ${JSON.stringify(ups)}`);
      const said = h.logs.filter((l) => l.msg.includes("class/infiniband"));
      assert.equal(said.length, 1, JSON.stringify(said));
      assert.equal(said[0].type, "warn");
      copyTree(`${tree.dir}/ib-later`, ib);
      await src.runOnce();
      assert.equal(ups.at(-1), true);
    } finally {
      tree.close();
    }
  });
});
