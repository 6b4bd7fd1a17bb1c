// builtin:kmsg against this machine's real kernel log and /proc: it reads the whole ring without
// failing, and every event it emits is one a record it read justifies (no false events).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants, accessSync } from "node:fs";
import { KmsgSource } from "../../src/sources/kmsg/kmsg-source.ts";
import { matchMessage } from "../../src/sources/kmsg/matchers.ts";
import { parseRecord } from "../../src/sources/kmsg/record.ts";
import { recorder } from "./_kmsg-kit.ts";

function _readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

// The code each event's value starts with, and what the record's message must then hold.
const _JUSTIFY: Record<string, RegExp> = {
  XID: /NVRM: Xid \(|fallen off the bus/,
  SXID: /SXid \(/,
  IO_ERROR: /error|timeout|@ LBA /i,
  PCIE_AER_FATAL: /PCIe Bus Error: (?:severity=)?Uncorrect(?:ed|able) \(Fatal\)|DPC:? containment event/,
  PCIE_AER_NONFATAL: /PCIe Bus Error: (?:severity=)?Uncorrect(?:ed|able) \(Non-Fatal\)/,
  HW_MEMORY_CORRUPTION: /due to hardware memory corruption/,
  PCIE_AER_UNRECOVERED: /[Cc]an't recover \(no error_detected callback\)|no AER-aware driver/,
  LINK_DOWN: /^mlx5_core .*Link (down|DOWN)/,
  MODULE_ERROR: /Port module event\[error\]/,
  NFS_NOT_RESPONDING: /^nfs: server .* not responding/,
};

const skip = _readable("/dev/kmsg") ? false : "/dev/kmsg is not readable here (dmesg_restrict without CAP_SYSLOG)";

describe("builtin:kmsg on this machine's /dev/kmsg", { skip }, () => {
  it("reads the ring to its end with the real /proc and /sys, and emits only what records justify", async () => {
    const src = new KmsgSource({ path: "/dev/kmsg", host: { procfs: "/proc", sysfs: "/sys" }, nvidiaSmi: null, maxAgeMs: Infinity, maxPidAgeMs: Infinity });
    const rec = recorder();
    src.start(rec.ctx);
    try {
      await rec.up;
    } finally {
      await src.stop();
    }
    assert.ok(!rec.logs.some((l) => l.startsWith("warn")), rec.logs.join("\n"));
    const read = Object.values(src.counts).reduce((a, b) => a + b, 0);
    assert.ok(read > 0, "records were read");
    assert.ok(src.counts.other > 0, "ordinary records are counted as other");
    for (const ev of rec.events) {
      const value = String(ev.value);
      if (ev.event_type === "process.state") {
        assert.ok(value === "oom_killed" || value === "D" || value === "killed", value);
        assert.ok(Number.isInteger(ev.pid), JSON.stringify(ev));
        continue;
      }
      const code = value.split(" ")[0].replace(/_\d+$/, "");
      const text = value.slice(value.indexOf(" ") + 1);
      assert.ok(_JUSTIFY[code]?.test(text), `unjustified event ${JSON.stringify(ev)}`);
      // The text is the record's own message, found again by the matchers from scratch.
      assert.notEqual(matchMessage(text), null, text);
    }
  });

  it("parses every record the kernel hands out", async () => {
    // One read() per record, as the reader does it (a plain read of the ring, not the source).
    const { open } = await import("node:fs/promises");
    const fh = await open("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = new Uint8Array(64 * 1024);
    let n = 0;
    try {
      for (let i = 0; i < 100_000; i++) {
        let got: number;
        try {
          got = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EPIPE") continue;
          if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
          throw e;
        }
        if (got === 0) break;
        const block = new TextDecoder().decode(buf.subarray(0, got)).replace(/\n$/, "");
        assert.ok(parseRecord(block), block.slice(0, 200));
        n++;
      }
    } finally {
      await fh.close();
    }
    assert.ok(n > 0);
  });
});
