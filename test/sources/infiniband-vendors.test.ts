// builtin:infiniband on RDMA NICs other than mlx5 in its usual layout: Broadcom bnxt_re (Thor),
// Intel irdma (E810, under an rdma-core persistent name), mlx5 in switchdev mode (counters at the
// device level), AWS EFA. Each tree is written in the driver's own layout (_rdma-kit.ts): the
// congestion and error counters it has, under its names, must make the same events and scenes
// as mlx5's.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { whyView } from "../../src/query/why.ts";
import { InfinibandSource } from "../../src/sources/infiniband/index.ts";
import { CONGESTION_HW_COUNTERS, HW_COUNTER_ROLES, HW_COUNTERS_BY_DRIVER } from "../../src/sources/infiniband/parse.ts";
import { readInfiniband } from "../../src/sources/infiniband/read.ts";
import { IbTracker } from "../../src/sources/infiniband/tracker.ts";
import { harness, testClock, type Harness } from "./_host-kit.ts";
import { BNXT_RE_HW, EFA_DEVICE_HW, EFA_PORT_HW, IRDMA_HW, MLX5_HW, bumpCounter, writeRdmaDevice, writeVerbsUser, type RdmaDevice } from "./_rdma-kit.ts";

interface Rig {
  root: string;
  h: Harness;
  round(): Promise<string[]>;
  bump(rel: string, by: bigint): void;
}

/** A host with `devices`, pid 5151 holding the first one's verbs device, rounds 15 s apart. */
async function rig(devices: RdmaDevice[], fn: (r: Rig) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "xctl-rdma-"));
  try {
    for (const d of devices) writeRdmaDevice(root, d);
    writeVerbsUser(root, 5151, [devices[0].uverbs]);
    const h = harness("infiniband");
    const clock = testClock();
    const src = new InfinibandSource({ procfs: join(root, "proc"), sysfs: join(root, "sys"), clock: clock.now });
    src.attach(h.ctx);
    h.feed({ event_type: "process.state", entity_id: "pid-5151", pid: 5151, job_id: "8001", value: "start" });
    let first = true;
    await fn({
      root,
      h,
      round: async () => {
        if (!first) clock.advance(15_000);
        first = false;
        await src.runOnce();
        return h.take().map((e) => `${e.event_type} ${e.entity_id}${e.pid === undefined ? "" : ` pid=${e.pid}`} ${e.value}`);
      },
      bump: (rel, by) => bumpCounter(root, rel, by),
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const notBw = (lines: string[]) => lines.filter((l) => !l.startsWith("transport.bw"));
const scenesFor = (h: Harness, pid: number) =>
  h.exporter.engine
    .runNow()
    .matches.filter((m) => m.affected_pids.includes(pid))
    .map((m) => m.scene);

describe("builtin:infiniband congestion and errors per driver", () => {
  it("bnxt_re (Thor, no PMA counters/): CNPs and ECN marks make error.net, RoCE discards and NAKs drops, and the job is in roce_congestion", async () => {
    const port = "sys/class/infiniband/bnxt_re0/ports/1/hw_counters";
    await rig([{ device: "bnxt_re0", linkLayer: "Ethernet", portHw: BNXT_RE_HW, uverbs: 0 }], async ({ h, round, bump }) => {
      assert.deepEqual(await round(), []);
      bump(`${port}/tx_cnp_pkts`, 12_000n);
      bump(`${port}/rx_cnp_pkts`, 9_000n);
      bump(`${port}/rx_ecn_marked_pkts`, 11_000n);
      bump(`${port}/seq_err_naks_rcvd`, 7n);
      bump(`${port}/rx_roce_discards`, 5n);
      // Counters the driver has that are no fault: traffic and resources.
      bump(`${port}/rx_pkts`, 5_000_000n);
      bump(`${port}/active_qps`, 64n);
      bump(`${port}/rnr_naks_rcvd`, 3n);
      assert.deepEqual(await round(), [
        "transport.drop bnxt_re0 pid=5151 12",
        "error.net bnxt_re0 ECN/CNP congestion: tx_cnp_pkts +12000, rx_cnp_pkts +9000, rx_ecn_marked_pkts +11000 in 15s",
      ]);
      assert.deepEqual(whyView(h.exporter.graph, 5151)!.waits_on.map((w) => [w.resource, w.meta.drop]), [["bnxt_re0", "12"]]);
      assert.deepEqual(scenesFor(h, 5151), ["roce_congestion", "network_stall"]);
      // Under the threshold (1000/s over the device's counters together): no error.
      bump(`${port}/tx_cnp_pkts`, 14_000n);
      assert.deepEqual(await round(), []);
    });
  });

  it("bnxt_re with PMA counters/ (kernels since 2025): bandwidth and PMA drops too, its hw drops counted once", async () => {
    const dev = "sys/class/infiniband/bnxt_re1/ports/1";
    await rig([{ device: "bnxt_re1", linkLayer: "Ethernet", portHw: BNXT_RE_HW, pma: true, uverbs: 1 }], async ({ round, bump }) => {
      await round();
      bump(`${dev}/counters/port_xmit_data`, 3_750_000_000n); // 15 GB in 15 s
      bump(`${dev}/counters/port_xmit_discards`, 2n);
      bump(`${dev}/hw_counters/oos_drop_count`, 1n);
      assert.deepEqual(await round(), ["transport.drop bnxt_re1 pid=5151 3", "transport.bw bnxt_re1 1"]);
    });
  });

  it("irdma (E810) under an rdma-core persistent name: cnpSent/cnpHandled/RxECNMrkd make error.net, IP discards drops, roce_congestion matches", async () => {
    const port = "sys/class/infiniband/rocep65s0f0/ports/1/hw_counters";
    await rig([{ device: "rocep65s0f0", linkLayer: "Ethernet", portHw: IRDMA_HW, uverbs: 2 }], async ({ h, round, bump }) => {
      await round();
      bump(`${port}/cnpSent`, 20_000n);
      bump(`${port}/cnpHandled`, 4_000n);
      bump(`${port}/RxECNMrkd`, 21_000n);
      bump(`${port}/ip4InDiscards`, 10n);
      bump(`${port}/ip4InPkts`, 9_000_000n);
      assert.deepEqual(notBw(await round()), [
        "transport.drop rocep65s0f0 pid=5151 10",
        "error.net rocep65s0f0 ECN/CNP congestion: cnpSent +20000, cnpHandled +4000, RxECNMrkd +21000 in 15s",
      ]);
      assert.ok(scenesFor(h, 5151).includes("roce_congestion"), JSON.stringify(scenesFor(h, 5151)));
    });
  });

  it("a RoCE port under an rdma-core persistent name going down puts its job in nic_link_down", async () => {
    await rig([{ device: "rocep65s0f0", linkLayer: "Ethernet", portHw: IRDMA_HW, uverbs: 2 }], async ({ root, h, round }) => {
      await round();
      writeFileSync(join(root, "sys/class/infiniband/rocep65s0f0/ports/1/state"), "1: DOWN\n");
      writeFileSync(join(root, "sys/class/infiniband/rocep65s0f0/ports/1/phys_state"), "3: Disabled\n");
      assert.deepEqual(await round(), [
        "transport.bw rocep65s0f0 pid=5151 IO_WAIT LINK_DOWN port=1",
        "topo.link_down rocep65s0f0 LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=Ethernet",
      ]);
      assert.ok(scenesFor(h, 5151).includes("nic_link_down"), JSON.stringify(scenesFor(h, 5151)));
    });
  });

  it("mlx5 in switchdev mode: congestion and queue counters at the device level count; the ports' vport_ counters do not", async () => {
    const vport = MLX5_HW.filter((n) => !/^(rp|np)_|^rx_icrc/.test(n)).map((n) => `vport_${n}`);
    await rig([{ device: "mlx5_0", linkLayer: "Ethernet", deviceHw: MLX5_HW, portHw: vport, pma: true, uverbs: 0 }], async ({ h, round, bump }) => {
      await round();
      bump("sys/class/infiniband/mlx5_0/hw_counters/np_cnp_sent", 16_000n);
      bump("sys/class/infiniband/mlx5_0/hw_counters/np_ecn_marked_roce_packets", 16_000n);
      bump("sys/class/infiniband/mlx5_0/hw_counters/out_of_sequence", 4n);
      bump("sys/class/infiniband/mlx5_0/ports/1/hw_counters/vport_out_of_sequence", 900n);
      assert.deepEqual(notBw(await round()), [
        "transport.drop mlx5_0 pid=5151 4",
        "error.net mlx5_0 ECN/CNP congestion: np_cnp_sent +16000, np_ecn_marked_roce_packets +16000 in 15s",
      ]);
      assert.ok(scenesFor(h, 5151).includes("roce_congestion"));
    });
  });

  it("efa (SRD, not RoCE): rx_drops are drops; it has no ECN or CNP counter, so never error.net", async () => {
    const port = "sys/class/infiniband/efa_0/ports/1/hw_counters";
    await rig([{ device: "efa_0", linkLayer: "Unspecified", portHw: EFA_PORT_HW, deviceHw: EFA_DEVICE_HW, uverbs: 0 }], async ({ h, round, bump }) => {
      await round();
      bump(`${port}/rx_drops`, 6n);
      bump(`${port}/rx_pkts`, 1_000_000n);
      bump("sys/class/infiniband/efa_0/hw_counters/cmds_err", 2n);
      assert.deepEqual(await round(), ["transport.drop efa_0 pid=5151 6"]);
      assert.ok(!scenesFor(h, 5151).includes("roce_congestion"));
    });
  });

  it("reads only the table's files among those each driver has", async () => {
    const root = mkdtempSync(join(tmpdir(), "xctl-rdma-"));
    try {
      writeRdmaDevice(root, { device: "bnxt_re0", linkLayer: "Ethernet", portHw: BNXT_RE_HW, uverbs: 0 });
      writeRdmaDevice(root, { device: "irdma0", linkLayer: "Ethernet", portHw: IRDMA_HW, uverbs: 1 });
      writeRdmaDevice(root, { device: "efa_0", linkLayer: "Unspecified", portHw: EFA_PORT_HW, deviceHw: EFA_DEVICE_HW, uverbs: 2 });
      const snap = await readInfiniband(join(root, "sys"));
      const keys = (dev: string) => [...snap.find((d) => d.device === dev)!.ports[0].counters.keys()].sort();
      assert.deepEqual(keys("bnxt_re0"), Object.keys(HW_COUNTERS_BY_DRIVER.bnxt_re).sort());
      assert.deepEqual(keys("irdma0"), Object.keys(HW_COUNTERS_BY_DRIVER.irdma).sort());
      assert.deepEqual(keys("efa_0"), ["rx_drops"]);
      assert.deepEqual([...snap.find((d) => d.device === "efa_0")!.counters.keys()], [], "EFA's device-level counters are admin-queue stats, none of them read");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("names each driver's counters as its kernel source does, no name under two drivers", () => {
    const kernel: Record<string, readonly string[]> = { mlx5: MLX5_HW, bnxt_re: BNXT_RE_HW, irdma: IRDMA_HW, efa: EFA_PORT_HW };
    for (const [driver, names] of Object.entries(HW_COUNTERS_BY_DRIVER)) {
      for (const n of Object.keys(names)) assert.ok(kernel[driver].includes(n), `${driver} has no counter ${n}`);
    }
    const total = Object.values(HW_COUNTERS_BY_DRIVER).reduce((s, t) => s + Object.keys(t).length, 0);
    assert.equal(HW_COUNTER_ROLES.size, total);
    // Every RoCE driver of the table has CNP and ECN counters; efa (SRD) has none.
    for (const driver of ["mlx5", "bnxt_re", "irdma"]) {
      const roles = new Set(Object.values(HW_COUNTERS_BY_DRIVER[driver]));
      for (const r of ["cnp_sent", "cnp_received", "ecn_marked"] as const) assert.ok(roles.has(r), `${driver} ${r}`);
    }
    assert.ok(!Object.keys(HW_COUNTERS_BY_DRIVER.efa).some((n) => CONGESTION_HW_COUNTERS.includes(n)));
  });

  it("a counter a device has both per port and at the device level counts once (the larger of the two)", () => {
    const t = new IbTracker(1000, { warn: () => {}, info: () => {} });
    const port = (n: string, cnp: bigint) => ({ port: n, state: { code: 4, name: "ACTIVE" }, phys: { code: 5, name: "LinkUp" }, linkLayer: "Ethernet", counters: new Map([["np_cnp_sent", cnp]]) });
    const snap = (p1: bigint, p2: bigint, dev: bigint) => [{ device: "mlx5_0", ports: [port("1", p1), port("2", p2)], counters: new Map([["np_cnp_sent", dev]]) }];
    t.round(snap(0n, 0n, 0n), new Map(), 0);
    const net = (evs: { event_type: string; value: string }[]) => evs.filter((e) => e.event_type === "error.net").map((e) => e.value);
    // Device-level file = port 1 only (mlx5 outside switchdev reads port 1's): the ports' sum wins.
    assert.deepEqual(net(t.round(snap(10_000n, 8_000n, 10_000n), new Map(), 10_000)), ["ECN/CNP congestion: np_cnp_sent +18000 in 10s"]);
    // Ports stuck at 0, the device counting (switchdev): the device-level delta.
    assert.deepEqual(net(t.round(snap(10_000n, 8_000n, 30_000n), new Map(), 20_000)), ["ECN/CNP congestion: np_cnp_sent +20000 in 10s"]);
  });
});
