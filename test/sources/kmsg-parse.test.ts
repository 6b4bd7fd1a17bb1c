// builtin:kmsg on strings: the /dev/kmsg record format, and the matchers that turn kernel
// messages into findings (real message shapes from several driver and kernel generations).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../_helpers.ts";
import { FallenOffBusJoiner, matchMessage } from "../../src/sources/kmsg/matchers.ts";
import { parseRecord, RecordSplitter, unescapeKmsg } from "../../src/sources/kmsg/record.ts";

describe("kmsg records", () => {
  it("parses the header, the escaped text and the dictionary", () => {
    const r = parseRecord("6,1023,4961877,-;nvidia 0000:3b:00.0: enabling device (0000 -> 0002)\n SUBSYSTEM=pci\n DEVICE=+pci:0000:3b:00.0");
    assert.ok(r);
    assert.deepEqual([r.facility, r.level, r.seq, r.usec], [0, 6, 1023, 4961877]);
    assert.equal(r.message, "nvidia 0000:3b:00.0: enabling device (0000 -> 0002)");
    assert.equal(r.dict.get("SUBSYSTEM"), "pci");
    assert.equal(r.dict.get("DEVICE"), "+pci:0000:3b:00.0");
  });

  it("takes the caller field of newer kernels, user-space facilities and escapes", () => {
    const r = parseRecord("3,3306,171180308145,-,caller=T77;NVRM: The NVIDIA GPU 0000:b3:00.0\\x0aNVRM: fallen off the bus \\x5cx41");
    assert.ok(r);
    assert.equal(r.usec, 171180308145);
    assert.equal(r.message, "NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: fallen off the bus \\x41");
    assert.equal(parseRecord("12,406,1404000,-;hello")?.facility, 1);
    assert.equal(unescapeKmsg("plain"), "plain");
    // Bytes from 127 up are escaped one by one (printk's msg_add_ext_text): UTF-8 text comes back whole.
    const x = parseRecord("4,2217,9314002,-;NVRM: Xid (PCI:0000:18:00): 43, pid=4242, name=\\xe8\\xae\\xad\\xe7\\xbb\\x83.py, Ch 00000008");
    assert.equal(x?.message, "NVRM: Xid (PCI:0000:18:00): 43, pid=4242, name=训练.py, Ch 00000008");
    assert.equal(unescapeKmsg("caf\\xc3\\xa9\\x0a\\xff"), "café\n\ufffd");
  });

  it("refuses what is not a record", () => {
    for (const bad of ["", "hello world", " SUBSYSTEM=pci", "6,x,1,-;m", "6,1,2;missing flags", "[ 12.3] dmesg style"]) {
      assert.equal(parseRecord(bad), null, bad);
    }
  });

  it("splits a stream into blocks however it is cut, dictionary lines kept with their record", () => {
    const text = "6,1,10,-;first\n SUBSYSTEM=pci\n DEVICE=+pci:0000:17:00.0\n4,2,20,-;second\n3,3,30,-;third\n";
    for (const cut of [1, 2, 7, 13, 1000]) {
      const blocks: string[] = [];
      const s = new RecordSplitter((b) => blocks.push(b));
      for (let i = 0; i < text.length; i += cut) s.push(text.slice(i, i + cut));
      s.flush();
      assert.deepEqual(blocks, ["6,1,10,-;first\n SUBSYSTEM=pci\n DEVICE=+pci:0000:17:00.0", "4,2,20,-;second", "3,3,30,-;third"], `cut ${cut}`);
    }
  });

  it("cuts an endless line and keeps a partial last line until its newline", () => {
    const blocks: string[] = [];
    const s = new RecordSplitter((b) => blocks.push(b), 32);
    s.push(`6,1,1,-;${"x".repeat(100)}`);
    s.push(`${"y".repeat(100)}\n6,2,2,-;after`);
    s.flush();
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].length, 32);
    s.push("\n");
    s.flush();
    assert.deepEqual(blocks.slice(1), ["6,2,2,-;after"]);
  });
});

describe("kmsg matchers", () => {
  it("reads Xid lines of every driver generation", () => {
    const cases: [string, string, number, number | null][] = [
      ["NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python3, GPU has fallen off the bus.", "0000:3b:00", 79, 1234],
      ["NVRM: Xid (PCI:0000:05:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", "0000:05:00", 79, null],
      ["NVRM: Xid (0000:03:00): 14, Channel 00000001", "0000:03:00", 14, null],
      ["NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception on (GPC 2, TPC 1, SM 0): Out Of Range Address", "0000:3b:00", 13, null],
      ["NVRM: Xid (PCI:0009:01:00): 149, NETIR_LINK_EVT  Fatal   XC0 i0 Link 01 (0x021425c6 0x00000000)", "0009:01:00", 149, null],
      ["NVRM: Xid (PCI:0000:cb:00): 109, pid=1797828, name=pt_main_thread, Ch 00000008, errorString CTX SWITCH TIMEOUT, Info 0x58005", "0000:cb:00", 109, 1797828],
      ["NVRM: Xid (PCI:0000:18:00): 31, pid=0, name=kworker, Ch 00000010", "0000:18:00", 31, null],
      // GSP (the GPU System Processor) stopped answering: the pid is whoever called the driver.
      ["NVRM: Xid (PCI:0000:b5:00): 119, pid=3120, name=nv-hostengine, Timeout after 6s of waiting for RPC response from GPU5 GSP! Expected function 76 (GSP_RM_CONTROL) (0x2080014b 0x5).", "0000:b5:00", 119, 3120],
      // The recovery action the driver asks for (R550 and later), with no pid.
      ["NVRM: Xid (PCI:0000:b5:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)", "0000:b5:00", 154, null],
      // A MIG-enabled GPU names the GPU instance too (NVIDIA's GPU memory error management).
      ["NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No", "0000:01:00", 94, 7194],
      // ... and the compute instance after it when the error is that instance's (the driver's
      // `GPU-I:%02u GPU-CI:%02u` form, NVIDIA's open kernel modules, kernel_rc.c).
      ["NVRM: Xid (PCI:0000:4b:00 GPU-I:02 GPU-CI:00): 43, pid=51234, name=python3, Ch 00000009", "0000:4b:00", 43, 51234],
    ];
    for (const [msg, bus, code, pid] of cases) {
      const f = matchMessage(msg);
      assert.ok(f && f.kind === "xid", msg);
      assert.deepEqual([f.bus, f.code, f.pid, f.text], [bus, code, pid, msg]);
    }
  });

  it("reads a GPU fallen off the bus in its one-line and three-line forms", () => {
    for (const [msg, bus] of [
      ["NVRM: GPU at PCI:0000:3b:00: GPU has fallen off the bus.", "0000:3b:00"],
      ["NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.", "0000:3b:00.0"],
      ["NVRM: GPU at 0000:01:00.0 has fallen off the bus.", "0000:01:00.0"],
      ["NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: (PCI ID: 10de:26b5) installed in this system has\nNVRM: fallen off the bus and is not responding to commands.", "0000:b3:00.0"],
    ]) {
      const f = matchMessage(msg);
      assert.ok(f && f.kind === "fallen_off_bus", msg);
      assert.equal(f.bus, bus);
    }
    const j = new FallenOffBusJoiner();
    assert.equal(j.next("NVRM: The NVIDIA GPU 0000:86:00.0"), null);
    assert.equal(j.next("NVRM: (PCI ID: 10de:2330) installed in this system has"), null);
    const f = j.next("NVRM: fallen off the bus and is not responding to commands.");
    assert.ok(f && f.kind === "fallen_off_bus");
    assert.equal(f.bus, "0000:86:00.0");
    // An unrelated line in between breaks the three-line form.
    assert.equal(j.next("NVRM: The NVIDIA GPU 0000:18:00.0"), null);
    assert.equal(j.next("usb 1-1: new high-speed USB device"), null);
    assert.equal(j.next("NVRM: fallen off the bus and is not responding to commands."), null);
  });

  it("reads NVSwitch SXids", () => {
    const f = matchMessage("nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up");
    assert.ok(f && f.kind === "sxid");
    assert.deepEqual([f.index, f.bus, f.code], [1, "0000:06:00.0", 20034]);
    const g = matchMessage("SXid (PCI:0000:c3:00.0): 24007, Fatal, Link 28 sourcetrack timeout error (First)");
    assert.ok(g && g.kind === "sxid");
    assert.deepEqual([g.index, g.bus, g.code], [null, "0000:c3:00.0", 24007]);
  });

  it("reads block, NVMe and filesystem errors with the device they name", () => {
    const cases: [string, string | null, string | null][] = [
      ["I/O error, dev nvme1n1, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0", "nvme1n1", null],
      ["blk_update_request: I/O error, dev sda, sector 88123 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0", "sda", null],
      ["blk_update_request: I/O error, dev sdc, sector 2048", "sdc", null],
      ["print_req_error: critical medium error, dev sdd, sector 12345", "sdd", null],
      // Status names the block layer added: 4.13 "protection" (a T10 PI check failed), 5.18
      // "device offline", 6.5 "reservation conflict" (what was "critical nexus").
      ["protection error, dev sde, sector 4096 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", "sde", null],
      ["blk_update_request: protection error, dev sdf, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "sdf", null],
      ["device offline error, dev sdg, sector 1024 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2", "sdg", null],
      ["reservation conflict error, dev sdh, sector 2048 op 0x1:(WRITE) flags 0x8800 phys_seg 1 prio class 2", "sdh", null],
      ["Buffer I/O error on dev sdb1, logical block 0, async page read", "sdb1", null],
      ["nvme nvme1: I/O 123 QID 4 timeout, aborting", null, "nvme1"],
      ["nvme nvme0: I/O tag 17 (0011) opcode 0x2 (Read) QID 3 timeout, reset controller", null, "nvme0"],
      ["EXT4-fs error (device nvme1n1p2): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", "nvme1n1p2", null],
      ['XFS (dm-0): metadata I/O error in "xfs_imap_to_bp+0x5d/0xc0 [xfs]" at daddr 0x5a0 len 32 error 5', "dm-0", null],
    ];
    for (const [msg, dev, ctrl] of cases) {
      const f = matchMessage(msg);
      assert.ok(f && f.kind === "io_error", msg);
      assert.deepEqual([f.dev, f.ctrl], [dev, ctrl], msg);
    }
  });

  it("reads ext4's I/O error warnings, an NVMe controller that died (CSTS all ones, not ready, removed) and an XFS shutdown", () => {
    const cases: [string, string | null, string | null][] = [
      // ext4_end_bio under a failing LVM volume: the only line that names dm-1 (the block layer names the disk below).
      ["EXT4-fs warning (device dm-1): ext4_end_bio:343: I/O error 10 writing to inode 1234 starting block 5678)", "dm-1", null],
      ["EXT4-fs (sda1): I/O error while writing superblock", "sda1", null],
      ["EXT4-fs error (device sda1) in ext4_reserve_inode_write:5876: IO failure", "sda1", null],
      ["nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", null, "nvme0"],
      ["nvme nvme3: Device not ready; aborting reset, CSTS=0x1", null, "nvme3"],
      ["nvme nvme3: Removing after probe failure status: -19", null, "nvme3"],
      ["nvme nvme2: Disabling device after reset failure: -19", null, "nvme2"],
      // XFS found corruption or shut down: every I/O on it fails from then on.
      ["XFS (sda1): Corruption of in-memory data (0x8) detected at xfs_trans_cancel+0x1b0/0x1e0 [xfs] (fs/xfs/xfs_trans.c:1097).  Shutting down filesystem.", "sda1", null],
      ["XFS (dm-0): Metadata corruption detected at xfs_dinode_verify+0xa0/0x6b0 [xfs], inode 0x2000085 dinode", "dm-0", null],
      ["XFS (nvme0n1): Filesystem has been shut down due to log error (0x2).", "nvme0n1", null],
    ];
    for (const [msg, dev, ctrl] of cases) {
      const f = matchMessage(msg);
      assert.ok(f && f.kind === "io_error", msg);
      assert.deepEqual([f.dev, f.ctrl], [dev, ctrl], msg);
    }
    for (const msg of [
      "EXT4-fs warning (device sda1): ext4_dx_add_entry:2484: Directory (ino: 2) index full, reach max htree level :2",
      "nvme nvme0: resetting controller",
      "XFS (nvme1n1): Mounting V5 Filesystem 5c0d2e1a-8f3b-4a6e-9d1c-2b7e4f6a8c90",
      "XFS (nvme1n1): Ending clean mount",
    ]) {
      assert.equal(matchMessage(msg), null, msg);
    }
  });

  it("reads mlx5 link down and module errors, not link up or a plugged cable", () => {
    const down = matchMessage("mlx5_core 0000:17:00.0 ens1f0np0: Link down");
    assert.ok(down && down.kind === "mlx5_link");
    assert.deepEqual([down.pci, down.name], ["0000:17:00.0", "ens1f0np0"]);
    const mod = matchMessage("mlx5_core 0000:5c:00.0: Port module event[error]: module 0, Cable error, High Temperature");
    assert.ok(mod && mod.kind === "mlx5_link");
    assert.deepEqual([mod.pci, mod.name], ["0000:5c:00.0", null]);
    const old = matchMessage("mlx5_core 0000:5c:00.0: mlx5_port_module_event:1131:(pid 0): Port module event[error]: module 0, Cable error, High Temperature");
    assert.ok(old && old.kind === "mlx5_link");
    const ib = matchMessage("mlx5_core 0000:ab:00.0 mlx5_5: Port: 1 Link DOWN");
    assert.ok(ib && ib.kind === "mlx5_link");
    assert.equal(ib.name, "mlx5_5");
    for (const msg of [
      "mlx5_core 0000:17:00.0 ens1f0np0: Link up",
      "mlx5_core 0000:ab:00.0 mlx5_5: Port: 1 Link ACTIVE",
      "mlx5_core 0000:ab:00.0 mlx5_5: Port: 1 Link INIT",
      "mlx5_core 0000:17:00.0: Port module event: module 0, Cable plugged",
      "mlx5_core 0000:17:00.0: E-Switch: Total vports 10, per vport: max uc(128) max mc(2048)",
    ]) {
      assert.equal(matchMessage(msg), null, msg);
    }
  });

  it("reads OOM kills, hung tasks and NFS servers", () => {
    const oom = matchMessage("Out of memory: Killed process 4242 (python3) total-vm:98765432kB, anon-rss:81234567kB, file-rss:0kB");
    assert.ok(oom && oom.kind === "oom_kill");
    assert.deepEqual([oom.pid, oom.comm], [4242, "python3"]);
    const cg = matchMessage("Memory cgroup out of memory: Killed process 5151 (pt_main_thread) total-vm:1234567kB");
    assert.ok(cg && cg.kind === "oom_kill");
    assert.equal(cg.pid, 5151);
    const old = matchMessage("Killed process 77 (java) total-vm:2036340kB, anon-rss:1046000kB, file-rss:0kB");
    assert.ok(old && old.kind === "oom_kill");
    // RHEL/CentOS 7 (3.10) names the owner after the command.
    const el7 = matchMessage("Killed process 45465 (torchrun), UID 1000, total-vm:7582132kB, anon-rss:7420324kB, file-rss:0kB, shmem-rss:0kB");
    assert.ok(el7 && el7.kind === "oom_kill");
    assert.deepEqual([el7.pid, el7.comm], [45465, "torchrun"]);
    // Choosing a victim is not killing it; the reaper's note comes after the kill.
    assert.equal(matchMessage("Out of memory: Kill process 77 (java) score 900 or sacrifice child"), null);
    assert.equal(matchMessage("oom_reaper: reaped process 4242 (python3), now anon-rss:0kB"), null);
    const hung = matchMessage("INFO: task kworker/u16:3:6262 blocked for more than 120 seconds.");
    assert.ok(hung && hung.kind === "hung_task");
    assert.deepEqual([hung.pid, hung.comm], [6262, "kworker/u16:3"]);
    const nfs = matchMessage("nfs: server nfs01.example.org not responding, still trying");
    assert.ok(nfs && nfs.kind === "nfs");
    assert.deepEqual([nfs.server, nfs.ok], ["nfs01.example.org", false]);
    const ok = matchMessage("nfs: server 10.0.0.5 OK");
    assert.ok(ok && ok.kind === "nfs");
    assert.deepEqual([ok.server, ok.ok], ["10.0.0.5", true]);
  });

  it("reads the kernel's reports of fault signals that kill a task (x86-64, Linux 6.18's own lines), not other signals' lines", () => {
    const lines = readFileSync(join(ROOT, "test/fixtures/kmsg/signals.kmsg"), "utf8").trim().split("\n");
    const found = lines.map((l) => matchMessage(parseRecord(l)!.message));
    assert.deepEqual(
      found.map((f) => (f?.kind === "fatal_signal" ? [f.pid, f.comm, f.signal] : f)),
      [[15910, "python3", "SIGSEGV"], [15443, "python3", "SIGILL"], [15484, "python3", "SIGSEGV"], [15525, "python3", "SIGFPE"]],
    );
    // Older kernels: "general protection" without "fault", a comm with a space, no "likely on CPU".
    const old = matchMessage("traps: Web Content[3141] general protection ip:7f3a sp:7ffc error:0 in libxul.so[7f2a+5e3b000]");
    assert.ok(old?.kind === "fatal_signal" && old.pid === 3141 && old.comm === "Web Content");
    const seg = matchMessage("pt_main_thread[4242]: segfault at 10 ip 00007f1c sp 00007ffd error 4 in libcuda.so.1[7f1b+2b4a000]");
    assert.ok(seg?.kind === "fatal_signal" && seg.pid === 4242 && seg.signal === "SIGSEGV");
    // What a handled or sent signal leaves, and the fatal-signal debug line, name no kill of a fault.
    assert.equal(matchMessage("potentially unexpected fatal signal 11."), null);
    assert.equal(matchMessage("traps: python3[1] trap invalid opcode"), null, "no ip: not the trap report");
  });

  it("takes nothing from ordinary kernel chatter", () => {
    for (const msg of [
      "EXT4-fs (nvme1n1p2): mounted filesystem 6a1c4e2b r/w with ordered data mode. Quota mode: none.",
      "EXT4-fs (sdb1): error count since last fsck: 3",
      "blk_update_request: I/O error, dev loop8, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
      "I/O error, dev fd0, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
      // A write-zeroes or discard the disk does not support loses no data.
      "operation not supported error, dev sdb, sector 0 op 0x9:(WRITE_ZEROES) flags 0x0 phys_seg 0 prio class 2",
      "Buffer I/O error on dev sr0, logical block 0, async page read",
      "EXT4-fs error (device loop3): ext4_find_entry:1455: inode #2",
      "nvme nvme1: 32/0/0 default/read/poll queues",
      // A lost interrupt: the command had completed when the driver polled for it.
      "nvme nvme0: I/O 978 QID 3 timeout, completion polled",
      "nvme nvme0: I/O tag 12 (100c) QID 0 timeout, completion polled",
      "NVRM: GPU at PCI:0000:9b:00: GPU-509665ad-b600-ac93-3616-d754b23d636d",
      "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.183.01",
      "python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0",
      "ACPI Error: AE_NOT_FOUND, While resolving a named reference package element",
      "i8042: No controller found",
      "",
    ]) {
      assert.equal(matchMessage(msg), null, msg);
    }
  });
});
