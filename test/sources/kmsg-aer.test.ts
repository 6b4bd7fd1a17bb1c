// builtin:kmsg on PCIe AER errors, the NVMe driver's own error lines and host memory failures:
// the matchers on the kernel's strings (4.x, 5.x and 6.x wordings), the PCI functions named
// through a sysfs tree in the kernel's layout (a root port over a PCIe switch with a GPU and a
// ConnectX behind it, an NVMe controller), and record files read end to end.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Registry } from "prom-client";
import { DeviceMap } from "../../src/sources/kmsg/devices.ts";
import { KmsgSource } from "../../src/sources/kmsg/kmsg-source.ts";
import { matchMessage } from "../../src/sources/kmsg/matchers.ts";
import { classifyPci, PciMap } from "../../src/sources/kmsg/pci.ts";
import { FAKE_SMI, HOST, KMSG, recorder, shapes } from "./_kmsg-kit.ts";

describe("AER and NVMe error lines (strings)", () => {
  it("the AER driver's per-function line in each kernel's wording: severity, function, driver", () => {
    const cases: [string, string, string, string][] = [
      ["pcieport 0000:00:02.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, id=0010(Receiver ID)", "pcieport", "0000:00:02.0", "fatal"],
      ["nvidia 0000:3B:00.0: AER: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)", "nvidia", "0000:3b:00.0", "nonfatal"],
      ["nvme 0000:02:00.0: AER: PCIe Bus Error: severity=Uncorrectable (Fatal), type=Inaccessible, (Unregistered Agent ID)", "nvme", "0000:02:00.0", "fatal"],
      ["pci 0000:41:00.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Unaccessible, id=4100(Unregistered Agent ID)", "pci", "0000:41:00.0", "fatal"],
      ["mlx5_core 0000:17:00.0: AER: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Completer ID)", "mlx5_core", "0000:17:00.0", "nonfatal"],
      ["nvidia 0000:03:00.0: AER: can't recover (no error_detected callback)", "nvidia", "0000:03:00.0", "unrecovered"],
      ["nvidia 0000:02:00.0: device has no AER-aware driver", "nvidia", "0000:02:00.0", "unrecovered"],
      ["nvidia 0000:41:00.0: AER: Can't recover (no error_detected callback)", "nvidia", "0000:41:00.0", "unrecovered"],
      ["pcieport 0000:00:03.1: DPC: containment event, status:0x1f01 source:0x0000", "pcieport", "0000:00:03.1", "fatal"],
      ["dpc 0000:00:1c.0:pcie010: DPC containment event, status:0x1f09 source:0x0000", "dpc", "0000:00:1c.0", "fatal"],
    ];
    for (const [text, driver, pci, severity] of cases) {
      const f = matchMessage(text);
      assert.ok(f && f.kind === "pcie_aer", text);
      assert.deepEqual([f.driver, f.pci, f.severity], [driver, pci, severity], text);
    }
  });

  it("corrected errors are their own kind; the root port's summary, the detail lines and recovery chatter are nothing", () => {
    for (const text of [
      "pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00e5(Receiver ID)",
      "pcieport 0000:00:03.1: AER: PCIe Bus Error: severity=Correctable, type=Data Link Layer, (Transmitter ID)",
    ]) {
      const f = matchMessage(text);
      assert.ok(f && f.kind === "pcie_aer_corrected", text);
    }
    for (const text of [
      "pcieport 0000:00:03.1: AER: Uncorrected (Fatal) error received: 0000:3b:00.0",
      "pcieport 0000:00:02.0: AER: Multiple Uncorrected (Fatal) error received: id=0010",
      "pcieport 0000:00:03.1: AER: Correctable error message received from 0000:00:00.0",
      "nvidia 0000:3b:00.0: AER:   device [10de:2330] error status/mask=00004000/00000000",
      "nvidia 0000:3b:00.0: AER:    [14] CmpltTO                (First)",
      "pcieport 0000:00:03.0: AER: device recovery failed",
      "pcieport 0000:00:03.0: AER: Root Port link has been reset (0)",
      "nvme nvme1: frozen state error detected, reset controller",
      "pcieport 0000:00:03.1: DPC: unmasked uncorrectable error detected",
      "pcieport 0000:00:03.1: DPC: error containment capabilities: Int Msg #0, RPExt+ PoisonedTLP+ SwTrigger+ RP PIO Log 4, DL_ActiveErr+",
    ]) {
      assert.equal(matchMessage(text), null, text);
    }
  });

  it("nvme_log_error: a failed read, write or flush is an I/O error on the namespace with its LBA; discards and passthrough commands are not", () => {
    const read = matchMessage("nvme0n1: Read(0x2) @ LBA 1234, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR");
    assert.ok(read && read.kind === "io_error");
    assert.deepEqual([read.dev, read.ctrl, read.lba, read.sector], ["nvme0n1", null, 1234, undefined]);
    for (const text of [
      "nvme1n1: Write(0x1) @ LBA 88, 256 blocks, Write Fault (sct 0x2 / sc 0x80) ",
      "nvme2n1: Flush(0x0) @ LBA 0, 0 blocks, Internal Error (sct 0x0 / sc 0x6) ",
      "nvme0n1: I/O Cmd(0x2) @ LBA 1234, 8 blocks, I/O Error (sct 0x2 / sc 0x81) DNR",
      "nvme0c1n1: Write Zeroes(0x8) @ LBA 4096, 1024 blocks, Host Aborted Command (sct 0x3 / sc 0x71) ",
    ]) {
      const f = matchMessage(text);
      assert.ok(f && f.kind === "io_error" && f.dev === text.slice(0, text.indexOf(":")), text);
    }
    for (const text of [
      "nvme0n1: Dataset Management(0x9) @ LBA 0, 2048 blocks, Invalid Field in Command (sct 0x0 / sc 0x2) DNR",
      "nvme0: Admin Cmd(0x6), Invalid Field in Command (sct 0x0 / sc 0x2) DNR cdw10=0x5 cdw11=0x0 cdw12=0x0 cdw13=0x0 cdw14=0x0 cdw15=0x0",
      "nvme0n1: I/O Cmd(0x2), I/O Error (sct 0x2 / sc 0x81) DNR cdw10=0x0 cdw11=0x0 cdw12=0x7 cdw13=0x0 cdw14=0x0 cdw15=0x0",
    ]) {
      assert.equal(matchMessage(text), null, text);
    }
  });

  it("what a PCI function is from its class, vendor and driver", () => {
    assert.equal(classifyPci("0x030200\n", "0x10de\n", null), "gpu", "3D controller (H100, A100)");
    assert.equal(classifyPci("0x030000", "0x10de", null), "gpu", "VGA (workstation cards)");
    assert.equal(classifyPci("0x030200", "0x1002", null), "other", "not NVIDIA's");
    assert.equal(classifyPci("0x040300", "0x10de", "snd_hda_intel"), "other", "a GPU's audio function");
    assert.equal(classifyPci("0x068000", "0x10de", "nvidia-nvswitch"), "other", "an NVSwitch");
    assert.equal(classifyPci(null, null, "nvidia"), "gpu");
    assert.equal(classifyPci("0x060400", "0x1000", "pcieport"), "bridge");
  });
});

describe("PCI functions through a sysfs tree", () => {
  const pci = new PciMap(HOST.sysfs);

  it("names the GPU, the NVMe controller, the RDMA NIC and the bridges; a function sysfs lacks by its driver", async () => {
    assert.deepEqual(await pci.identify("0000:3b:00.0", "nvidia"), { kind: "gpu", pci: "0000:3b:00.0" });
    assert.deepEqual(await pci.identify("0000:02:00.0", "nvme"), { kind: "nvme", pci: "0000:02:00.0", ctrls: ["nvme1"] });
    assert.deepEqual(await pci.identify("0000:3d:00.0", null), { kind: "rdma", pci: "0000:3d:00.0" });
    assert.deepEqual(await pci.identify("0000:00:03.1", "pcieport"), { kind: "bridge", pci: "0000:00:03.1" });
    assert.deepEqual(await pci.identify("0000:c1:00.0", "nvidia"), { kind: "gpu", pci: "0000:c1:00.0" });
    assert.deepEqual(await pci.identify("0000:c1:00.0", "pcieport"), { kind: "other", pci: "0000:c1:00.0" });
  });

  it("below a root port: through both levels of the switch, the GPU and the NIC", async () => {
    assert.deepEqual(await pci.below("0000:00:03.1"), [
      { kind: "gpu", pci: "0000:3b:00.0" },
      { kind: "rdma", pci: "0000:3d:00.0" },
    ]);
    assert.deepEqual(await pci.below("0000:00:01.0"), [{ kind: "nvme", pci: "0000:02:00.0", ctrls: ["nvme1"] }]);
    assert.deepEqual(await pci.below("0000:99:00.0"), []);
  });

  it("an NVMe LBA in 512-byte sectors from the namespace's logical block size", async () => {
    const d = new DeviceMap(HOST.sysfs);
    assert.equal(await d.sectorOfLba("nvme1n1", 262400), 2099200);
    assert.equal(await d.sectorOfLba("nvme1c1n1", 1), 8, "a multipath path is its disk");
    assert.equal(await d.sectorOfLba("nvme9n1", 1), null);
  });
});

describe("builtin:kmsg on a record file of AER and NVMe errors", () => {
  async function readAll() {
    const src = new KmsgSource({ path: join(KMSG, "aer.kmsg"), host: HOST, nvidiaSmi: FAKE_SMI, maxAgeMs: Infinity, maxPidAgeMs: Infinity });
    const rec = recorder();
    src.start(rec.ctx);
    await rec.up;
    await src.stop();
    return { src, events: rec.events };
  }

  it("uncorrectable errors on the GPU, below a failing root port and on an NVMe controller; corrected ones counted only", async () => {
    const { src, events } = await readAll();
    assert.deepEqual(shapes(events), [
      // the GPU's own non-fatal error, which NVIDIA's driver cannot recover
      "error.hw gpu-01 PCIE_AER_NONFATAL",
      "error.hw gpu-01 PCIE_AER_UNRECOVERED",
      // the ConnectX's non-fatal one: mlx5 recovers it, no event
      // a fatal error on the root port: the GPU and the NIC behind the switch
      "error.hw gpu-01 PCIE_AER_FATAL",
      "error.hw mlx5_3 PCIE_AER_FATAL",
      "error.hw gpu-01 PCIE_AER_UNRECOVERED",
      // the NVMe controller's fatal error: its namespace
      "error.hw nvme1n1 PCIE_AER_FATAL",
      // nvme_log_error: a read and a write; not the discard or the admin command
      "error.hw nvme1n1 IO_ERROR",
      "error.hw nvme1n1 IO_ERROR",
      // DPC contained the root port above the ConnectX at 17:00.0: its link is gone
      "error.hw mlx5_0 PCIE_AER_FATAL",
    ]);
    assert.match(String(events[2].value), /^PCIE_AER_FATAL pcieport 0000:00:03\.1: PCIe Bus Error: severity=Uncorrected \(Fatal\)/);
    assert.equal(events[6].value, "IO_ERROR nvme1n1: Read(0x2) @ LBA 262400, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR");
    assert.equal(src.counts.pcie_aer, 7);
    assert.equal(src.counts.pcie_aer_corrected, 7);
    assert.equal(src.counts.io_error, 2);
    const registry = new Registry();
    src.registerMetrics(registry);
    const page = await registry.metrics();
    assert.match(page, /^xctl_kmsg_records_total\{kind="pcie_aer_corrected"\} 7$/m);
    assert.match(page, /^xctl_kmsg_records_total\{kind="pcie_aer"\} 7$/m);
  });

  it("a corrected-error storm is bounded: thousands of records, no event, one count each", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "xctl-aer-"));
    try {
      const lines: string[] = [];
      for (let i = 0; i < 3000; i++) {
        lines.push(`4,${i},${1_000_000 + i},-;pcieport 0000:00:03.1: AER: PCIe Bus Error: severity=Corrected, type=Data Link Layer, (Transmitter ID)\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:03.1\n`);
      }
      writeFileSync(join(dir, "kmsg"), lines.join(""));
      const src = new KmsgSource({ path: join(dir, "kmsg"), host: HOST, nvidiaSmi: null, maxAgeMs: Infinity });
      const rec = recorder();
      src.start(rec.ctx);
      await rec.up;
      await src.stop();
      assert.equal(rec.events.length, 0);
      assert.equal(src.counts.pcie_aer_corrected, 3000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("host memory failures", () => {
  it("the kernel's SIGBUS to a task on a bad page, in each wording, names the task; EDAC and mce summaries name none", () => {
    const cases: [string, number, string][] = [
      ["Memory failure: 0x3f2c5d: Sending SIGBUS to python3:4242 due to hardware memory corruption", 4242, "python3"],
      ["Memory failure: 0x1840200: Killing cellsrv:33395 due to hardware memory corruption", 33395, "cellsrv"],
      ["MCE 0x1840200: Killing pt_data_worker:7:4250 early due to hardware memory corruption", 4250, "pt_data_worker:7"],
      ["MCE: Killing uffd-unit-tests:1321817 due to hardware memory corruption fault at 4631e000", 1321817, "uffd-unit-tests"],
      ["Memory error may not recovered: 0x3f2c5d: Sending SIGBUS to python3:4242 due to hardware memory corruption", 4242, "python3"],
    ];
    for (const [text, pid, comm] of cases) {
      const f = matchMessage(text);
      assert.ok(f && f.kind === "memory_failure", text);
      assert.deepEqual([f.pid, f.comm], [pid, comm], text);
    }
    for (const text of [
      "EDAC MC0: 1 UE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x3f2c5d offset:0x0 grain:32 syndrome:0x0 - area:DRAM err_code:0000:009f socket:0 ha:0 channel_mask:2 rank:0)",
      "mce: [Hardware Error]: Machine check events logged",
      "mce: Uncorrected hardware memory error in user-access at 3f2c5d000",
      "Memory failure: 0x3f2c5d: recovery action for dirty LRU page: Recovered",
    ]) {
      assert.equal(matchMessage(text), null, text);
    }
  });

  it("a record file: an error of the process the graph holds, for its pid; a task it does not hold is counted only", async () => {
    const src = new KmsgSource({ path: join(KMSG, "memory.kmsg"), host: HOST, nvidiaSmi: null, maxAgeMs: Infinity, maxPidAgeMs: Infinity });
    const rec = recorder([4242]);
    src.start(rec.ctx);
    await rec.up;
    await src.stop();
    assert.deepEqual(shapes(rec.events), ["error.hw memory pid=4242 HW_MEMORY_CORRUPTION"]);
    assert.equal(rec.events[0].value, "HW_MEMORY_CORRUPTION Memory failure: 0x3f2c5d: Sending SIGBUS to python3:4242 due to hardware memory corruption");
    assert.equal(src.counts.memory_failure, 2);
    assert.equal(src.counts.other, 4);
  });
});
