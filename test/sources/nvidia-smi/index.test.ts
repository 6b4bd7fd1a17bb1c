// The nvidia-smi source against the stand-in test/fixtures/nvidia-smi, run as a real child
// process through PATH or by path. The context only records what the source does with it.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { startChild, type Child, type Env } from "../../../src/sources/child.ts";
import { NvidiaSmiSource, type NvidiaSmiOptions } from "../../../src/sources/nvidia-smi/index.ts";
import type { SourceContext } from "../../../src/sources/source.ts";
import { eventually, ROOT } from "../../_helpers.ts";
import { writeProcTree } from "../_host-kit.ts";

const FIXTURES = join(ROOT, "test/fixtures");
const FAKE = join(FIXTURES, "nvidia-smi");
const INTERVAL = 40;

type Ev = { ts: number; event_type: string; entity_id: string; pid?: number; value: string };

interface Recorder {
  ctx: SourceContext;
  events: Ev[];
  ups: boolean[];
  /** The reason given with each setUp(false), if any. */
  reasons: (string | undefined)[];
  restarts: number;
  logs: { type: string; msg: string }[];
  warns(): string[];
}

function recorder(): Recorder {
  const rec: Recorder = {
    ctx: undefined as unknown as SourceContext,
    events: [],
    ups: [],
    reasons: [],
    restarts: 0,
    logs: [],
    warns: () => rec.logs.filter((l) => l.type === "warn").map((l) => l.msg),
  };
  const log = createConsola({
    level: 5,
    reporters: [{ log: (o: LogObject) => void rec.logs.push({ type: o.type, msg: o.args.map(String).join(" ") }) }],
  });
  rec.ctx = {
    push: () => undefined,
    end: () => {},
    processes: () => [],
    emit: (e) => void rec.events.push(e as Ev),
    setUp: (up, reason) => {
      rec.ups.push(up);
      rec.reasons.push(reason);
    },
    restarted: () => void rec.restarts++,
    log,
  };
  return rec;
}

const tmp = () => mkdtempSync(join(tmpdir(), "xctl-smi-"));
const pidEvents = (r: Recorder, pid: number) => r.events.filter((e) => e.pid === pid && e.event_type.startsWith("compute."));
const gpuSamples = (r: Recorder, entity: string, type = "compute.mem") =>
  r.events.filter((e) => e.entity_id === entity && e.event_type === type && e.pid === undefined);

describe("NvidiaSmiSource against the stand-in nvidia-smi", () => {
  let source: NvidiaSmiSource | null = null;
  const dirs: string[] = [];
  const run = (rec: Recorder, opts: NvidiaSmiOptions) => {
    source = new NvidiaSmiSource({ intervalMs: INTERVAL, backoff: { initialMs: 10, maxMs: 40 }, ...opts });
    source.start(rec.ctx);
    return source;
  };
  const dir = () => {
    const d = tmp();
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    await source?.stop();
    source = null;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("finds nvidia-smi on PATH and gives each compute process pid events on its GPU", async () => {
    const rec = recorder();
    const env = { ...process.env, PATH: `${FIXTURES}${delimiter}${process.env.PATH ?? ""}`, FAKE_SMI_PID1: "51001", FAKE_SMI_PID2: "51002" };
    const s = run(rec, { env });
    assert.equal(s.name, "nvidia-smi");
    await eventually(() => pidEvents(rec, 51001).length >= 2 && pidEvents(rec, 51002).length >= 2, 10_000, "pid events");

    assert.deepEqual(new Set(pidEvents(rec, 51001).map((e) => e.entity_id)), new Set(["gpu-00"]));
    assert.deepEqual(new Set(pidEvents(rec, 51002).map((e) => e.entity_id)), new Set(["gpu-01"]));
    // GPU-level figures, without pid: util as printed, mem as percent of total.
    const util0 = gpuSamples(rec, "gpu-00", "compute.util").map((e) => Number(e.value));
    assert.ok(util0.length >= 2 && util0.every((v) => v >= 80 && v <= 89), String(util0));
    assert.ok(gpuSamples(rec, "gpu-01").every((e) => e.value === "25.1"));
    assert.ok(gpuSamples(rec, "gpu-00").every((e) => Number(e.value) >= 75.3 && Number(e.value) < 77));
    for (const e of rec.events) {
      assert.ok(Number.isInteger(e.ts) && e.ts > 0);
      assert.equal(typeof e.value, "string");
    }
    assert.ok(!rec.events.some((e) => e.event_type === "process.state" || e.event_type === "error.hw"));
    assert.deepEqual(rec.ups, [true]);
    assert.equal(rec.restarts, 0);
    assert.deepEqual(rec.warns(), []);
  });

  it("reports exit when a compute process disappears, and sees it come back", async () => {
    const rec = recorder();
    const gone = join(dir(), "gone");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_GONE_FILE: gone } });
    await eventually(() => pidEvents(rec, 4343).length > 0, 10_000, "pid 4343");
    writeFileSync(gone, "");
    const exit = await eventually(
      () => rec.events.findIndex((e) => e.event_type === "process.state") + 1,
      10_000,
      "an exit",
    );
    const after = rec.events.slice(exit - 1);
    assert.deepEqual(after[0], { ts: after[0]!.ts, event_type: "process.state", entity_id: "gpu-01", pid: 4343, value: "exit" });
    await eventually(() => pidEvents(rec, 4242).some((e) => rec.events.indexOf(e) >= exit), 10_000, "a later snapshot");
    assert.ok(!rec.events.slice(exit).some((e) => e.pid === 4343), "no event for the exited pid");
    assert.equal(rec.events.filter((e) => e.event_type === "process.state").length, 1);

    rmSync(gone);
    await eventually(() => pidEvents(rec, 4343).some((e) => rec.events.indexOf(e) >= exit), 10_000, "pid 4343 again");
  });

  it("holds back the exit of a pid that still runs on the host (its GPU left the list), until /proc loses it", async () => {
    const rec = recorder();
    const d = dir();
    const gone = join(d, "gone");
    // The host's /proc: pid 2 is kthreadd, and 4343 hangs in the driver (D).
    writeProcTree(join(d, "proc"), { 4343: "D" });
    run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_GONE_FILE: gone }, procfs: join(d, "proc") });
    await eventually(() => pidEvents(rec, 4343).length > 0, 10_000, "pid 4343");
    writeFileSync(gone, "");
    const mark = rec.events.length;
    // Snapshots without 4343 go by (4242's events keep coming), and no exit is said.
    await eventually(() => pidEvents(rec, 4242).filter((e) => rec.events.indexOf(e) >= mark).length >= 3 || undefined, 10_000, "later snapshots");
    assert.ok(!rec.events.some((e) => e.event_type === "process.state"), "no exit while /proc has it running");
    rmSync(join(d, "proc", "4343"), { recursive: true });
    const exit = await eventually(() => rec.events.find((e) => e.event_type === "process.state"), 10_000, "the exit");
    assert.deepEqual(exit, { ts: exit.ts, event_type: "process.state", entity_id: "gpu-01", pid: 4343, value: "exit" });
  });

  it("skips [N/A] and [Not Supported] fields", async () => {
    const rec = recorder();
    // GPU 1 as a MIG-enabled GPU reads it: row remapping and clock reasons unavailable too.
    run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_NA: "1", FAKE_SMI_TEMP1: "99" }, healthIntervalMs: 40 });
    await eventually(() => pidEvents(rec, 4343).length >= 3, 10_000, "snapshots");

    const gpu1 = rec.events.filter((e) => e.entity_id === "gpu-01");
    assert.deepEqual(new Set(gpu1.map((e) => e.event_type)), new Set(["compute.mem"]), "util, temperature and ECC of gpu-01 are [N/A]");
    assert.ok(pidEvents(rec, 4343).every((e) => e.event_type === "compute.mem" && e.value === "25.1"));
    assert.ok(gpuSamples(rec, "gpu-00", "compute.util").length > 0, "gpu-00 still reports util");
    for (const e of rec.events.filter((e) => e.event_type.startsWith("compute."))) {
      assert.ok(Number.isFinite(Number(e.value)), `${e.event_type} ${e.value}`);
    }
  });

  it("reports ECC errors and heat once each, not on every sample", async () => {
    const rec = recorder();
    run(rec, { command: FAKE, tempThreshold: 90, env: { ...process.env, FAKE_SMI_ECC_AFTER: "2", FAKE_SMI_TEMP1: "95" } });
    await eventually(() => gpuSamples(rec, "gpu-00").length >= 8, 10_000, "8 samples");
    const hw = rec.events.filter((e) => e.event_type === "error.hw").map((e) => `${e.entity_id} ${e.value}`);
    assert.deepEqual(hw.sort(), ["gpu-00 ECC_UNCORRECTED count=2", "gpu-01 TEMP_HIGH temp=95"]);
  });

  const hwOf = (r: Recorder) => [...new Set(r.events.filter((e) => e.event_type === "error.hw").map((e) => `${e.entity_id} ${e.value}`))].sort();
  const HEALTH = { healthIntervalMs: 80 };

  it("reads row remapping, pages pending retirement, HW slowdown and a narrowed PCIe link from a driver that knows them", async () => {
    const rec = recorder();
    const env = {
      ...process.env,
      FAKE_SMI_REMAP_FAILURE: "1",
      FAKE_SMI_REMAP_PENDING: "0",
      FAKE_SMI_RETIRED_PENDING: "1",
      FAKE_SMI_THROTTLE0: "hw_slowdown hw_thermal_slowdown",
      FAKE_SMI_LINK_WIDTH1: "8",
    };
    run(rec, { command: FAKE, env, ...HEALTH });
    await eventually(() => hwOf(rec).length >= 5, 10_000, "five health events");
    assert.deepEqual(hwOf(rec), [
      "gpu-00 HW_SLOWDOWN hw_slowdown,hw_thermal_slowdown",
      "gpu-00 ROW_REMAP_PENDING remapped_rows.pending=Yes: reset the GPU once drained",
      "gpu-01 PCIE_LINK_DEGRADED width x8 of x16",
      "gpu-01 RETIRED_PAGES_PENDING retired_pages.pending=Yes: takes effect at the next GPU reset",
      "gpu-01 ROW_REMAP_FAILURE remapped_rows.failure=Yes: replace the GPU",
    ]);
    // Each once: they are repeated each minute, not each sample.
    assert.equal(rec.events.filter((e) => e.event_type === "error.hw").length, 5);
    // Standing when the collector started, they follow the first process snapshot: the graph
    // charges a device fault to the processes on the GPU when it arrives.
    const firstPid = rec.events.findIndex((e) => e.pid !== undefined);
    assert.ok(firstPid >= 0 && firstPid < rec.events.findIndex((e) => e.event_type === "error.hw"));
    assert.ok(gpuSamples(rec, "gpu-01", "compute.util").length > 0);
    assert.deepEqual(rec.ups, [true]);
    assert.equal(rec.restarts, 0);
    assert.deepEqual(rec.warns(), []);
  });

  it("asks an older driver for the names it knows (clocks_throttle_reasons.*, no row remapping) and never goes dark", async () => {
    const rec = recorder();
    const env = { ...process.env, FAKE_SMI_UNKNOWN: "clocks_event_reasons.* remapped_rows.*", FAKE_SMI_THROTTLE0: "hw_slowdown hw_power_brake_slowdown" };
    run(rec, { command: FAKE, env, ...HEALTH });
    await eventually(() => hwOf(rec).length > 0 && gpuSamples(rec, "gpu-01", "compute.util").length >= 5, 10_000, "HW slowdown and samples");
    assert.deepEqual(hwOf(rec), ["gpu-00 HW_SLOWDOWN hw_slowdown,hw_power_brake_slowdown"]);
    assert.deepEqual(rec.ups, [true]);
    assert.equal(rec.restarts, 0);
    assert.deepEqual(rec.warns(), []);
    assert.ok(rec.logs.some((l) => l.type === "info" && /clocks_throttle_reasons\.hw_slowdown.*row remapping not queried/.test(l.msg)), JSON.stringify(rec.logs));
  });

  it("asks again at once without a field the driver lists but refuses, without going down", async () => {
    const rec = recorder();
    const env = { ...process.env, FAKE_SMI_REFUSE: "clocks_event_reasons.hw_power*", FAKE_SMI_THROTTLE1: "hw_slowdown hw_thermal_slowdown" };
    run(rec, { command: FAKE, env, ...HEALTH });
    await eventually(() => hwOf(rec).length > 0, 10_000, "HW slowdown");
    assert.deepEqual(hwOf(rec), ["gpu-01 HW_SLOWDOWN hw_slowdown,hw_thermal_slowdown"]);
    assert.deepEqual(rec.warns(), ["nvidia-smi refused the field clocks_event_reasons.hw_power_brake_slowdown; asking without it".replace("nvidia-smi", FAKE)]);
    assert.deepEqual(rec.ups, [true]);
    assert.equal(rec.restarts, 0);
  });

  for (const form of ["fields", "handle", "handle-index"] as const) {
    const how = form === "fields" ? "[GPU is lost] fields" : form === "handle" ? "no device handle" : "no device handle, the index before the bus id as later drivers say it";
    it(`reports a GPU the driver lost (${how}) as GPU_LOST on its name while the other GPU keeps reporting`, async () => {
      const rec = recorder();
      const lost = join(dir(), "lost");
      run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_LOST_FILE: lost, FAKE_SMI_LOST_FORM: form }, ...HEALTH });
      // Lost after the exporter started, while pid 4343 runs on it.
      await eventually(() => pidEvents(rec, 4343).length > 0, 10_000, "gpu-01 sampled");
      writeFileSync(lost, "");
      const e = await eventually(() => rec.events.find((e) => e.event_type === "error.hw"), 10_000, "GPU_LOST");
      const said =
        form === "fields"
          ? "fields read [GPU is lost]"
          : `Unable to determine the device handle for GPU${form === "handle" ? " " : "1: "}0000:3B:00.0: Unknown Error`;
      assert.deepEqual(e, { ts: e.ts, event_type: "error.hw", entity_id: "gpu-01", value: `GPU_LOST ${said}` });
      const mark = rec.events.indexOf(e);
      await eventually(() => gpuSamples(rec, "gpu-00").filter((x) => rec.events.indexOf(x) > mark).length >= 3, 10_000, "gpu-00 samples go on");
      const after = (x: (typeof rec.events)[number]) => rec.events.indexOf(x) > mark;
      const figure = (x: (typeof rec.events)[number]) => Number.isFinite(Number(x.value));
      assert.ok(!gpuSamples(rec, "gpu-01").some((x) => after(x) && figure(x)), "no figures for the lost GPU");
      assert.deepEqual(rec.events.filter((x) => x.entity_id === "gpu-01" && x.event_type.startsWith("compute.") && rec.events.indexOf(x) >= mark).map((x) => `${x.event_type} ${x.value}`), [
        "compute.util [GPU is lost]",
        "compute.mem [GPU is lost]",
      ], "its load is unknown: the figures from before the fall do not stand for now");
      assert.equal(rec.events.filter((x) => x.event_type === "error.hw").length, 1, "repeated each minute, not each sample");
      // The collector answered all along: not down, nothing crashed.
      assert.deepEqual(rec.ups, [true]);
      assert.equal(rec.restarts, 0);
      if (form !== "fields") assert.match(rec.warns().join("\n"), /no handle for a GPU \(GPU_LOST\) and exits after each sample \(code 15\)/);
      rmSync(lost);
      await eventually(() => gpuSamples(rec, "gpu-01").some((x) => after(x) && figure(x)), 10_000, "gpu-01 back");
    });
  }

  it("keeps reading the processes of the other GPUs while one has no handle: exits and new jobs, the lost GPU's job kept", async () => {
    const rec = recorder();
    const d = dir();
    const [lost, gone1, new3] = ["lost", "gone1", "new3"].map((f) => join(d, f));
    const env = { ...process.env, FAKE_SMI_GPUS: "3", FAKE_SMI_PID3: "4444", FAKE_SMI_PID3_FILE: new3, FAKE_SMI_GONE1_FILE: gone1, FAKE_SMI_LOST_FILE: lost, FAKE_SMI_LOST_FORM: "handle" };
    run(rec, { command: FAKE, env });
    await eventually(() => pidEvents(rec, 4343).length > 0, 10_000, "gpu-01 sampled");
    writeFileSync(lost, "");
    await eventually(() => rec.events.find((e) => e.event_type === "error.hw"), 10_000, "GPU_LOST");
    writeFileSync(new3, "");
    writeFileSync(gone1, "");
    const exit = await eventually(() => rec.events.find((e) => e.event_type === "process.state"), 10_000, "the exit of the job on gpu-00");
    assert.deepEqual(exit, { ts: exit.ts, event_type: "process.state", entity_id: "gpu-00", pid: 4242, value: "exit" });
    await eventually(() => pidEvents(rec, 4444).filter((e) => rec.events.indexOf(e) > rec.events.indexOf(exit)).length >= 3, 10_000, "the new job on gpu-02");
    assert.deepEqual([...new Set(pidEvents(rec, 4444).map((e) => e.entity_id))], ["gpu-02"]);
    assert.deepEqual(rec.events.filter((e) => e.event_type === "process.state").map((e) => e.pid), [4242], "the job on the lost GPU is not ended");
    assert.match(rec.warns().join("\n"), /compute process query \(exit 15\): Unable to determine the device handle for GPU 0000:3B:00\.0: Unknown Error; the processes of the other GPUs are read/);
    assert.doesNotMatch(rec.warns().join("\n"), /process events paused/);
  });

  it("ends the job kept on a lost GPU once the host's /proc loses it, not before", async () => {
    const rec = recorder();
    const d = dir();
    const lost = join(d, "lost");
    // The host's /proc: pid 2 is kthreadd, and 4343 hangs in the driver (D) on the GPU that fell.
    writeProcTree(join(d, "proc"), { 4242: "S", 4343: "D" });
    run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_LOST_FILE: lost, FAKE_SMI_LOST_FORM: "handle" }, procfs: join(d, "proc") });
    await eventually(() => pidEvents(rec, 4343).length > 0, 10_000, "pid 4343");
    writeFileSync(lost, "");
    await eventually(() => rec.events.find((e) => e.event_type === "error.hw"), 10_000, "GPU_LOST");
    const mark = rec.events.length;
    await eventually(() => pidEvents(rec, 4242).filter((e) => rec.events.indexOf(e) >= mark).length >= 3 || undefined, 10_000, "later snapshots");
    assert.ok(!rec.events.some((e) => e.event_type === "process.state"), "no exit while /proc has it");
    rmSync(join(d, "proc", "4343"), { recursive: true });
    const exit = await eventually(() => rec.events.find((e) => e.event_type === "process.state"), 10_000, "the exit");
    assert.deepEqual(exit, { ts: exit.ts, event_type: "process.state", entity_id: "gpu-01", pid: 4343, value: "exit" });
    assert.ok(existsSync(lost), "while its GPU is still lost");
  });

  it("shows nvidia-smi's words as the reason when it cannot reach the driver (version mismatch), with no GPU event", async () => {
    const rec = recorder();
    const env = {
      ...process.env,
      PATH: `${FIXTURES}${delimiter}${process.env.PATH ?? ""}`,
      FAKE_SMI_FAIL: "18",
      FAKE_SMI_FAIL_MSG: "Failed to initialize NVML: Driver/library version mismatch",
    };
    run(rec, { env });
    await eventually(() => rec.restarts >= 2, 10_000, "2 restarts");
    assert.deepEqual(rec.ups, [false]);
    assert.deepEqual(rec.reasons, ["nvidia-smi: Failed to initialize NVML: Driver/library version mismatch"]);
    // Running jobs keep their GPUs through a driver upgrade: nothing to blame them with.
    assert.deepEqual(rec.events, []);
    assert.equal(rec.warns().length, 1);
  });

  it("says once that nvidia-smi is missing, shows down without counting restarts, and comes up once it is installed", async () => {
    const rec = recorder();
    const bin = dir();
    run(rec, { env: { ...process.env, PATH: bin } });
    await eventually(() => rec.warns().length > 0, 10_000, "a warning");
    assert.deepEqual(rec.ups, [false]);
    // `status` shows why beside "down".
    assert.deepEqual(rec.reasons, ["cannot start: nvidia-smi: not found on PATH"]);
    assert.match(rec.warns()[0]!, /nvidia-smi not found on PATH/);
    assert.deepEqual(rec.events, []);
    // Installed later (a driver rolled out after the exporter): found on a retry.
    symlinkSync(FAKE, join(bin, "nvidia-smi"));
    await eventually(() => rec.ups.at(-1) === true, 10_000, "up once installed");
    assert.equal(rec.warns().length, 1);
    // Nothing ran and exited meanwhile: no restart (status would say crash-looping).
    assert.equal(rec.restarts, 0);
  });

  it("says once that nvidia-smi fails, retries, and comes back up when it works", async () => {
    const rec = recorder();
    const fail = join(dir(), "fail");
    writeFileSync(fail, "");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_FAIL_FILE: fail } });
    await eventually(() => rec.restarts >= 3, 10_000, "3 restarts");
    assert.deepEqual(rec.ups, [false]);
    assert.equal(rec.warns().length, 1);
    assert.match(rec.warns()[0]!, /code 9.*couldn't communicate with the NVIDIA driver/);

    rmSync(fail);
    await eventually(() => rec.ups.at(-1) === true, 10_000, "up again");
    assert.deepEqual(rec.ups, [false, true]);
    assert.equal(rec.warns().length, 1);
    assert.ok(rec.logs.some((l) => l.type === "info" && /answering again/.test(l.msg)));
    await eventually(() => pidEvents(rec, 4242).length > 0, 10_000, "pid events after recovery");
  });

  it("kills and restarts an nvidia-smi that prints nothing", async () => {
    const rec = recorder();
    run(rec, { command: FAKE, stallMs: 150, env: { ...process.env, FAKE_SMI_SILENT: "1" } });
    await eventually(() => rec.restarts >= 2, 10_000, "2 restarts");
    assert.deepEqual(rec.ups, [false]);
    assert.equal(rec.warns().length, 1);
    assert.match(rec.warns()[0]!, /printed nothing for 150 ms/);
  });

  // A process asleep in the driver (a GPU fallen off the bus) survives SIGKILL; none can be made
  // here, so the run `which` picks is one whose kill does nothing and whose end the test decides.
  const stuckSpawn = (which: string) => {
    const st = { runs: [] as string[], kills: 0, release: () => {} };
    const spawn = (path: string, args: string[], env: Env): Child => {
      st.runs.push(args[0]!);
      if (!args[0]!.startsWith(which) || st.runs.filter((a) => a.startsWith(which)).length > 1) return startChild(path, args, env);
      const closed = new Promise<{ code: number | null; signal: string | null }>((done) => (st.release = () => done({ code: null, signal: "SIGKILL" })));
      const proc = { pid: 424242, exitCode: null, signalCode: null, kill: () => void st.kills++, stdout: null, stderr: null } as unknown as Child["proc"];
      return { proc, closed };
    };
    return { st, spawn };
  };

  it("shows down with why while a killed compute-apps run stays stuck in the driver, starts no other, and resumes once it is gone", async () => {
    const rec = recorder();
    const { st, spawn } = stuckSpawn("--query-compute-apps");
    // stallMs also bounds the looping query's silence: at 1 s, a loaded machine (CI's two lanes
    // of tests) now and then left the stand-in silent that long, the source killed the loop, and
    // with the compute-apps run stuck none could start again: no more samples came.
    run(rec, { command: FAKE, stallMs: 3000, killWaitMs: 200, spawn });
    await eventually(() => rec.ups.at(-1) === false, 15_000, "down");
    assert.deepEqual(rec.ups, [true, false]);
    assert.equal(rec.reasons.at(-1), `${FAKE} pid 424242 stuck in the driver: killed, not gone`);
    assert.ok(st.kills >= 1);
    const before = st.runs.length;
    const gpuLines = gpuSamples(rec, "gpu-00").length;
    // The looping query still runs: a GPU's own faults are still read meanwhile. Its samples are
    // the clock here (after a fixed 300 ms a slow machine may have read none yet): 300 ms and
    // several rounds of it pass, and no run starts in them.
    await new Promise((r) => setTimeout(r, 300));
    await eventually(() => gpuSamples(rec, "gpu-00").length >= gpuLines + 5, 10_000, "five more samples of the looping query");
    assert.equal(st.runs.length, before, `no run starts while one is stuck: ${st.runs.join(" ")}`);
    assert.equal(rec.restarts, 0);
    assert.equal(rec.warns().filter((w) => /stuck in the driver/.test(w)).length, 1, rec.warns().join("\n"));
    const pids = pidEvents(rec, 4242).length;
    st.release();
    await eventually(() => rec.ups.at(-1) === true && pidEvents(rec, 4242).length > pids, 10_000, "up again, processes read again");
    assert.ok(rec.logs.some((l) => /pid 424242\) that was stuck in the driver has ended/.test(l.msg)));
  });

  it("holds a looping run that printed nothing and survives its kill, starts none meanwhile, and restarts it once it is gone", async () => {
    const rec = recorder();
    const { st, spawn } = stuckSpawn("--query-gpu");
    run(rec, { command: FAKE, stallMs: 1000, killWaitMs: 150, spawn });
    await eventually(() => rec.reasons.at(-1) !== undefined, 10_000, "down with a reason");
    assert.equal(rec.reasons.at(-1), `${FAKE} pid 424242 stuck in the driver: killed, not gone`);
    const before = st.runs.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(st.runs.length, before, `no run starts while one is stuck: ${st.runs.join(" ")}`);
    assert.equal(rec.restarts, 0);
    assert.ok(!rec.ups.includes(true));
    st.release();
    await eventually(() => rec.ups.at(-1) === true && pidEvents(rec, 4242).length > 0, 10_000, "restarted and up");
    assert.equal(rec.restarts, 1);
    assert.equal(rec.warns().filter((w) => /stuck in the driver/.test(w)).length, 1, rec.warns().join("\n"));
  });

  it("starts the looping query only once a stuck field-list run (--help-query-gpu) is gone", async () => {
    const rec = recorder();
    const { st, spawn } = stuckSpawn("--help-query-gpu");
    run(rec, { command: FAKE, stallMs: 1000, killWaitMs: 150, spawn });
    await eventually(() => rec.reasons.at(-1) !== undefined, 10_000, "down with a reason");
    assert.equal(rec.reasons.at(-1), `${FAKE} pid 424242 stuck in the driver: killed, not gone`);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(st.runs, ["--help-query-gpu"], "nothing else runs while it is stuck");
    st.release();
    await eventually(() => rec.ups.at(-1) === true && pidEvents(rec, 4242).length > 0, 10_000, "up once it is gone");
    assert.equal(st.runs.filter((a) => a === "--help-query-gpu").length, 2, "the field list asked again");
    assert.equal(rec.restarts, 0);
  });

  it("stop() kills and reaps the looping nvidia-smi", async () => {
    const rec = recorder();
    const pidfile = join(dir(), "pid");
    const s = run(rec, { command: FAKE, env: { ...process.env, FAKE_SMI_PIDFILE: pidfile } });
    await eventually(() => existsSync(pidfile) && rec.events.length > 0, 10_000, "a running child");
    const pid = Number(readFileSync(pidfile, "utf8"));
    assert.ok(pid > 0 && _alive(pid));
    await s.stop();
    assert.equal(_alive(pid), false, "child still alive after stop()");
    const n = rec.events.length;
    await s.stop(); // idempotent
    assert.equal(rec.events.length, n);
  });
});

function _alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
