// The npu-smi source against the stand-in test/fixtures/npu-smi, run as real child processes.
// The stand-in reads its state from a file on every run, so a test changes the "hardware"
// between intervals by rewriting that file.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { startChild, type Child, type Env } from "../../../src/sources/child.ts";
import { NpuSmiSource, type NpuSmiOptions } from "../../../src/sources/npu-smi/index.ts";
import type { SourceContext } from "../../../src/sources/source.ts";
import { eventually, ROOT } from "../../_helpers.ts";
import { writeProcTree } from "../_host-kit.ts";

const FIXTURES = join(ROOT, "test/fixtures");
const FAKE = join(FIXTURES, "npu-smi");

type Ev = { ts: number; event_type: string; entity_id: string; pid?: number; value: string };

function recorder() {
  const rec = {
    events: [] as Ev[],
    ups: [] as boolean[],
    reasons: [] as (string | undefined)[],
    restarts: 0,
    logs: [] as { type: string; msg: string }[],
    warns: () => rec.logs.filter((l) => l.type === "warn").map((l) => l.msg),
    ctx: undefined as unknown as SourceContext,
  };
  const log = createConsola({ level: 5, reporters: [{ log: (o: LogObject) => void rec.logs.push({ type: o.type, msg: o.args.map(String).join(" ") }) }] });
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

/**
 * Replaces the stand-in's state at once (a temporary file renamed over it): written in place, a
 * run could read it half written under load (a health line without its code), report that, and
 * then hold the condition as lasting, so the full line the test waits for never came.
 */
function _setState(path: string, text: string): void {
  writeFileSync(path + ".tmp", text);
  renameSync(path + ".tmp", path);
}

/** The stand-in's calls so far, one argument line each (FAKE_NPU_LOG). */
function _calls(path: string): string[] {
  try {
    return readFileSync(path, "utf8").trim().split("\n");
  } catch {
    return [];
  }
}

const line = (e: Ev) => `${e.event_type} ${e.entity_id}${e.pid !== undefined ? ` pid=${e.pid}` : ""} ${e.value}`;

describe("NpuSmiSource against the stand-in npu-smi", () => {
  let source: NpuSmiSource | null = null;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "xctl-npu-"));
    dirs.push(d);
    return d;
  };
  const run = (rec: ReturnType<typeof recorder>, opts: NpuSmiOptions) => {
    source = new NpuSmiSource({ intervalMs: 40, detailMs: 40, backoff: { initialMs: 10, maxMs: 40 }, ...opts });
    source.start(rec.ctx);
    return source;
  };
  afterEach(async () => {
    await source?.stop();
    source = null;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("finds npu-smi on PATH: util and HBM per NPU, each process on its NPU, every query asked", async () => {
    const rec = recorder();
    const log = join(dir(), "calls");
    const s = run(rec, { env: { ...process.env, PATH: `${FIXTURES}${delimiter}${process.env.PATH ?? ""}`, FAKE_NPU_LOG: log } });
    assert.equal(s.name, "npu-smi");
    const pidLines = () => rec.events.filter((e) => e.pid !== undefined).map(line);
    await eventually(() => pidLines().filter((l) => l.includes("7202")).length >= 2, 10_000, "pid events");
    assert.ok(pidLines().includes("compute.util npu-00 pid=7101 87"), pidLines().join("\n"));
    assert.ok(pidLines().includes("compute.util npu-01 pid=7202 35"));
    // HBM: (3379 + 87 * 600) / 65536 used.
    assert.ok(rec.events.some((e) => line(e) === "compute.mem npu-00 84.8"), rec.events.map(line).join("\n"));
    assert.ok(!rec.events.some((e) => e.event_type.startsWith("error.") || e.event_type === "process.state"), "a healthy host has no error");
    assert.deepEqual(rec.ups, [true]);
    assert.deepEqual(rec.warns(), []);
    const calls = new Set(readFileSync(log, "utf8").trim().split("\n"));
    assert.deepEqual([...calls].sort(), ["info", "info -t ecc -i 0", "info -t ecc -i 1", "info -t hccs -i 0 -c 0", "info -t hccs -i 1 -c 0"]);
  });

  it("follows the host between intervals: heat, health codes, ECC, an HCCS link down, a process gone", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    const calls = join(dir(), "calls");
    run(rec, { command: FAKE, tempThreshold: 90, env: { ...process.env, FAKE_NPU_STATE: state, FAKE_NPU_LOG: calls } });
    await eventually(() => rec.events.some((e) => e.pid === 7202), 10_000, "first snapshot");
    // And the first ECC read done (a second one has started): ECC counts the first read finds are
    // taken as counted before the exporter started, no fault (tracker.ts). Changed before it, under
    // load, the new count was that baseline and the ECC fault never came.
    await eventually(() => _calls(calls).filter((c) => c === "info -t ecc -i 0").length >= 2, 10_000, "the first ECC read done");
    _setState(
      state,
      [
        "TEMP0=95",
        "HEALTH1=Warning CODE1=80E01801 INFO1='node type=SOC, sensor type=Temperature'",
        "HBM_DBE0=2",
        "HCCS_HEALTH0=NOK",
        "PID1=",
      ].join("\n"),
    );
    const want = [
      "error.hw npu-00 TEMP_HIGH temp=95",
      "error.hw npu-01 TEMP_HIGH health=Warning code=80E01801 node type=SOC, sensor type=Temperature",
      "error.hw npu-00 ECC_UNCORRECTED double-bit hbm=2 ddr=0",
      "error.net hccs-0 HCCS link down: health=NOK",
      "transport.drop hccs-0 pid=7101 link_down",
      "process.state npu-01 pid=7202 exit",
    ];
    await eventually(() => want.every((w) => rec.events.some((e) => line(e) === w)), 20_000, "every change");
    const errors = rec.events.filter((e) => e.event_type.startsWith("error.")).map(line);
    assert.deepEqual(new Set(errors), new Set(want.filter((w) => w.startsWith("error."))), "each condition once, nothing else");
    assert.equal(errors.length, 4, "conditions that last are not repeated within the refresh period");
  });

  it("holds back the exit of a pid that still runs on the host, until /proc loses it", async () => {
    const rec = recorder();
    const d = dir();
    const state = join(d, "state");
    writeProcTree(join(d, "proc"), { 7202: "S" });
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state }, procfs: join(d, "proc") });
    await eventually(() => rec.events.some((e) => e.pid === 7202), 10_000, "first snapshot");
    _setState(state, "PID1=\n");
    const mark = rec.events.length;
    await eventually(() => rec.events.filter((e) => e.pid === 7101).length - rec.events.slice(0, mark).filter((e) => e.pid === 7101).length >= 2 || undefined, 10_000, "later tables");
    assert.ok(!rec.events.some((e) => e.event_type === "process.state"), "no exit while /proc has it running");
    rmSync(join(d, "proc", "7202"), { recursive: true });
    await eventually(() => rec.events.some((e) => line(e) === "process.state npu-01 pid=7202 exit"), 10_000, "the exit");
  });

  it("says once that npu-smi fails, retries with backoff, and comes back up", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    _setState(state, "FAIL=3\nFAIL_SAYS='npu-smi: error while loading shared libraries: libdrvdsmi_host.so: cannot open shared object file'\n");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.restarts >= 3, 10_000, "3 retries");
    assert.deepEqual(rec.ups, [false]);
    assert.equal(rec.warns().length, 1);
    assert.match(rec.warns()[0]!, /exited \(code 3\): npu-smi: error while loading shared libraries/);
    _setState(state, "");
    await eventually(() => rec.ups.at(-1) === true, 10_000, "up again");
    assert.ok(rec.logs.some((l) => l.type === "info" && /answering again/.test(l.msg)));
    await eventually(() => rec.events.some((e) => e.pid === 7101), 10_000, "events after recovery");
  });

  it("says once that npu-smi is missing, stays down without counting restarts, and comes up once it is installed", async () => {
    const rec = recorder();
    const bin = dir();
    run(rec, { env: { ...process.env, PATH: bin } });
    await eventually(() => rec.warns().length > 0, 10_000, "a warning");
    assert.deepEqual(rec.ups, [false]);
    // `status` shows why beside "down".
    assert.deepEqual(rec.reasons, ["cannot start: npu-smi: not found on PATH"]);
    assert.match(rec.warns()[0]!, /npu-smi not found on PATH/);
    assert.deepEqual(rec.events, []);
    symlinkSync(FAKE, join(bin, "npu-smi"));
    await eventually(() => rec.ups.at(-1) === true, 10_000, "up once installed");
    assert.deepEqual(rec.warns().length, 1);
    // Nothing ran and failed meanwhile: no restart (status would say crash-looping).
    assert.equal(rec.restarts, 0);
  });

  it("says a chip that falls out of the table lost before its process's exit, and once in the log", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.events.some((e) => e.pid === 7202), 10_000, "first snapshot");
    _setState(state, "MISSING1=1\n");
    await eventually(() => rec.events.some((e) => line(e) === "process.state npu-01 pid=7202 exit"), 10_000, "the exit");
    const lines = rec.events.map(line);
    const lost = lines.indexOf("error.hw npu-01 NPU_LOST no longer listed by npu-smi info");
    assert.ok(lost !== -1 && lost < lines.indexOf("process.state npu-01 pid=7202 exit"), lines.join("\n"));
    const mark = rec.events.length;
    await eventually(() => rec.events.slice(mark).filter((e) => e.pid === 7101).length >= 3, 10_000, "later tables");
    assert.equal(rec.warns().filter((w) => /no longer lists npu-01/.test(w)).length, 1, rec.warns().join("\n"));
    assert.deepEqual(rec.ups, [true]);
  });

  it("asks the health of a chip whose row reads NA, and blames that chip, not its neighbour", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    _setState(state, "BROKEN1=1\nHEALTH1=Critical\nCODE1=80A28008\nINFO1='node type=AICORE, sensor type=Hang'\n");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.events.some((e) => e.event_type === "error.hw"), 10_000, "the health event");
    assert.deepEqual(rec.events.filter((e) => e.event_type.startsWith("error.")).map(line), ["error.hw npu-01 NPU_FAULT health=Critical code=80A28008 node type=AICORE, sensor type=Hang"]);
    // Its process is still listed: it uses the chip, with its figures as npu-smi gives them (NA), and no exit.
    await eventually(() => rec.events.some((e) => line(e) === "compute.util npu-01 pid=7202 NA"), 10_000, "the pid on the chip");
    assert.ok(!rec.events.some((e) => e.pid === 7202 && line(e) !== "compute.util npu-01 pid=7202 NA"), rec.events.map(line).join("\n"));
    assert.ok(!rec.events.some((e) => e.entity_id === "npu-01" && e.pid === undefined && e.event_type.startsWith("compute.")), "no figure is made up for it");
  });

  it("uses the table of an info run that failed after printing it, and says the failure once", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    _setState(state, "INFO_EXIT=1\n");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.events.filter((e) => e.pid === 7202).length >= 3, 10_000, "three tables");
    assert.deepEqual(rec.ups, [true]);
    assert.equal(rec.restarts, 0);
    assert.deepEqual(rec.warns(), [`${FAKE} info exited (code 1): dcmi get device health failed. ret is -8020; using the chips it listed`]);
  });

  it("takes nothing from half a table: a failed run cut before its process part loses no chip and ends no process", async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.events.some((e) => e.pid === 7202), 10_000, "first snapshot");
    _setState(state, "INFO_EXIT=1\nINFO_CUT=1\n");
    await eventually(() => rec.ups.at(-1) === false, 10_000, "down");
    assert.ok(!rec.events.some((e) => e.event_type.startsWith("error.") || e.event_type === "process.state"), rec.events.map(line).join("\n"));
    assert.match(rec.warns().at(-1)!, /info exited \(code 1\): dcmi get device info failed\. ret is -8020; no NPU events until it works/);
  });

  const refusals: [number, string][] = [
    [0, "dcmi module initialize failed. ret is -8005"],
    [255, "dcmi model initialized failed, because the device is used. ret is -8020"],
  ];
  for (const [exit, says] of refusals) it(`shows an npu-smi the driver refuses (exit ${exit}: ${says}) down with why, waiting, not crash-looping`, async () => {
    const rec = recorder();
    const state = join(dir(), "state");
    _setState(state, exit === 0 ? "FAIL=0\n" : `FAIL=${exit}\nFAIL_SAYS='${says}'\n`);
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: state } });
    await eventually(() => rec.warns().length > 0, 10_000, "a warning");
    assert.equal(rec.warns()[0], `${FAKE} info: ${says} (npu-smi cannot reach the NPU driver); no NPU events until it works, retrying with backoff`);
    assert.deepEqual(rec.ups, [false]);
    assert.deepEqual(rec.reasons, [`${FAKE} cannot reach the NPU driver: ${says}`]);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(rec.restarts, 0);
    assert.equal(rec.warns().length, 1);
    _setState(state, "FAIL_SAYS='This npu-smi prints no table.'\nFAIL=0\n");
    await eventually(() => rec.warns().length > 1, 10_000, "the next reason");
    assert.match(rec.warns()[1]!, /info listed no NPU: This npu-smi prints no table\./);
    assert.deepEqual(rec.reasons.at(-1), undefined, "no longer refused: the reason goes");
  });

  it("ends the round at a query that hangs, so the next info is not held back by each chip's timeout, and rests it so the others are asked", async () => {
    const rec = recorder();
    const d = dir();
    writeFileSync(join(d, "state"), "HANG=health\nHEALTH1=Warning\n");
    run(rec, { command: FAKE, timeoutMs: 300, env: { ...process.env, FAKE_NPU_STATE: join(d, "state"), FAKE_NPU_LOG: join(d, "calls") } });
    const calls = () => readFileSync(join(d, "calls"), "utf8").trim().split("\n");
    await eventually(() => calls().filter((c) => c.startsWith("info -t health")).length >= 2, 10_000, "the hung query asked again");
    const after = calls().map((c, i, all) => (c.startsWith("info -t health") ? all[i + 1] : null)).filter((c) => c !== null && c !== undefined);
    assert.ok(after.length >= 1 && after.every((c) => c === "info"), calls().join("\n"));
    // The hung query rests a round, so the ECC and HCCS queries of the chips are still asked.
    const between = calls().slice(calls().indexOf("info -t health -i 1 -c 0") + 1, calls().lastIndexOf("info -t health -i 1 -c 0"));
    assert.ok(between.includes("info -t ecc -i 0") && between.includes("info -t hccs -i 1 -c 0"), calls().join("\n"));
    assert.equal(rec.warns().filter((w) => /health query failed: timed out after 300 ms; its events paused; the other queries of this round skipped/.test(w)).length, 1, rec.warns().join("\n"));
    assert.deepEqual(rec.ups, [true]);
  });

  it("shows down with why while a killed run stays stuck in the driver, starts no other, and resumes once it is gone", async () => {
    // A process in uninterruptible sleep survives SIGKILL; none can be made here, so the health
    // query's child is one whose kill does nothing and whose end the test decides.
    const rec = recorder();
    const d = dir();
    writeFileSync(join(d, "state"), "HEALTH1=Warning\n");
    let release = () => {};
    let kills = 0;
    const spawn = (path: string, args: string[], env: Env): Child => {
      if (!args.includes("health")) return startChild(path, args, env);
      const closed = new Promise<{ code: number | null; signal: string | null }>((done) => (release = () => done({ code: null, signal: "SIGKILL" })));
      const proc = { pid: 424242, exitCode: null, signalCode: null, kill: () => void kills++, stdout: null, stderr: null } as unknown as Child["proc"];
      return { proc, closed };
    };
    run(rec, { command: FAKE, timeoutMs: 200, killWaitMs: 200, spawn, env: { ...process.env, FAKE_NPU_STATE: join(d, "state"), FAKE_NPU_LOG: join(d, "calls") } });
    await eventually(() => rec.ups.at(-1) === false, 10_000, "down");
    assert.equal(rec.reasons.at(-1), `${FAKE} pid 424242 stuck in the driver: killed, not gone`);
    assert.ok(kills >= 1);
    const calls = () => readFileSync(join(d, "calls"), "utf8").trim().split("\n").length;
    const before = calls();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(calls(), before, "no run starts while one is stuck");
    assert.equal(rec.restarts, 0);
    assert.equal(rec.warns().filter((w) => /stuck in the driver/.test(w)).length, 2, rec.warns().join("\n"));
    release();
    await eventually(() => rec.ups.at(-1) === true, 10_000, "up again");
    assert.ok(calls() > before);
  });

  for (const exit of [255, 0]) it(`stops asking a query this npu-smi does not support (exit ${exit}), and says so once`, async () => {
    const rec = recorder();
    const d = dir();
    writeFileSync(join(d, "state"), `HCCS_UNSUPPORTED=1\nUNSUPPORTED_EXIT=${exit}\n`);
    run(rec, { command: FAKE, env: { ...process.env, FAKE_NPU_STATE: join(d, "state"), FAKE_NPU_LOG: join(d, "calls") } });
    await eventually(() => readFileSync(join(d, "calls"), "utf8").split("\n").filter((l) => l === "info").length >= 4, 10_000, "4 intervals");
    const calls = readFileSync(join(d, "calls"), "utf8").trim().split("\n");
    assert.equal(calls.filter((c) => c.startsWith("info -t hccs")).length, 1, calls.join("\n"));
    assert.equal(rec.logs.filter((l) => /does not support the hccs query/.test(l.msg)).length, 1);
    assert.deepEqual(rec.warns(), []);
    assert.deepEqual(rec.ups, [true]);
  });
});
