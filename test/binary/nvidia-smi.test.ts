// builtin:nvidia-smi through the compiled binary, with the stand-in nvidia-smi first on PATH:
// two compute processes become `consumes` edges on their GPUs.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

describe("builtin:nvidia-smi in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter;
  const pidDir = mkdtempSync(join(tmpdir(), "xctl-smi-"));
  const pidFile = join(pidDir, "smi.pid");
  after(async () => {
    await ex?.stop();
    rmSync(pidDir, { recursive: true, force: true });
  });

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

  it("says why a process on a GPU whose row remapping failed is stuck, and status shows gpu_xid", async () => {
    const smi = await startExporter(["--probe", "builtin:nvidia-smi"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_PID1: "7171", FAKE_SMI_PID2: "7272", FAKE_SMI_REMAP_FAILURE: "1" },
    });
    try {
      await eventually(async () => (await scrape(smi.url)).get('xctl_scene_active{scene="gpu_xid"}') === 1, 15_000, "gpu_xid active");
      const why = await runCli(["why", "7272", "--url", smi.url]);
      assert.equal(why.code, 0, why.stderr);
      assert.match(why.stdout, /^ {2}ROW_REMAP_FAILURE remapped_rows\.failure=Yes: replace the GPU on gpu-01 \(error-gpu-01, since /m, why.stdout);
      assert.match(why.stdout, /^ {2}gpu_xid \(GPU Xid error\), critical/m, why.stdout);
      // pid 7171 on gpu-00 is not concerned.
      const other = await runCli(["why", "7171", "--url", smi.url]);
      assert.doesNotMatch(other.stdout, /ROW_REMAP|gpu_xid/, other.stdout);
      const status = await runCli(["status", "--url", smi.url]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /gpu_xid/, status.stdout);
      assert.match(status.stdout, /7272/, status.stdout);
    } finally {
      await smi.stop();
    }
  });
});
