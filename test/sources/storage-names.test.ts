// The names the storage collectors give a device (kmsg: the disk of an I/O error; procfs: the
// device a process in D waits on, from its mountinfo; diskstats: every disk, dm- and md devices
// included) must be names the default storage rules match, or the scene never comes: a file
// system on LVM is `dm-N`, a Xen/older EC2 disk `xvdX`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ev, scenario, start } from "../diagnosis/_scenario.ts";

const DEVICES = ["nvme0n1", "sda", "vda", "xvdb", "md127", "dm-0"];

describe("storage device names and the default storage rules", () => {
  for (const dev of DEVICES) {
    it(`${dev}: a process in D waiting on it, then an I/O error on it: storage_io_error`, () => {
      const s = scenario();
      s.send(start(4242));
      // What builtin:procfs emits for a process stuck on the device, and builtin:kmsg for the error.
      s.send(ev("storage.qdepth", dev, "IO_WAIT D for 45s", 4242));
      s.send(ev("error.hw", dev, `IO_ERROR XFS (${dev}): metadata I/O error in "xfs_buf_ioend" at daddr 0x1c90 len 8 error 5`));
      assert.ok(s.scenes().includes("storage_io_error"), dev);
    });

    it(`${dev}: a process waiting on it while it does 20 IOPS: storage_slow`, () => {
      const s = scenario();
      s.send(start(4242));
      // builtin:diskstats' round, then builtin:procfs's (its IO_WAIT lands in the same qdepth key).
      s.send(ev("storage.iops", dev, "20"));
      s.send(ev("storage.qdepth", dev, "16"));
      s.send(ev("storage.qdepth", dev, "IO_WAIT D for 45s", 4242));
      assert.ok(s.scenes().includes("storage_slow"), dev);
    });

    it(`${dev}: a process in D on it while it does 20 IOPS with nothing queued (idle): no storage_slow`, () => {
      const s = scenario();
      s.send(start(4242));
      s.send(ev("storage.iops", dev, "20"));
      s.send(ev("storage.qdepth", dev, "0"));
      s.send(ev("storage.qdepth", dev, "IO_WAIT D for 45s", 4242));
      assert.ok(!s.scenes().includes("storage_slow"), dev);
    });
  }

  it("nfs-<server>: a process in D on the mount of an NFS server that stopped answering: storage_io_error for that pid", () => {
    const s = scenario();
    s.send(start(4242));
    s.send(start(5151));
    s.send(ev("compute.util", "gpu-00", "0", 4242));
    // builtin:procfs: 4242 in D on an NFS mount; builtin:kmsg: the server does not answer.
    s.send(ev("process.state", "pid-4242", "D", 4242));
    s.send(ev("storage.qdepth", "nfs-fs01", "IO_WAIT D for 45s", 4242));
    s.send(ev("error.net", "nfs-fs01", "NFS_NOT_RESPONDING nfs: server fs01 not responding, still trying"));
    assert.ok(s.scenes().includes("storage_io_error"));
    const run = s.ex.engine.results()[0];
    const m = run.matches.find((x) => x.scene === "storage_io_error")!;
    assert.deepEqual(m.affected_pids, [4242], "only the process on that mount");
  });

  it("an NFS server that answers again (nfs: server OK emits nothing) or one no process waits on makes no scene", () => {
    const s = scenario();
    s.send(start(4242));
    s.send(ev("error.net", "nfs-fs01", "NFS_NOT_RESPONDING nfs: server fs01 not responding, still trying"));
    assert.ok(!s.scenes().includes("storage_io_error"));
  });
});
