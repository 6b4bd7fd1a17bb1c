// builtin:nvidia-smi through the compiled binary, with the stand-in nvidia-smi first on PATH:
// two compute processes become `consumes` edges on their GPUs; with builtin:kmsg beside it, a GPU
// that fell off the bus before the exporter started has one name in both; one GPU lost does not
// hide the processes of the others.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, runCli, scrape, settled, startExporter, type RunningExporter } from "../_helpers.ts";

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

  it("says a GPU's PCIe link runs on half its lanes as gpu_slowdown, a warning, for the process on it alone", async () => {
    const smi = await startExporter(["--probe", "builtin:nvidia-smi"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_PID1: "7171", FAKE_SMI_PID2: "7272", FAKE_SMI_LINK_WIDTH1: "8" },
    });
    try {
      await eventually(async () => (await scrape(smi.url)).get('xctl_scene_active{scene="gpu_slowdown"}') === 1, 15_000, "gpu_slowdown active");
      const why = await runCli(["why", "7272", "--url", smi.url]);
      assert.equal(why.code, 0, why.stderr);
      assert.match(why.stdout, /^ {2}PCIE_LINK_DEGRADED width x8 of x16 on gpu-01 \(error-gpu-01, since /m, why.stdout);
      assert.match(why.stdout, /^ {2}gpu_slowdown \(GPU hardware slowdown\), warning/m, why.stdout);
      assert.doesNotMatch(why.stdout, /gpu_xid|process_crash/, why.stdout);
      // pid 7171 on gpu-00, whose link is whole, is not concerned.
      const other = await runCli(["why", "7171", "--url", smi.url]);
      assert.doesNotMatch(other.stdout, /PCIE_LINK|gpu_slowdown/, other.stdout);
      assert.equal((await scrape(smi.url)).get('xctl_scene_active{scene="gpu_xid"}'), 0);
    } finally {
      await smi.stop();
    }
  });
});

describe("a GPU fallen off the bus before the binary started, on an older driver", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("is one GPU to builtin:nvidia-smi and builtin:kmsg: the job on it is blocked by both the Xid 79 and GPU_LOST", { timeout: 60_000 }, async () => {
    // GPU 1 (0000:3b:00) fell off the bus a while ago: its Xid 79 is in the kernel's ring, and
    // nvidia-smi prints "Unable to determine the device handle for GPU 0000:3B:00.0" (no index,
    // as drivers before R550 say it) in its place. The driver still lists it under
    // /proc/driver/nvidia/gpus (the fixture tree: 0000:18, 0000:3b, 0000:86, 0009:01).
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-kmsg-"));
    const procfs = join(dir, "proc");
    mkdirSync(procfs, { recursive: true });
    cpSync(join(ROOT, "test/fixtures/kmsg/procfs/driver"), join(procfs, "driver"), { recursive: true });
    const btime = Math.floor(Date.now() / 1000) - 3600;
    writeFileSync(join(procfs, "stat"), `cpu  1 2 3 4 5 6 7 0 0 0\nbtime ${btime}\nprocesses 10\n`);
    const kmsg = join(dir, "kmsg");
    const at = (Date.now() - 30_000 - btime * 1000) * 1000;
    writeFileSync(kmsg, `4,1031,${at},-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n`);
    const args = ["--collectors", "none", "--probe", "builtin:nvidia-smi", "--probe", `builtin:kmsg?path=${kmsg}`, "--path.procfs", procfs, "--diagnosis-interval", "100ms", "--scene-settle", "0s"];
    const env = { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_LOST_FILE: dir, FAKE_SMI_LOST_FORM: "handle" };
    const ex = await startExporter(args, { env });
    try {
      type Graph = { nodes: { id: string; type: string; error_type?: string }[] };
      const graph = async () => (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as Graph;
      await eventually(async () => (await graph()).nodes.some((n) => n.error_type?.startsWith("XID_79")), 15_000, "the Xid 79 from the ring's backlog");
      // Then the job's own probe says it runs on GPU 1 (nvidia-smi lists no process of a GPU it
      // has no handle for), and its start, a minute ago, before the fall.
      const now = Date.now();
      const body = [
        { ts: now - 1000, event_type: "compute.util", entity_id: "gpu-01", pid: 5900, job_id: "job-59", value: "93" },
        { ts: now - 60_000, event_type: "process.state", entity_id: "pid-5900", pid: 5900, job_id: "job-59", value: "start" },
      ];
      const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: body.map((e) => JSON.stringify(e)).join("\n") });
      assert.equal(res.status, 200, await res.text());
      // nvidia-smi's faults wait for its first process snapshot, up to 10 s when none comes.
      await settled(async () => {
        const why = (await runCli(["why", "5900", "--url", ex.url])).stdout;
        assert.match(why, /^ {2}GPU_LOST Unable to determine the device handle for GPU 0000:3B:00\.0: Unknown Error on gpu-01 \(error-gpu-01, /m, why);
        assert.match(why, /^ {2}XID_79 NVRM: Xid \(PCI:0000:3b:00\): 79, GPU has fallen off the bus\. on gpu-01 \(error-gpu-01, /m, why);
      }, 30_000);
      const { nodes } = await graph();
      const ids = (type: string) => nodes.filter((n) => n.type === type).map((n) => n.id).sort();
      assert.deepEqual(ids("resource"), ["gpu-00", "gpu-01"], "two GPUs, not three");
      assert.deepEqual(ids("error"), ["error-gpu-01"]);
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("one GPU of three fallen off the bus, through the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("still reads the other GPUs' processes: a job on gpu-00 exits, a new one on gpu-02 appears, the one on gpu-01 stays, blocked by GPU_LOST", { timeout: 60_000 }, async () => {
    // nvidia-smi prints GPU 0's process, "Unable to determine the device handle for GPU
    // 0000:3B:00.0: Unknown Error" in GPU 1's place, GPU 2's processes, and exits 15. No host
    // /proc (no kthreadd at pid 2), as in a container: nvidia-smi's word on exits is taken.
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-lost-"));
    const procfs = join(dir, "proc");
    mkdirSync(procfs, { recursive: true });
    const [lost, gone1, new3] = ["lost", "gone1", "new3"].map((f) => join(dir, f));
    const args = ["--collectors", "none", "--probe", "builtin:nvidia-smi", "--path.procfs", procfs, "--diagnosis-interval", "100ms", "--scene-settle", "0s"];
    const env = {
      PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`,
      ...{ FAKE_SMI_GPUS: "3", FAKE_SMI_PID1: "5151", FAKE_SMI_PID2: "6262", FAKE_SMI_PID3: "7373" },
      ...{ FAKE_SMI_PID3_FILE: new3, FAKE_SMI_GONE1_FILE: gone1, FAKE_SMI_LOST_FILE: lost, FAKE_SMI_LOST_FORM: "handle" },
    };
    const ex = await startExporter(args, { env });
    try {
      type Row = { pid: number; state: string; consumes: string[]; blocked_by_errors: { entity: string; error_type: string }[] };
      const rows = async () => new Map(((await (await fetch(`${ex.url}/api/v1/processes`)).json()) as Row[]).map((r) => [r.pid, r]));
      await eventually(async () => {
        const r = await rows();
        return r.get(5151)?.consumes[0] === "gpu-00" && r.get(6262)?.consumes[0] === "gpu-01";
      }, 15_000, "the jobs on gpu-00 and gpu-01");
      writeFileSync(lost, "");
      type Graph = { nodes: { id: string; error_type?: string }[] };
      await eventually(async () => ((await (await fetch(`${ex.url}/api/v1/graph`)).json()) as Graph).nodes.some((n) => n.id === "error-gpu-01" && n.error_type?.startsWith("GPU_LOST")), 15_000, "GPU_LOST on gpu-01");
      // While GPU 1 stays lost: a job starts on GPU 2 and the one on GPU 0 ends.
      writeFileSync(new3, "");
      writeFileSync(gone1, "");
      await eventually(async () => {
        const r = await rows();
        const gone = r.get(5151) === undefined || r.get(5151)!.state === "exit";
        return gone && r.get(7373)?.consumes.join() === "gpu-02";
      }, 15_000, "the exit on gpu-00 and the new job on gpu-02");
      await settled(async () => {
        const job = (await rows()).get(6262);
        assert.ok(job, "the job on the lost GPU is still there");
        assert.notEqual(job.state, "exit");
        assert.deepEqual(job.consumes, ["gpu-01"]);
        assert.ok(job.blocked_by_errors.some((e) => e.entity === "gpu-01" && e.error_type.startsWith("GPU_LOST")), JSON.stringify(job));
        const why = (await runCli(["why", "6262", "--url", ex.url])).stdout;
        assert.match(why, /^ {2}GPU_LOST Unable to determine the device handle for GPU 0000:3B:00\.0: Unknown Error on gpu-01 \(error-gpu-01, /m, why);
      }, 30_000);
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
