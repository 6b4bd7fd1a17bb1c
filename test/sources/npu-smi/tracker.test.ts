// npu-smi records to events, with the clock passed in: names, pid events and exits, heat and
// health refreshed while they last, ECC and HCCS counters as deltas.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NpuChip, NpuInfo } from "../../../src/sources/npu-smi/parse.ts";
import { healthKind, hccsEntity, npuEntity, NpuSmiTracker } from "../../../src/sources/npu-smi/tracker.ts";
import { StateGraph } from "../../../src/graph/graph.ts";
import type { XEvent } from "../../../src/events/schema.ts";

const T = 1_800_000_000_000;

const chip = (npu: number, extra: Partial<NpuChip> = {}): NpuChip => ({ npu, chip: 0, health: "OK", temp: 40, util: 50, memUsed: 16384, memTotal: 65536, ...extra });
const table = (chips: NpuChip[], pids: [number, number][] = []): NpuInfo => ({ chips, processes: pids.map(([npu, pid]) => ({ npu, chip: 0, pid })) });
const brief = (es: { event_type: string; entity_id: string; pid?: number; value: string }[]) =>
  es.map((e) => `${e.event_type} ${e.entity_id}${e.pid !== undefined ? ` pid=${e.pid}` : ""} ${e.value}`);

describe("NpuSmiTracker", () => {
  it("names chips npu-NN (npu-NN-C past chip 0) and links hccs-N", () => {
    assert.equal(npuEntity(3), "npu-03");
    assert.equal(npuEntity(12, 1), "npu-12-1");
    assert.equal(hccsEntity(3), "hccs-3");
    assert.equal(hccsEntity(0, 1), "hccs-0-1");
  });

  it("emits util and HBM percent per chip, a pid event per process, and exit when it is gone", () => {
    const t = new NpuSmiTracker();
    assert.deepEqual(brief(t.info(table([chip(0), chip(1, { util: undefined })], [[0, 10], [1, 11]]), 1000)), [
      "compute.util npu-00 50",
      "compute.mem npu-00 25",
      "compute.mem npu-01 25",
      "compute.util npu-00 pid=10 50",
      "compute.mem npu-01 pid=11 25",
    ]);
    const next = brief(t.info(table([chip(0), chip(1)], [[0, 10]]), 2000));
    assert.deepEqual(next.filter((l) => l.includes("pid=")), ["compute.util npu-00 pid=10 50", "process.state npu-01 pid=11 exit"]);
  });

  it("reports heat over the threshold once per refresh period, and again after it cooled", () => {
    const t = new NpuSmiTracker({ tempThreshold: 90, refreshMs: 60_000 });
    const hot = (now: number, temp: number) => brief(t.info(table([chip(0, { temp })]), now)).filter((l) => l.startsWith("error.hw"));
    assert.deepEqual(hot(0, 95), ["error.hw npu-00 TEMP_HIGH temp=95"]);
    assert.deepEqual(hot(5000, 96), []);
    assert.deepEqual(hot(60_000, 96), ["error.hw npu-00 TEMP_HIGH temp=96"]);
    assert.deepEqual(hot(65_000, 90), []);
    assert.deepEqual(hot(70_000, 91), ["error.hw npu-00 TEMP_HIGH temp=91"]);
  });

  it("says a chip's heat after its processes, so a process already on a hot chip at the first table is blocked by it", () => {
    const t = new NpuSmiTracker({ tempThreshold: 90 });
    const g = new StateGraph();
    for (const e of t.info(table([chip(0, { temp: 95 }), chip(1)], [[0, 10], [1, 11]]), T)) {
      g.apply({ ts: e.ts, event_type: e.event_type, entity_id: e.entity_id, pid: e.pid ?? null, job_id: null, value: e.value } as XEvent, T);
    }
    g.drainLinks();
    assert.deepEqual(g.processes.get(10)!.blockedBy.map((e) => e.id), ["error-npu-00"]);
    assert.equal(g.processes.get(11)!.blockedBy.length, 0, "the cool chip's process is not");
  });

  it("turns -t health into the word the rules read, once per condition and refresh", () => {
    assert.equal(healthKind({ status: "Warning", codes: ["80E01801"], info: "node type=SOC, sensor type=Temperature" }), "TEMP_HIGH");
    assert.equal(healthKind({ status: "Alarm", codes: ["80CD8008"], info: "node type=HBM, sensor type=Memory, multi-bit ECC" }), "ECC memory error");
    assert.equal(healthKind({ status: "Alarm", codes: ["80DE0000"], info: "node type=HCCS, lane down" }), "HCCS_DEGRADED");
    assert.equal(healthKind({ status: "Alarm", codes: ["81078603"], info: "AI core frequency throttling" }), "FREQ_THROTTLE");
    assert.equal(healthKind({ status: "Alarm", codes: [] }), "NPU_FAULT");
    // A Critical chip with an AI Core hang and a heat alarm: both, the unnamed fault last (npu_fault reads `NPU_FAULT health=`).
    assert.equal(healthKind({ status: "Critical", codes: ["80A28008", "80E01801"], info: "node type=AICORE, sensor type=Hang; node type=SOC, sensor type=Temperature" }), "TEMP_HIGH NPU_FAULT");

    const t = new NpuSmiTracker({ refreshMs: 60_000 });
    const warn = { status: "Warning", codes: ["80E01801"], info: "node type=SOC, sensor type=Temperature" };
    assert.deepEqual(brief(t.health(1, 0, "Warning", warn, 0)), ["error.hw npu-01 TEMP_HIGH health=Warning code=80E01801 node type=SOC, sensor type=Temperature"]);
    assert.deepEqual(t.health(1, 0, "Warning", warn, 5000), []);
    assert.deepEqual(brief(t.health(1, 0, "Alarm", null, 6000)), ["error.hw npu-01 NPU_FAULT health=Alarm"], "a new condition is news at once");
    t.healthy(1, 0);
    assert.equal(t.health(1, 0, "Alarm", null, 7000).length, 1, "after OK, the next spell is news");
    assert.deepEqual(t.health(1, 0, "Warning", { status: "OK", codes: [] }, 8000), [], "the detail says OK");
  });

  it("says every alarm -t health lists: a temperature and an ECC alarm at once are both words; an HBM temperature is heat", () => {
    const both = { status: "Alarm", codes: ["80E01801", "80CB8009"], info: "node type=SOC, sensor type=Temperature; node type=HBM, sensor type=Memory, multi-bit ECC" };
    assert.equal(healthKind(both), "TEMP_HIGH ECC memory error");
    assert.equal(healthKind({ status: "Warning", codes: ["80E18402"], info: "node type=HBM, sensor type=Temperature" }), "TEMP_HIGH");
    assert.equal(healthKind({ status: "Alarm", codes: ["8C084E00"], info: "node type=AICORE, sensor type=Hang; node type=HBM, sensor type=Memory, ECC" }), "ECC memory error");
    const t = new NpuSmiTracker();
    assert.deepEqual(brief(t.health(0, 1, "Alarm", both, 0)), [
      "error.hw npu-00-1 TEMP_HIGH ECC memory error health=Alarm code=80E01801,80CB8009 node type=SOC, sensor type=Temperature; node type=HBM, sensor type=Memory, multi-bit ECC",
    ]);
  });

  it("ties no process to a chip the table never listed, and does not end a pid seen before for being listed there", () => {
    const t = new NpuSmiTracker();
    t.info(table([chip(2)], [[2, 20]]), 0);
    const next = { chips: [chip(2)], processes: [{ npu: 2, chip: 3, pid: 20 }, { npu: 2, chip: 3, pid: 21 }] };
    assert.deepEqual(brief(t.info(next, 1000)), ["compute.util npu-02 50", "compute.mem npu-02 25"]);
    assert.deepEqual(t.strayNow, ["NPU 2 chip 3", "NPU 2 chip 3"]);
    assert.deepEqual(brief(t.info(table([chip(2)]), 2000)).filter((l) => l.startsWith("process")), ["process.state npu-02 pid=20 exit"]);
  });

  it("keeps the health event bounded when a chip lists many alarms", () => {
    const many = { status: "Critical", codes: Array.from({ length: 20 }, (_, i) => `80E0${1000 + i}`), info: Array.from({ length: 40 }, (_, i) => `node type=SOC, sensor type=Sensor${i}`).join("; ") };
    const [e] = new NpuSmiTracker().health(2, 0, "Critical", many, 0);
    assert.ok(e!.value.length < 500, String(e!.value.length));
    assert.match(e!.value, /code=80E01000,80E01001,80E01002,80E01003,80E01004,80E01005,80E01006,80E01007,\.\.\. node type=SOC, sensor type=Sensor0; .*\.\.\.$/);
  });

  it("says a chip left out of the table lost, each refresh period while it is out; its listed process is not ended", () => {
    const t = new NpuSmiTracker({ refreshMs: 60_000 });
    const info = (now: number, chips: NpuChip[], pids: [number, number][]) => brief(t.info(table(chips, pids), now));
    info(0, [chip(0), chip(1)], [[0, 10], [1, 11]]);
    assert.deepEqual(info(5000, [chip(0)], [[0, 10], [1, 11]]), [
      "error.hw npu-01 NPU_LOST no longer listed by npu-smi info",
      // Its load is unknown now: its last figures (50%) do not stand for it.
      "compute.util npu-01 [not listed]",
      "compute.mem npu-01 [not listed]",
      "compute.util npu-00 50",
      "compute.mem npu-00 25",
      "compute.util npu-00 pid=10 50",
    ]);
    assert.deepEqual(t.lostNow, ["npu-01"]);
    assert.deepEqual(info(10_000, [chip(0)], [[0, 10]]).filter((l) => !l.includes("npu-00")), ["process.state npu-01 pid=11 exit"], "said once per period");
    assert.deepEqual(info(65_000, [chip(0)], []).filter((l) => l.includes("npu-01")), [
      "error.hw npu-01 NPU_LOST no longer listed by npu-smi info",
      "compute.util npu-01 [not listed]",
      "compute.mem npu-01 [not listed]",
    ]);
    assert.deepEqual(info(70_000, [chip(0), chip(1)], []).filter((l) => l.startsWith("error")), [], "listed again: no more");
    assert.deepEqual(t.backNow, ["npu-01"]);
    assert.deepEqual(brief(t.info(table([]), 80_000)), [], "an empty table (npu-smi failing) is not every chip lost");
  });

  it("reports uncorrectable ECC when the count rises (or is above 0 at first), not on a reset", () => {
    const t = new NpuSmiTracker();
    assert.deepEqual(t.ecc(0, 0, { hbmDoubleBit: 0, ddrDoubleBit: 0 }, 0), []);
    assert.deepEqual(brief(t.ecc(0, 0, { hbmDoubleBit: 2, ddrDoubleBit: 0 }, 1)), ["error.hw npu-00 ECC_UNCORRECTED double-bit hbm=2 ddr=0"]);
    assert.deepEqual(t.ecc(0, 0, { hbmDoubleBit: 2, ddrDoubleBit: 0 }, 2), []);
    assert.deepEqual(t.ecc(0, 0, { hbmDoubleBit: 0, ddrDoubleBit: 0 }, 3), []);
    // A count above zero at the first reading was counted before the exporter started, at a time
    // nothing tells: the baseline, named for the log, not a fault of the processes on the chip now.
    const first = new NpuSmiTracker();
    assert.deepEqual(first.ecc(4, 0, { hbmDoubleBit: 1, ddrDoubleBit: 0 }, 0), []);
    assert.deepEqual(first.staleEcc, ["npu-04: double-bit hbm=1"]);
    assert.deepEqual(first.ecc(4, 0, { hbmDoubleBit: 1, ddrDoubleBit: 0 }, 1), []);
    assert.deepEqual(brief(first.ecc(4, 0, { hbmDoubleBit: 3, ddrDoubleBit: 0 }, 2)), ["error.hw npu-04 ECC_UNCORRECTED double-bit hbm=3 ddr=0"]);
    const count = new NpuSmiTracker();
    assert.deepEqual(count.ecc(1, 0, { doubleBit: 4 }, 0), []);
    assert.deepEqual(brief(count.ecc(1, 0, { doubleBit: 5 }, 1)), ["error.hw npu-01 ECC_UNCORRECTED double-bit count=5"]);
  });

  it("reports an HCCS link down and new link errors on hccs-N, and the chip's processes wait on it", () => {
    const t = new NpuSmiTracker({ refreshMs: 60_000 });
    t.info(table([chip(0)], [[0, 42]]), 0);
    const ok = { health: "OK", lanes: ["1111", "1111"], errors: 7, retries: 0 };
    assert.deepEqual(t.hccs(0, 0, ok, 0), [], "the first reading is the baseline, old errors are not news");
    assert.deepEqual(brief(t.hccs(0, 0, { ...ok, errors: 9 }, 1000)), ["error.net hccs-0 HCCS error count +2 total=9", "transport.drop hccs-0 pid=42 2"]);
    assert.deepEqual(brief(t.hccs(0, 0, { ...ok, health: "NOK", errors: 9 }, 2000)), ["error.net hccs-0 HCCS link down: health=NOK", "transport.drop hccs-0 pid=42 link_down"]);
    assert.deepEqual(t.hccs(0, 0, { ...ok, health: "NOK", errors: 9 }, 3000), [], "refreshed, not repeated");
    assert.equal(t.hccs(0, 0, { ...ok, health: "NOK", errors: 9 }, 62_000).length, 2);
    // Back up: the chip's process is told its wait on the link is over, once.
    assert.deepEqual(brief(t.hccs(0, 0, { ...ok, errors: 9 }, 63_000)), ["transport.bw hccs-0 pid=42 LINK_UP health=OK"]);
    assert.deepEqual(t.hccs(0, 0, { ...ok, errors: 9 }, 64_000), []);
  });

  it("reports a link with some lanes down, or rising retries, as HCCS_DEGRADED on the NPU", () => {
    const t = new NpuSmiTracker();
    t.hccs(2, 0, { health: "OK", lanes: ["1111", "1111"], retries: 0 }, 0);
    assert.deepEqual(brief(t.hccs(2, 0, { health: "OK", lanes: ["1111", "1101"], retries: 0 }, 1)), ["error.hw npu-02 HCCS_DEGRADED lanes=1111,1101"]);
    assert.deepEqual(t.hccs(2, 0, { health: "OK", lanes: ["1111", "1101"], retries: 0 }, 2), []);
    assert.deepEqual(brief(t.hccs(2, 0, { health: "OK", lanes: ["1111", "1111"], retries: 4 }, 3)), ["error.hw npu-02 HCCS_DEGRADED retries +4"]);
    assert.deepEqual(t.hccs(2, 0, { health: "OK", lanes: ["1111", "0000"], retries: 4 }, 4), [], "an unconnected link is not a degraded one");
  });
});
