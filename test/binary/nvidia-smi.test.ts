// builtin:nvidia-smi through the compiled binary, with the stand-in nvidia-smi first on PATH:
// two compute processes become `consumes` edges on their GPUs.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

describe("builtin:nvidia-smi in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter;
  after(() => ex?.stop());
  const pidFile = join(mkdtempSync(join(tmpdir(), "xctl-smi-")), "smi.pid");

  it("turns two compute processes into consumes edges on gpu-00 and gpu-01", async () => {
    ex = await startExporter(["--probe", "builtin:nvidia-smi"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_PID1: "5151", FAKE_SMI_PID2: "6262", FAKE_SMI_PIDFILE: pidFile },
    });
    const m = await eventually(async () => {
      const s = await scrape(ex.url);
      return s.get("xctl_consumes_edges") === 2 ? s : undefined;
    }, 15_000, "two consumes edges");
    assert.equal(m.get('xctl_probe_up{probe="nvidia-smi"}'), 1);
    assert.equal(m.get("xctl_active_processes"), 2);
    assert.ok(m.get('xctl_events_by_type{event_type="compute.util"}')! > 0);

    const rows = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; resources: string[] }[];
    const byPid = new Map(rows.map((r) => [r.pid, r.resources]));
    assert.deepEqual(byPid.get(5151), ["gpu-00"]);
    assert.deepEqual(byPid.get(6262), ["gpu-01"]);
  });

  it("leaves no nvidia-smi child behind after SIGTERM", async () => {
    const smiPid = Number(readFileSync(pidFile, "utf8").trim());
    assert.ok(existsSync(`/proc/${smiPid}`), "the looping nvidia-smi runs");
    assert.equal(await ex.stop(), 0);
    await eventually(() => !existsSync(`/proc/${smiPid}`), 3000, "nvidia-smi reaped");
  });
});
