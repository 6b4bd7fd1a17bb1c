// builtin:kmsg on stacked storage: an I/O error names the member (`sda`), a process waits on
// the device its file system is on (`dm-0`, `md1`). The error reaches the LVM volumes, dm-crypt
// maps and md arrays that fail with the member, never a RAID1 or multipath device that keeps
// serving from another member. Parsers on strings; the walk on a sysfs tree in the kernel's layout.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { DeviceMap } from "../../src/sources/kmsg/devices.ts";
import { findingEvents, type Resolvers } from "../../src/sources/kmsg/events.ts";
import { GpuMap } from "../../src/sources/kmsg/gpu-map.ts";
import { matchMessage } from "../../src/sources/kmsg/matchers.ts";
import { PciMap } from "../../src/sources/kmsg/pci.ts";
import { BlockStack, dmFailsWithMember, mdFailsWithMember, partitionOf } from "../../src/sources/kmsg/stack.ts";
import { stackTree } from "./_stack-kit.ts";

describe("which stacked devices fail with a member (strings)", () => {
  it("md: raid0 and linear fail with any member; mirrors and parity only with too few other members in sync", () => {
    for (const l of ["raid0\n", "linear", "RAID-0"]) assert.equal(mdFailsWithMember(l, 2, 1), true, l);
    for (const l of ["raid1\n", "raid4", "raid5", "raid6", "raid10", "multipath", "RAID-5", "", "container"]) {
      assert.equal(mdFailsWithMember(l), false, `${l}: members not known`);
      assert.equal(mdFailsWithMember(l, 4, 3), false, `${l}: all the others in sync`);
    }
    assert.equal(mdFailsWithMember("raid1", 2, 0), true, "the last mirror");
    assert.equal(mdFailsWithMember("raid1", 3, 1), false);
    assert.equal(mdFailsWithMember("raid5", 4, 2), true, "a RAID5 already one member down");
    assert.equal(mdFailsWithMember("raid6", 6, 4), false, "a RAID6 one member down still has parity");
    assert.equal(mdFailsWithMember("raid6", 6, 3), true);
    assert.equal(mdFailsWithMember("raid10", 4, 0), false, "which members a RAID10 can lose depends on its layout");
  });

  it("dm: a multipath map only with no other path running; an LVM RAID or mirror leg never; one device always; several only for LVM", () => {
    assert.equal(dmFailsWithMember("LVM-abc", 1, null), true);
    assert.equal(dmFailsWithMember("CRYPT-LUKS2-abc-luks-data", 1, null), true);
    assert.equal(dmFailsWithMember("", 1, null), true);
    assert.equal(dmFailsWithMember("LVM-abc", 2, null), true, "linear or striped across two PVs");
    assert.equal(dmFailsWithMember("mpath-3600508b4", 2, null), false);
    assert.equal(dmFailsWithMember("mpath-3600508b4", 2, null, 1), false, "another path takes the I/O");
    assert.equal(dmFailsWithMember("mpath-3600508b4", 2, null, 0), true, "the last path");
    for (const leg of ["vg1-lv_rimage_0", "vg1-lv_rmeta_1", "vg1-lv_mimage_0", "vg1-lv_mlog"]) assert.equal(dmFailsWithMember("LVM-abc", 2, leg), false, leg);
    assert.equal(dmFailsWithMember("", 2, null), false, "an unknown target over several devices may be a mirror");
  });

  it("the partition a sector falls in", () => {
    const parts = [{ name: "sda1", start: 2048, size: 1048576 }, { name: "sda2", start: 1050624, size: 200000000 }];
    assert.equal(partitionOf(parts, 2048), "sda1");
    assert.equal(partitionOf(parts, 1050623), "sda1");
    assert.equal(partitionOf(parts, 1050624), "sda2");
    assert.equal(partitionOf(parts, 100), null, "the partition table itself");
    assert.equal(partitionOf(parts, 201050624), null);
  });

  it("the block layer's line gives its sector; the buffer and file-system lines none", () => {
    const f = matchMessage("blk_update_request: I/O error, dev sda, sector 2099200 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    assert.ok(f && f.kind === "io_error");
    assert.deepEqual([f.dev, f.sector], ["sda", 2099200]);
    const g = matchMessage("critical medium error, dev sdb, sector 123456789 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2");
    assert.ok(g && g.kind === "io_error" && g.sector === 123456789);
    const b = matchMessage("Buffer I/O error on dev dm-0, logical block 12345, lost async page write");
    assert.ok(b && b.kind === "io_error" && b.dev === "dm-0" && b.sector === undefined);
  });
});

describe("an I/O error on a member, through a sysfs tree of stacked devices", () => {
  const tree = stackTree();
  after(() => tree.close());
  const resolvers = (): Resolvers => ({
    gpus: new GpuMap({ procfs: join(tree.sysfs, "none"), command: null }),
    devices: new DeviceMap(tree.sysfs),
    stack: new BlockStack(tree.sysfs),
    pci: new PciMap(tree.sysfs),
  });
  const events = async (message: string, r = resolvers()) => {
    const f = matchMessage(message);
    assert.ok(f, message);
    return (await findingEvents(f, 1_800_000_000_000, r)).map((e) => `${e.entity_id} ${e.value}`);
  };

  it("a sector in the LVM partition: the disk, and each volume on it, naming the member", async () => {
    const msg = "blk_update_request: I/O error, dev sda, sector 2099200 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0";
    assert.deepEqual(await events(msg), [
      `sda IO_ERROR ${msg}`,
      `dm-0 IO_ERROR from sda2 under dm-0 (vg0-root): ${msg}`,
      `dm-1 IO_ERROR from sda2 under dm-1 (vg0-home): ${msg}`,
    ]);
  });

  it("a sector in /boot (sda1, mounted as is): the disk alone; no volume on sda2 is blamed", async () => {
    assert.deepEqual(await events("I/O error, dev sda, sector 4096 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0"), [
      "sda IO_ERROR I/O error, dev sda, sector 4096 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0",
    ]);
  });

  it("a partition named, or a disk with no sector: its volumes (every partition's, when unsaid)", async () => {
    const r = await events("Buffer I/O error on dev sda2, logical block 0, async page read");
    assert.deepEqual(r.map((e) => e.split(":")[0]), ["sda IO_ERROR Buffer I/O error on dev sda2, logical block 0, async page read", "dm-0 IO_ERROR from sda2 under dm-0 (vg0-root)", "dm-1 IO_ERROR from sda2 under dm-1 (vg0-home)"]);
    const s = await events("EXT4-fs error (device sda): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0");
    assert.deepEqual(s.map((e) => e.split(" ")[0]), ["sda", "dm-0", "dm-1"]);
  });

  it("LVM on LUKS: up two levels, the path names both", async () => {
    assert.deepEqual(
      (await events("I/O error, dev sdd, sector 77 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(": ")[0]),
      ["sdd IO_ERROR I/O error, dev sdd, sector 77 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "dm-2 IO_ERROR from sdd under dm-2 (luks-data)", "dm-3 IO_ERROR from sdd under dm-2 (luks-data) under dm-3 (vgdata-scratch)"],
    );
  });

  it("md: a RAID1 member's error stays on the member; a RAID0 member's fails the array", async () => {
    assert.deepEqual((await events("I/O error, dev sdb, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(" ")[0]), ["sdb"]);
    assert.deepEqual(
      (await events("I/O error, dev sdb, sector 5000000 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(": ")[0]),
      ["sdb IO_ERROR I/O error, dev sdb, sector 5000000 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "md1 IO_ERROR from sdb2 under md1"],
    );
  });

  it("md: the last mirror in sync fails the degraded array", async () => {
    assert.deepEqual(
      (await events("I/O error, dev sdh, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(": ")[0]),
      ["sdh IO_ERROR I/O error, dev sdh, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "md2 IO_ERROR from sdh1 under md2"],
    );
    assert.deepEqual((await events("I/O error, dev sdi, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(" ")[0]), ["sdi"], "the faulty member's own errors: the array has sdh1");
  });

  it("md: a fault that hits every mirror at once (a dead controller with both namespaces) fails the array", async () => {
    assert.deepEqual((await events("nvme nvme2: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff")).map((e) => e.split(": ")[0]), [
      "nvme2n1 IO_ERROR nvme nvme2",
      "nvme2n2 IO_ERROR nvme nvme2",
      "md3 IO_ERROR from nvme2n1p1 under md3",
    ]);
    assert.deepEqual((await events("I/O error, dev nvme2n1, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(" ")[0]), ["nvme2n1"], "one namespace: the other mirror serves");
  });

  it("multipath: a failing path stays on the path while another runs; the last path fails the map and its partition", async () => {
    assert.deepEqual((await events("I/O error, dev sde, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(" ")[0]), ["sde"]);
    assert.deepEqual((await events("I/O error, dev sdk, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(": ")[0]), [
      "sdk IO_ERROR I/O error, dev sdk, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
      "dm-11 IO_ERROR from sdk under dm-11 (mpathb)",
      "dm-12 IO_ERROR from sdk under dm-11 (mpathb) under dm-12 (mpathb1)",
    ]);
  });

  it("LVM RAID1: a leg's error stays on the leg", async () => {
    assert.deepEqual((await events("nvme nvme0: I/O 123 QID 4 timeout, aborting")).map((e) => e.split(" ")[0]), ["nvme0n1", "dm-6"]);
  });

  it("the NVMe driver's own line: its LBA, in 4 KiB blocks, picks the partition (an LVM volume's, or /boot's)", async () => {
    const read = "nvme3n1: Read(0x2) @ LBA 262400, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR";
    assert.deepEqual(await events(read), [`nvme3n1 IO_ERROR ${read}`, `dm-13 IO_ERROR from nvme3n1p2 under dm-13 (vg2-data): ${read}`]);
    assert.deepEqual((await events("nvme3n1: Write(0x1) @ LBA 300, 8 blocks, Write Fault (sct 0x2 / sc 0x80) ")).map((e) => e.split(" ")[0]), ["nvme3n1"], "sector 2400: /boot");
  });

  it("a fatal PCIe error on the NVMe controller, or on the port above it: its namespace and every volume on it", async () => {
    const direct = "nvme 0000:5e:00.0: AER: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)";
    assert.deepEqual(await events(direct), [`nvme3n1 PCIE_AER_FATAL ${direct}`, `dm-13 PCIE_AER_FATAL from nvme3n1p2 under dm-13 (vg2-data): ${direct}`]);
    const port = "pcieport 0000:5d:00.0: DPC: containment event, status:0x1f01 source:0x0000";
    assert.deepEqual((await events(port)).map((e) => e.split(" ").slice(0, 2).join(" ")), ["nvme3n1 PCIE_AER_FATAL", "dm-13 PCIE_AER_FATAL"]);
    const nonFatal = "nvme 0000:5e:00.0: AER: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)";
    assert.deepEqual(await events(nonFatal), [], "the nvme driver recovers a non-fatal one");
  });

  it("errors naming a stacked device go up from it; a loop in the links ends", async () => {
    assert.deepEqual((await events("Buffer I/O error on dev dm-2, logical block 9, lost async page write")).map((e) => e.split(": ")[0]), [
      "dm-2 IO_ERROR Buffer I/O error on dev dm-2, logical block 9, lost async page write",
      "dm-3 IO_ERROR from dm-2 under dm-3 (vgdata-scratch)",
    ]);
    assert.deepEqual((await events("I/O error, dev sdg, sector 1 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")).map((e) => e.split(" ")[0]), ["sdg", "dm-9", "dm-10"]);
  });
});
