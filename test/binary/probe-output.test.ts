// What a probe prints, through the compiled binary (issue 13, points 12 and 14): control
// characters from a probe never reach the log raw, a lone CR ends a line, a line cut off at
// exit counts as truncated, and a probe dies with an exporter killed by SIGKILL.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, sleep, startExporter } from "../_helpers.ts";
import { isRunning } from "./_proc.ts";

const BINARY = process.env.XCTL_BINARY;
const FAULTS = join(ROOT, "test/fixtures/fault-probes");

function hasSetpriv(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v setpriv"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("probe output, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("escapes control characters in logged stderr and rejected lines; a lone CR ends a line; a cut last line is truncated", { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-odd-"));
    const ex = await startExporter(["--probe", `${join(FAULTS, "odd-output.sh")} ${dir}`]);
    try {
      let m = new Map<string, number>();
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        m = await scrape(ex.url);
        if ((m.get("xctl_events_total") ?? 0) >= 3 && (m.get('xctl_events_rejected_total{reason="truncated"}') ?? 0) >= 1) break;
        await sleep(100);
      }
      assert.equal(m.get("xctl_events_total"), 3, "both events around the lone CR, and the next line");
      // The line with a raw ESC in a string (JSON forbids it); the lone CR merged nothing.
      assert.equal(m.get('xctl_events_rejected_total{reason="invalid_json"}'), 1);
      assert.equal(m.get('xctl_events_rejected_total{reason="truncated"}'), 1);
      // The probe's stderr is read apart from its events, and the log reaches this test through a
      // pipe: wait for both lines rather than a fixed 200 ms.
      const said = (log: string) => /stderr: \\x1b\]0;pwned\\x07\\x1b\[31mred on stderr/.test(log) && /invalid_json: .*\\x1b\[2Jcleared/.test(log);
      const log = await eventually(() => (said(ex.stderr()) ? ex.stderr() : undefined), 10_000, "the probe's stderr line and the invalid_json line in the log");
      assert.ok(!log.includes("\u001b") && !log.includes("\u0007"), `raw control characters in the log:\n${JSON.stringify(log)}`);
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a probe dies with the exporter even when the exporter is killed by SIGKILL (setpriv --pdeathsig)", { timeout: 20_000, skip: hasSetpriv() ? false : "no setpriv (util-linux) on this host" }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-pdeath-"));
    const pidFile = join(dir, "probe.pid");
    const ex = await startExporter(["--probe", `sh -c 'echo $$ > ${pidFile}; exec sleep 60'`]);
    let pid = 0;
    try {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && pid === 0) {
        try {
          pid = Number(readFileSync(pidFile, "utf8").trim()) || 0;
        } catch {
          await sleep(50);
        }
      }
      assert.ok(pid > 0 && isRunning(pid), "the probe runs");
      await ex.stop("SIGKILL");
      const gone = Date.now() + 2000;
      while (Date.now() < gone && isRunning(pid)) await sleep(50);
      assert.ok(!isRunning(pid), "the probe died with the exporter");
    } finally {
      try {
        if (pid > 0) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
