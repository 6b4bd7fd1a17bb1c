// builtin:npu-smi through the compiled binary, with the stand-in npu-smi on PATH: processes
// consume their NPUs, and when the stand-in's state turns bad (HBM ECC errors, an HCCS link
// down) the default rules name the scenes and `why` names the cause.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

// The processes npu-smi lists here have pids no process of this host can have (Linux's largest
// pid_max is 4194304): a pid that leaves the table is ended only once /proc no longer has it
// (exit-check.ts), and the stand-in's 7202 was now and then a live process of a busy machine
// (pid_max 32768 wraps in minutes there), whose exit the test then waited for in vain.
const PID0 = 4_194_401;
const PID1 = 4_194_402;

/** Replaces the stand-in's state at once (a run never reads it half written: its defaults are other pids). */
function _setState(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe("builtin:npu-smi in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter | undefined;
  const dir = mkdtempSync(join(tmpdir(), "xctl-npu-bin-"));
  const state = join(dir, "state");
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns the processes on npu-00 and npu-01 into consumes edges", async () => {
    _setState(state, `PID0=${PID0}\nPID1=${PID1}\n`);
    ex = await startExporter(["--collectors", "none", "--probe", "builtin:npu-smi?interval=0.2&detail=0.2"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_NPU_STATE: state },
    });
    const m = await eventually(async () => {
      const s = await scrape(ex!.url);
      return s.get("xctl_consumes_edges") === 2 ? s : undefined;
    }, 15_000, "two consumes edges");
    assert.equal(m.get('xctl_probe_up{probe="npu-smi"}'), 1);
    const rows = (await (await fetch(`${ex!.url}/api/v1/processes`)).json()) as { pid: number; resources: string[] }[];
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.pid, r.resources])), { [PID0]: ["npu-00"], [PID1]: ["npu-01"] });
  });

  it("HBM ECC errors and an HCCS link down fire npu_ecc_error and hccs_error; why names them", async () => {
    _setState(state, `PID0=${PID0}\nPID1=${PID1}\nHBM_DBE0=2\nHCCS_HEALTH0=NOK\n`);
    await eventually(async () => {
      const s = await scrape(ex!.url);
      return s.get('xctl_scene_active{scene="npu_ecc_error"}') === 1 && s.get('xctl_scene_active{scene="hccs_error"}') === 1;
    }, 15_000, "both scenes active");
    const why = (await (await fetch(`${ex!.url}/api/v1/why/${PID0}`)).json()) as {
      root_causes: { entity: string; error_type: string }[];
      waits_on: { resource: string }[];
      scenes: { scene: string }[];
    };
    assert.ok(
      why.root_causes.some((c) => c.entity === "npu-00" && c.error_type === "ECC_UNCORRECTED double-bit hbm=2 ddr=0"),
      JSON.stringify(why.root_causes),
    );
    assert.deepEqual(why.waits_on.map((w) => w.resource), ["hccs-0"]);
    assert.ok(why.scenes.some((s) => s.scene === "npu_ecc_error"), JSON.stringify(why.scenes));
    // The process on the healthy NPU is not blamed.
    const other = (await (await fetch(`${ex!.url}/api/v1/why/${PID1}`)).json()) as { root_causes: unknown[]; waits_on: unknown[] };
    assert.deepEqual([other.root_causes, other.waits_on], [[], []]);
  });

  it("a process gone from npu-smi's table leaves, and SIGTERM exits 0", async () => {
    _setState(state, `PID0=${PID0}\nPID1=\n`);
    await eventually(async () => (await scrape(ex!.url)).get("xctl_active_processes") === 1, 15_000, "one process left");
    assert.equal(await ex!.stop(), 0);
  });
});

// A chip going bad as npu-smi shows it: its row turns Critical with NA in every cell while the run
// exits non-zero after printing the table, then the chip drops out of the table altogether. Both
// are the scene npu_fault; a general (Warning) alarm of the same unnamed kind is not.
describe("builtin:npu-smi in the binary when a chip goes bad", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter | undefined;
  const dir = mkdtempSync(join(tmpdir(), "xctl-npu-bad-"));
  const state = join(dir, "state");
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  type Status = {
    sources: { name: string; state: string; restarts: number }[];
    unexplained_errors: { entity: string; error_type: string }[];
    scenes: { scene: string; errors: string[]; affected_pids: number[] }[];
  };
  type Why = { root_causes: { entity: string; error_type: string }[]; scenes: { scene: string }[] };
  const why = async (pid: number) => (await (await fetch(`${ex!.url}/api/v1/why/${pid}`)).json()) as Why;
  const active = async (scene: string) => (await scrape(ex!.url)).get(`xctl_scene_active{scene="${scene}"}`);
  const status = async () => (await (await fetch(`${ex!.url}/api/v1/status`)).json()) as Status;

  it("a general (Warning) alarm no kind names is evidence in why, no scene", async () => {
    writeFileSync(state, "HEALTH1=Warning\nCODE1=80C98000\nINFO1='node type=DVPP, sensor type=General Purpose'\n");
    ex = await startExporter(["--collectors", "none", "--probe", "builtin:npu-smi?interval=0.2&detail=0.2"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_NPU_STATE: state },
    });
    const warning = "NPU_FAULT health=Warning code=80C98000 node type=DVPP, sensor type=General Purpose";
    const w = await eventually(async () => ((await why(7202)).root_causes.length > 0 ? await why(7202) : undefined), 15_000, "a root cause for pid 7202");
    assert.deepEqual(w.root_causes.map((c) => [c.entity, c.error_type]), [["npu-01", warning]]);
    assert.deepEqual(w.scenes.map((x) => x.scene), []);
    assert.equal(await active("npu_fault"), 0);
    assert.ok((await status()).unexplained_errors.some((x) => x.entity === "npu-01" && x.error_type === warning));
  });

  it("blames the Critical chip whose row reads NA under npu_fault, stays up on a run that failed after its table, and says a chip that left the table", async () => {
    writeFileSync(state, "BROKEN1=1\nINFO_EXIT=1\nHEALTH1=Critical\nCODE1=80A28008\nINFO1='node type=AICORE, sensor type=Hang'\n");
    const fault = "NPU_FAULT health=Critical code=80A28008 node type=AICORE, sensor type=Hang";
    const w = await eventually(async () => {
      const x = await why(7202);
      return x.root_causes.some((c) => c.error_type === fault) && x.scenes.length > 0 ? x : undefined;
    }, 15_000, "npu_fault for pid 7202");
    // The Warning of the test before is still in the error window: both are its chip's.
    assert.deepEqual(w.root_causes.filter((c) => c.error_type === fault).map((c) => c.entity), ["npu-01"]);
    assert.deepEqual(w.scenes.map((x) => x.scene), ["npu_fault"]);
    const other = await why(7101);
    assert.deepEqual([other.root_causes, other.scenes], [[], []], "the healthy neighbour is not blamed");
    await eventually(async () => (await active("npu_fault")) === 1, 15_000, "npu_fault active");
    const st = await eventually(async () => {
      const x = await status();
      return x.scenes.some((s) => s.scene === "npu_fault" && s.affected_pids.includes(7202)) ? x : undefined;
    }, 15_000, "npu_fault in status with pid 7202");
    assert.deepEqual(st.sources.map((s) => [s.name, s.state, s.restarts]), [["npu-smi", "up", 0]]);
    assert.ok(!st.unexplained_errors.some((x) => x.error_type === fault), JSON.stringify(st.unexplained_errors));

    // The chip leaves the table (its process rows with it: the stand-in's pid is no process here,
    // so it is said to have exited): npu_fault now names NPU_LOST, explained, not loose.
    writeFileSync(state, "MISSING1=1\n");
    const lost = "NPU_LOST no longer listed by npu-smi info";
    await eventually(async () => (await status()).scenes.some((s) => s.scene === "npu_fault" && s.errors.some((e) => e.includes(lost))), 15_000, "NPU_LOST under npu_fault in status");
    assert.ok(!(await status()).unexplained_errors.some((x) => x.error_type === lost));
    assert.equal((await scrape(ex!.url)).get('xctl_probe_up{probe="npu-smi"}'), 1);
  });

  it("shows npu-smi refused by the driver (dcmi -8005) as down with why in status, not crash-looping", async () => {
    writeFileSync(state, "FAIL=0\n");
    const src = await eventually(async () => {
      const s = (await status()).sources as unknown as { name: string; state: string; restarts: number; reason: string | null }[];
      return s[0]?.state === "down" ? s[0] : undefined;
    }, 15_000, "npu-smi down");
    assert.equal(src.reason, "npu-smi cannot reach the NPU driver: dcmi module initialize failed. ret is -8005");
    assert.equal((await scrape(ex!.url)).get('xctl_probe_up{probe="npu-smi"}'), 0);
    const restarts = src.restarts;
    await new Promise((r) => setTimeout(r, 1500));
    const again = (await status()).sources as unknown as { state: string; restarts: number }[];
    assert.deepEqual([again[0]!.state, again[0]!.restarts], ["down", restarts], "retried without counting restarts");
  });
});

// A minor (Warning) alarm of a chip's memory, as npu-smi's health lists it when correctable ECC
// errors pass their threshold: sub-health, a warning, not the critical npu_ecc_error, which
// needs a major or critical alarm or uncorrectable errors counted.
describe("builtin:npu-smi in the binary with a minor memory alarm", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter | undefined;
  const dir = mkdtempSync(join(tmpdir(), "xctl-npu-minor-"));
  const state = join(dir, "state");
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is npu_subhealth (warning) for the process on the chip, not npu_ecc_error", async () => {
    writeFileSync(state, "HEALTH1=Warning\nCODE1=80CB8000\nINFO1='node type=HBM, sensor type=Memory, event state=single-bit ECC errors over threshold'\n");
    ex = await startExporter(["--collectors", "none", "--probe", "builtin:npu-smi?interval=0.2&detail=0.2"], {
      env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_NPU_STATE: state },
    });
    const alarm = "ECC memory error health=Warning code=80CB8000 node type=HBM, sensor type=Memory, event state=single-bit ECC errors over threshold";
    await eventually(async () => (await scrape(ex!.url)).get('xctl_scene_active{scene="npu_subhealth"}') === 1, 15_000, "npu_subhealth active");
    const w = (await (await fetch(`${ex!.url}/api/v1/why/7202`)).json()) as { root_causes: { entity: string; error_type: string }[]; scenes: { scene: string; severity?: string }[] };
    assert.deepEqual(w.root_causes.map((c) => [c.entity, c.error_type]), [["npu-01", alarm]]);
    assert.deepEqual(w.scenes.map((x) => x.scene), ["npu_subhealth"]);
    const m = await scrape(ex!.url);
    assert.equal(m.get('xctl_scene_active{scene="npu_ecc_error"}'), 0);
    const other = (await (await fetch(`${ex!.url}/api/v1/why/7101`)).json()) as { root_causes: unknown[]; scenes: unknown[] };
    assert.deepEqual([other.root_causes, other.scenes], [[], []], "the process on the healthy chip is not blamed");
  });
});
