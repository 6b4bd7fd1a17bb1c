// From nvidia-smi samples to events: GPU figures, consumes-making pid events, exits, and
// hardware errors on change only. The clock is passed in, so no test waits.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { GpuSample } from "../../../src/sources/nvidia-smi/csv.ts";
import { gpuName } from "../../../src/sources/gpu-name.ts";
import { NvidiaSmiTracker } from "../../../src/sources/nvidia-smi/tracker.ts";

const gpu0: GpuSample = { index: 0, uuid: "GPU-a", busId: "0:18:00.0", util: 85, memUsed: 61440, memTotal: 81559, temp: 45, eccUncorrected: 0 };
const gpu1: GpuSample = { index: 1, uuid: "GPU-b", busId: "0:3b:00.0", util: 35, memUsed: 20480, memTotal: 81559, temp: 41, eccUncorrected: 0 };

describe("NvidiaSmiTracker", () => {
  it("names GPUs gpu-NN", () => {
    assert.equal(gpuName(0), "gpu-00");
    assert.equal(gpuName(7), "gpu-07");
    assert.equal(gpuName(12), "gpu-12");
  });

  it("emits util and mem percent per GPU, without pid", () => {
    const t = new NvidiaSmiTracker();
    assert.deepEqual(t.gpu(gpu0, 1000), [
      { ts: 1000, event_type: "compute.util", entity_id: "gpu-00", value: "85" },
      { ts: 1000, event_type: "compute.mem", entity_id: "gpu-00", value: "75.3" },
    ]);
    assert.deepEqual(t.gpu({ index: 1 }, 1000), []);
  });

  it("gives each compute process a pid event on its GPU, matched by uuid or bus id", () => {
    const t = new NvidiaSmiTracker();
    t.gpu(gpu0, 1);
    t.gpu({ ...gpu1, util: undefined }, 1);
    const out = t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 11, gpuBusId: "0:3b:00.0" }, { pid: 12, gpuUuid: "GPU-unknown" }], 2);
    assert.deepEqual(out, [
      { ts: 2, event_type: "compute.util", entity_id: "gpu-00", pid: 10, value: "85" },
      // no util on gpu-01: the GPU's mem percent carries the pid instead
      { ts: 2, event_type: "compute.mem", entity_id: "gpu-01", pid: 11, value: "25.1" },
    ]);
  });

  it("reports exit once when a process leaves every GPU", () => {
    const t = new NvidiaSmiTracker();
    t.gpu(gpu0, 1);
    t.gpu(gpu1, 1);
    t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 11, gpuUuid: "GPU-b" }, { pid: 11, gpuUuid: "GPU-a" }], 2);
    const moved = t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 11, gpuUuid: "GPU-a" }], 3);
    assert.equal(moved.filter((e) => e.event_type === "process.state").length, 0);
    const gone = t.apps([{ pid: 10, gpuUuid: "GPU-a" }], 4);
    assert.deepEqual(gone.filter((e) => e.event_type === "process.state"), [
      { ts: 4, event_type: "process.state", entity_id: "gpu-00", pid: 11, value: "exit" },
    ]);
    const empty = t.apps([], 5);
    assert.deepEqual(empty, [{ ts: 5, event_type: "process.state", entity_id: "gpu-00", pid: 10, value: "exit" }]);
    assert.deepEqual(t.apps([], 6), []);
  });

  it("keeps the processes of a GPU nvidia-smi has no handle for, while the other GPUs' exits and starts go on", () => {
    const t = new NvidiaSmiTracker();
    const gpu2: GpuSample = { index: 2, uuid: "GPU-c", busId: "0:86:00.0", util: 60, memUsed: 1000, memTotal: 81559 };
    for (const g of [gpu0, gpu1, gpu2]) t.gpu(g, 1);
    t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 11, gpuUuid: "GPU-b" }], 2);
    // GPU 1 fell off the bus: the run lists GPU 0's process, the line for GPU 1, and a new one on GPU 2.
    const lost = { busId: "0:3b:00.0", said: "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error" };
    assert.deepEqual(t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 12, gpuUuid: "GPU-c" }], 3, [lost]), [
      { ts: 3, event_type: "compute.util", entity_id: "gpu-00", pid: 10, value: "85" },
      { ts: 3, event_type: "compute.util", entity_id: "gpu-02", pid: 12, value: "60" },
    ]);
    // GPU 0's process exits; the one on GPU 1 is not ended for leaving the table (also named by index).
    assert.deepEqual(t.apps([{ pid: 12, gpuUuid: "GPU-c" }], 4, [{ ...lost, busId: "0:3b:00.0", index: 1 }]), [
      { ts: 4, event_type: "compute.util", entity_id: "gpu-02", pid: 12, value: "60" },
      { ts: 4, event_type: "process.state", entity_id: "gpu-00", pid: 10, value: "exit" },
    ]);
    assert.deepEqual(t.kept, [11]);
    assert.deepEqual(t.end(12, 4), [], "only a kept pid is ended so");
    // Read lost by the GPU query instead ([GPU is lost] fields): kept as well.
    t.gpu({ index: 1, uuid: "GPU-b", busId: "0:3b:00.0", lost: "GPU is lost" }, 5);
    assert.deepEqual(t.apps([{ pid: 12, gpuUuid: "GPU-c" }], 6).filter((e) => e.event_type === "process.state"), []);
    // GPU 1 answers again and does not list it: then it has gone.
    t.gpu(gpu1, 7);
    assert.deepEqual(t.apps([{ pid: 12, gpuUuid: "GPU-c" }], 8).filter((e) => e.event_type === "process.state"), [
      { ts: 8, event_type: "process.state", entity_id: "gpu-01", pid: 11, value: "exit" },
    ]);
    assert.deepEqual(t.kept, []);
  });

  it("ends a process kept on a lost GPU once the host says it has gone, and only once", () => {
    const t = new NvidiaSmiTracker();
    for (const g of [gpu0, gpu1]) t.gpu(g, 1);
    t.apps([{ pid: 10, gpuUuid: "GPU-a" }, { pid: 11, gpuUuid: "GPU-b" }], 2);
    const lost = { busId: "0:3b:00.0", said: "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error" };
    t.apps([{ pid: 10, gpuUuid: "GPU-a" }], 3, [lost]);
    assert.deepEqual(t.end(11, 4), [{ ts: 4, event_type: "process.state", entity_id: "gpu-01", pid: 11, value: "exit" }]);
    assert.deepEqual(t.end(11, 5), []);
    assert.deepEqual(t.apps([{ pid: 10, gpuUuid: "GPU-a" }], 6, [lost]).filter((e) => e.event_type === "process.state"), []);
    assert.deepEqual(t.kept, []);
  });

  it("reports uncorrected ECC errors when the count rises, not on every sample", () => {
    const t = new NvidiaSmiTracker();
    const hw = (s: GpuSample, now: number) => t.gpu(s, now).filter((e) => e.event_type === "error.hw").map((e) => e.value);
    assert.deepEqual(hw(gpu0, 1), []);
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: 2 }, 2), ["ECC_UNCORRECTED count=2"]);
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: 2 }, 3), []);
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: undefined }, 4), []);
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: 3 }, 5), ["ECC_UNCORRECTED count=3"]);
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: 0 }, 6), []); // driver reload resets it
    assert.deepEqual(hw({ ...gpu0, eccUncorrected: 1 }, 7), ["ECC_UNCORRECTED count=1"]);
  });

  it("takes a count already above zero at the first sample as the baseline, named for the log, and reports a rise", () => {
    // Counted before the exporter started, at a time nothing tells: no fault of the processes on
    // the GPU now (an exporter restart made a week-old double-bit error theirs).
    const t = new NvidiaSmiTracker();
    assert.deepEqual(t.gpu({ index: 2, eccUncorrected: 4 }, 1).filter((e) => e.event_type === "error.hw"), []);
    assert.deepEqual(t.staleEcc, ["gpu-02: 4"]);
    assert.deepEqual(t.gpu({ index: 2, eccUncorrected: 4 }, 2).filter((e) => e.event_type === "error.hw"), []);
    assert.deepEqual(t.gpu({ index: 2, eccUncorrected: 5 }, 3).filter((e) => e.event_type === "error.hw"), [
      { ts: 3, event_type: "error.hw", entity_id: "gpu-02", value: "ECC_UNCORRECTED count=5" },
    ]);
    assert.deepEqual(new NvidiaSmiTracker().staleEcc, []);
  });

  it("reports high temperature on crossing and at most once a minute while it stays high", () => {
    const t = new NvidiaSmiTracker({ tempThreshold: 90 });
    const hw = (temp: number, now: number) =>
      t.gpu({ index: 0, temp }, now).filter((e) => e.event_type === "error.hw").map((e) => e.value);
    assert.deepEqual(hw(90, 0), []);
    assert.deepEqual(hw(91, 1_000), ["TEMP_HIGH temp=91"]);
    assert.deepEqual(hw(95, 2_000), []);
    assert.deepEqual(hw(95, 60_999), []);
    assert.deepEqual(hw(96, 61_000), ["TEMP_HIGH temp=96"]);
    assert.deepEqual(hw(80, 62_000), []);
    assert.deepEqual(hw(92, 63_000), ["TEMP_HIGH temp=92"]);
  });

  it("reports a lost GPU on its name, each minute while it lasts, and forgets it once it answers", () => {
    const t = new NvidiaSmiTracker();
    const hw = (s: GpuSample, now: number) => t.gpu(s, now).filter((e) => e.event_type === "error.hw").map((e) => `${e.entity_id} ${e.value}`);
    assert.deepEqual(hw(gpu1, 0), []);
    const lost: GpuSample = { index: 1, uuid: "GPU-b", busId: "0:3b:00.0", lost: "GPU is lost" };
    assert.deepEqual(t.gpu(lost, 1_000), [
      { ts: 1_000, event_type: "error.hw", entity_id: "gpu-01", value: "GPU_LOST fields read [GPU is lost]" },
      // Its load reads as nvidia-smi prints it, no number: its last figures do not stand for now.
      { ts: 1_000, event_type: "compute.util", entity_id: "gpu-01", value: "[GPU is lost]" },
      { ts: 1_000, event_type: "compute.mem", entity_id: "gpu-01", value: "[GPU is lost]" },
    ]);
    assert.deepEqual(t.gpu(lost, 2_000), [], "said with the GPU_LOST event, not each sample");
    assert.deepEqual(hw(lost, 2_000), []);
    assert.deepEqual(hw(lost, 61_000), ["gpu-01 GPU_LOST fields read [GPU is lost]"]);
    assert.deepEqual(hw(gpu1, 62_000), []);
    assert.deepEqual(hw(lost, 63_000), ["gpu-01 GPU_LOST fields read [GPU is lost]"]);
    assert.deepEqual(hw({ index: 2, lost: "GPU requires reset" }, 64_000), ["gpu-02 GPU_RESET_REQUIRED fields read [GPU requires reset]"]);
  });

  it("names a GPU without a handle by its index when its bus id was seen, else by the bus id as builtin:kmsg does", () => {
    const t = new NvidiaSmiTracker();
    t.gpu(gpu1, 0);
    const said = "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error";
    assert.deepEqual(t.lost({ busId: "0:3b:00.0", said }, 1_000), [
      { ts: 1_000, event_type: "error.hw", entity_id: "gpu-01", value: `GPU_LOST ${said}` },
      { ts: 1_000, event_type: "compute.util", entity_id: "gpu-01", value: "[GPU is lost]" },
      { ts: 1_000, event_type: "compute.mem", entity_id: "gpu-01", value: "[GPU is lost]" },
    ]);
    assert.deepEqual(t.lost({ busId: "0:3b:00.0", said }, 30_000), []);
    assert.equal(t.lost({ busId: "0:3b:00.0", said }, 61_000).filter((e) => e.event_type === "error.hw").length, 1);
    const other = "Unable to determine the device handle for GPU 0000:86:00.0: Unknown Error";
    assert.deepEqual(t.lost({ busId: "0:86:00.0", said: other }, 2_000).map((e) => e.entity_id), ["gpu-0000:86:00", "gpu-0000:86:00", "gpu-0000:86:00"]);
    assert.deepEqual(t.lost({ busId: "0:86:00.0", said: other }, 3_000), []);
    // Started after the fall: no sample had its bus id, but later drivers print its index first.
    const fresh = new NvidiaSmiTracker();
    const indexed = "Unable to determine the device handle for GPU3: 0000:5F:00.0: Unknown Error";
    assert.deepEqual(fresh.lost({ busId: "0:5f:00.0", index: 3, said: indexed }, 1_000).map((e) => e.entity_id), ["gpu-03", "gpu-03", "gpu-03"]);
  });

  it("reports row remapping failed or pending on the row's GPU, each minute while it lasts", () => {
    const t = new NvidiaSmiTracker();
    t.gpu(gpu0, 0);
    t.gpu(gpu1, 0);
    const rm = (rows: Parameters<NvidiaSmiTracker["remap"]>[0], now: number) => t.remap(rows, now).map((e) => `${e.entity_id} ${e.value}`);
    assert.deepEqual(rm([{ busId: "0:18:00.0", pending: false, failure: false }, { uuid: "GPU-b", pending: false, failure: true }], 1_000), [
      "gpu-01 ROW_REMAP_FAILURE remapped_rows.failure=Yes: replace the GPU",
    ]);
    assert.deepEqual(rm([{ busId: "0:18:00.0", pending: true, failure: false }, { uuid: "GPU-b", pending: false, failure: true }], 31_000), [
      "gpu-00 ROW_REMAP_PENDING remapped_rows.pending=Yes: reset the GPU once drained",
    ]);
    assert.deepEqual(rm([{ busId: "0:18:00.0", pending: true }, { uuid: "GPU-b", failure: true }], 61_000), [
      "gpu-01 ROW_REMAP_FAILURE remapped_rows.failure=Yes: replace the GPU",
    ]);
    // A reset cleared the pending flag; [N/A] (MIG) says nothing; an unknown GPU waits for a sample.
    assert.deepEqual(rm([{ busId: "0:18:00.0", pending: false }, { uuid: "GPU-b" }, { uuid: "GPU-new", failure: true }], 62_000), []);
    assert.deepEqual(rm([{ busId: "0:18:00.0", pending: true }], 63_000), ["gpu-00 ROW_REMAP_PENDING remapped_rows.pending=Yes: reset the GPU once drained"]);
  });

  it("reports pages pending retirement while they wait for a reset", () => {
    const t = new NvidiaSmiTracker();
    const hw = (retiredPending: boolean | undefined, now: number) =>
      t.gpu({ ...gpu0, ...(retiredPending === undefined ? {} : { retiredPending }) }, now).filter((e) => e.event_type === "error.hw").map((e) => e.value);
    assert.deepEqual(hw(false, 0), []);
    assert.deepEqual(hw(true, 1_000), ["RETIRED_PAGES_PENDING retired_pages.pending=Yes: takes effect at the next GPU reset"]);
    assert.deepEqual(hw(undefined, 2_000), []);
    assert.deepEqual(hw(true, 3_000), []);
    assert.deepEqual(hw(true, 61_000).length, 1);
  });

  it("reports a PCIe link on fewer lanes than it can train to once it held 3 samples in a row, each minute while it lasts", () => {
    const t = new NvidiaSmiTracker();
    const link = (linkWidth: number | null, now: number, linkWidthMax: number | null = 16) =>
      t.gpu({ index: 2, ...(linkWidth === null ? {} : { linkWidth }), ...(linkWidthMax === null ? {} : { linkWidthMax }) }, now).map((e) => `${e.entity_id} ${e.value}`);
    // A link that retrains for a sample or two after an error: nothing.
    assert.deepEqual([link(16, 0), link(8, 1_000), link(8, 2_000), link(16, 3_000)], [[], [], [], []]);
    assert.deepEqual([link(8, 4_000), link(8, 5_000)], [[], []]);
    assert.deepEqual(link(8, 6_000), ["gpu-02 PCIE_LINK_DEGRADED width x8 of x16"]);
    assert.deepEqual(link(8, 7_000), []);
    assert.deepEqual(link(4, 66_000), ["gpu-02 PCIE_LINK_DEGRADED width x4 of x16"]);
    // Unknown fields neither end nor start a run; a full-width link ends it.
    assert.deepEqual(link(null, 67_000), []);
    assert.deepEqual(link(8, 127_000, null), []);
    assert.deepEqual(link(16, 128_000), []);
    assert.deepEqual(link(8, 129_000), []);
    // A x16 GPU in a x8 slot reads x8 of x8: as it should be.
    const t2 = new NvidiaSmiTracker({ slowdownSamples: 1 });
    assert.deepEqual(t2.gpu({ index: 0, linkWidth: 8, linkWidthMax: 8 }, 0), []);
  });

  it("reports HW slowdown once it held 3 samples in a row, not a blip, and each minute while it lasts", () => {
    const t = new NvidiaSmiTracker();
    const hw = (on: { hwSlowdown?: boolean; hwThermalSlowdown?: boolean; hwPowerBrakeSlowdown?: boolean }, now: number) =>
      t.gpu({ index: 3, hwSlowdown: false, hwThermalSlowdown: false, hwPowerBrakeSlowdown: false, ...on }, now).map((e) => e.value);
    const hot = { hwSlowdown: true, hwThermalSlowdown: true };
    // A clock change shows hw_slowdown for a sample or two: nothing.
    assert.deepEqual([hw({ hwSlowdown: true }, 0), hw({ hwSlowdown: true }, 1_000), hw({}, 2_000)], [[], [], []]);
    assert.deepEqual([hw(hot, 3_000), hw(hot, 4_000)], [[], []]);
    assert.deepEqual(hw(hot, 5_000), ["HW_SLOWDOWN hw_slowdown,hw_thermal_slowdown"]);
    assert.deepEqual(hw(hot, 6_000), []);
    assert.deepEqual(hw({ hwSlowdown: true, hwPowerBrakeSlowdown: true }, 65_000), ["HW_SLOWDOWN hw_slowdown,hw_power_brake_slowdown"]);
    assert.deepEqual(hw({}, 66_000), []);
    // Fields the driver does not have ([Not Supported]) neither start nor end a run.
    const t2 = new NvidiaSmiTracker({ slowdownSamples: 1 });
    assert.deepEqual(t2.gpu({ index: 0 }, 0), []);
    assert.deepEqual(t2.gpu({ index: 0, hwSlowdown: true }, 1).map((e) => e.value), ["HW_SLOWDOWN hw_slowdown"]);
  });
});
