// The CSV of nvidia-smi's query mode, on lines as a driver 580 host prints them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  GPU_QUERY,
  REMAP_QUERY,
  gpuQuery,
  helpFields,
  memPercent,
  numField,
  parseAppLine,
  parseGpuLine,
  parseLostLine,
  parseRemapLine,
  refusedField,
  textField,
} from "../../../src/sources/nvidia-smi/csv.ts";

// Excerpts of `nvidia-smi --help-query-gpu` as drivers print them: R535 and later name the
// clock reasons clocks_event_reasons.* with the old names as aliases; R470 knows only the old.
const HELP_R550 = `List of valid properties to query for the switch "--query-gpu":

"index"
Zero based index of the GPU. Can change at each boot.

"retired_pages.pending"
Checks if any GPU device memory pages are pending retirement on the next reboot.

"clocks_event_reasons.hw_slowdown" or "clocks_throttle_reasons.hw_slowdown"
HW Slowdown (reducing the core clocks by a factor of 2 or more) is engaged.

"clocks_event_reasons.hw_thermal_slowdown" or "clocks_throttle_reasons.hw_thermal_slowdown"
HW Thermal Slowdown is engaged. Values are "Active" or "Not Active".

"clocks_event_reasons.hw_power_brake_slowdown" or "clocks_throttle_reasons.hw_power_brake_slowdown"
HW Power Brake Slowdown is engaged.
`;
const HELP_R470 = `List of valid properties to query for the switch "--query-gpu":

"index"
"retired_pages.pending"
"clocks_throttle_reasons.hw_slowdown"
"clocks_throttle_reasons.hw_thermal_slowdown"
`;
const NEW_FIELDS = gpuQuery(helpFields(HELP_R550));

describe("nvidia-smi CSV", () => {
  it("parses a --query-gpu line in query order", () => {
    const s = parseGpuLine("0, GPU-831b3d27-d746-df2d-f98f-037dee1cdb5d, 00000000:00:06.0, 87, 1551, 81559, 45, 0");
    assert.deepEqual(s, {
      index: 0,
      uuid: "GPU-831b3d27-d746-df2d-f98f-037dee1cdb5d",
      busId: "0:00:06.0",
      util: 87,
      memUsed: 1551,
      memTotal: 81559,
      temp: 45,
      eccUncorrected: 0,
    });
    assert.equal(GPU_QUERY.length, 8);
  });

  it("leaves out [N/A], [Not Supported] and other bracketed markers", () => {
    const s = parseGpuLine("3, GPU-aa, 00000000:3B:00.0, [N/A], 20480, 81559, [N/A], [Not Supported]");
    assert.deepEqual(s, { index: 3, uuid: "GPU-aa", busId: "0:3b:00.0", memUsed: 20480, memTotal: 81559 });
    for (const raw of ["[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "N/A", "", " "]) {
      assert.equal(numField(raw), undefined, raw);
      assert.equal(textField(raw), undefined, raw);
    }
    assert.equal(numField("abc"), undefined);
    assert.equal(numField("117.08"), 117.08);
  });

  it("rejects what is not a GPU line: failures, headers, short or long lines", () => {
    for (const line of [
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
      "index, uuid, pci.bus_id, utilization.gpu [%], memory.used [MiB], memory.total [MiB], temperature.gpu, ecc.errors.uncorrected.volatile.total",
      "0, GPU-aa, 00000000:00:06.0, 87",
      "0, GPU-aa, 00000000:00:06.0, 87, 1, 2, 3, 4, 5",
      "[N/A], GPU-aa, 00000000:00:06.0, 87, 1551, 81559, 45, 0",
      "-1, GPU-aa, 00000000:00:06.0, 87, 1551, 81559, 45, 0",
      "",
    ]) {
      assert.equal(parseGpuLine(line), null, line);
    }
  });

  it("parses a --query-compute-apps line", () => {
    assert.deepEqual(parseAppLine("450, GPU-831b3d27-d746-df2d-f98f-037dee1cdb5d, 00000000:00:06.0, 1542"), {
      pid: 450,
      gpuUuid: "GPU-831b3d27-d746-df2d-f98f-037dee1cdb5d",
      gpuBusId: "0:00:06.0",
      usedMemory: 1542,
    });
    assert.deepEqual(parseAppLine("451, GPU-aa, 00000000:00:06.0, [N/A]"), { pid: 451, gpuUuid: "GPU-aa", gpuBusId: "0:00:06.0" });
    assert.equal(parseAppLine("No running processes found"), null);
    assert.equal(parseAppLine("[N/A], GPU-aa, 00000000:00:06.0, 1"), null);
    assert.equal(parseAppLine("4294967296, GPU-aa, 00000000:00:06.0, 1"), null);
  });

  it("writes bus ids one way whatever the domain width and case", () => {
    const a = parseGpuLine("0, GPU-aa, 00000000:3B:00.0, 1, 1, 1, 1, 0");
    const b = parseAppLine("9, GPU-aa, 0000:3b:00.0, 1");
    assert.equal(a?.busId, b?.gpuBusId);
  });

  it("reads the field names a driver's --help-query-gpu lists, not the values its text quotes", () => {
    const known = helpFields(HELP_R550);
    assert.ok(known.has("clocks_event_reasons.hw_slowdown") && known.has("clocks_throttle_reasons.hw_slowdown"));
    assert.ok(known.has("index") && known.has("retired_pages.pending"));
    assert.ok(!known.has("--query-gpu") && !known.has("Active"), [...known].join(","));
    assert.ok(helpFields('  "remapped_rows.failure"\n').has("remapped_rows.failure"), "an indented list too");
  });

  it("adds to the base query only the health fields the driver knows, under its names", () => {
    assert.deepEqual(NEW_FIELDS.slice(0, GPU_QUERY.length), [...GPU_QUERY]);
    assert.deepEqual(NEW_FIELDS.slice(GPU_QUERY.length), [
      "retired_pages.pending",
      "clocks_event_reasons.hw_slowdown",
      "clocks_event_reasons.hw_thermal_slowdown",
      "clocks_event_reasons.hw_power_brake_slowdown",
    ]);
    // An R470 driver: the old names, and no power brake field to refuse the query over.
    assert.deepEqual(gpuQuery(helpFields(HELP_R470)).slice(GPU_QUERY.length), [
      "retired_pages.pending",
      "clocks_throttle_reasons.hw_slowdown",
      "clocks_throttle_reasons.hw_thermal_slowdown",
    ]);
    // No list read: exactly the query of before.
    assert.deepEqual(gpuQuery(null), [...GPU_QUERY]);
    assert.deepEqual(gpuQuery(new Set(["index"])), [...GPU_QUERY]);
  });

  it("names the field a driver refused", () => {
    assert.equal(refusedField('Field "clocks_event_reasons.hw_slowdown" is not a valid field to query.'), "clocks_event_reasons.hw_slowdown");
    assert.equal(refusedField("0, GPU-aa, 00000000:00:06.0, 87, 1551, 81559, 45, 0"), undefined);
  });

  it("parses clock event reasons and retired pages after the base fields", () => {
    const s = parseGpuLine("0, GPU-aa, 00000000:18:00.0, 97, 1551, 81559, 88, 0, No, Active, Active, Not Active", NEW_FIELDS);
    assert.deepEqual(s, {
      index: 0,
      uuid: "GPU-aa",
      busId: "0:18:00.0",
      util: 97,
      memUsed: 1551,
      memTotal: 81559,
      temp: 88,
      eccUncorrected: 0,
      retiredPending: false,
      hwSlowdown: true,
      hwThermalSlowdown: true,
      hwPowerBrakeSlowdown: false,
    });
    assert.equal(parseGpuLine("0, GPU-aa, 00000000:18:00.0, 97, 1551, 81559, 88, 0, Yes, Not Active, Not Active, Not Active", NEW_FIELDS)?.retiredPending, true);
    // The base query's line is not a line of the longer one, and the other way round.
    assert.equal(parseGpuLine("0, GPU-aa, 00000000:18:00.0, 97, 1551, 81559, 88, 0", NEW_FIELDS), null);
    assert.equal(parseGpuLine("0, GPU-aa, 00000000:18:00.0, 97, 1551, 81559, 88, 0, No, Active, Active, Not Active"), null);
  });

  it("leaves [N/A] and [Not Supported] health fields unknown (MIG, Ampere's retired pages)", () => {
    const s = parseGpuLine("1, GPU-bb, 00000000:3B:00.0, [N/A], 20480, 81559, 41, 0, [N/A], [Not Supported], [Not Supported], [Not Supported]", NEW_FIELDS);
    assert.deepEqual(s, { index: 1, uuid: "GPU-bb", busId: "0:3b:00.0", memUsed: 20480, memTotal: 81559, temp: 41, eccUncorrected: 0 });
  });

  it("asks for the PCIe link's width, now and at most, where the driver lists them, and reads them as lane counts", () => {
    const help = `${HELP_R550}\n"pcie.link.width.current"\nThe current PCI-E link width.\n\n"pcie.link.width.max"\nThe maximum PCI-E link width possible with this GPU and system configuration.\n`;
    const fields = gpuQuery(helpFields(help));
    assert.deepEqual(fields.slice(-2), ["pcie.link.width.current", "pcie.link.width.max"]);
    const s = parseGpuLine("2, GPU-cc, 00000000:5D:00.0, 97, 1551, 81559, 60, 0, No, Not Active, Not Active, Not Active, 8, 16", fields);
    assert.deepEqual([s?.linkWidth, s?.linkWidthMax], [8, 16]);
    // Unknown, or no lane count (a unit, a marker, nonsense): left out.
    for (const raw of ["[N/A]", "[Unknown Error]", "16x", "0", "64", "8.5"]) {
      const t = parseGpuLine(`2, GPU-cc, 00000000:5D:00.0, 97, 1551, 81559, 60, 0, No, Not Active, Not Active, Not Active, ${raw}, 16`, fields);
      assert.equal(t?.linkWidth, undefined, raw);
      assert.equal(t?.linkWidthMax, 16, raw);
    }
  });

  it("marks a GPU whose fields read [GPU is lost] or [GPU requires reset]", () => {
    const lost = parseGpuLine(
      "1, GPU-bb, 00000000:3B:00.0, [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost]",
      NEW_FIELDS,
    );
    assert.deepEqual(lost, { index: 1, uuid: "GPU-bb", busId: "0:3b:00.0", lost: "GPU is lost" });
    assert.equal(parseGpuLine("2, GPU-cc, 00000000:5D:00.0, [GPU requires reset], 1, 2, 3, 4")?.lost, "GPU requires reset");
    assert.equal(parseGpuLine("2, GPU-cc, 00000000:5D:00.0, 1, 1, 2, 3, 4")?.lost, undefined);
  });

  it("reads nvidia-smi's line for a GPU it has no handle for", () => {
    assert.deepEqual(parseLostLine("Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error"), {
      busId: "0:3b:00.0",
      said: "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error",
    });
    const lost = parseLostLine("Unable to determine the device handle for GPU0000:4F:00.0: GPU is lost.  Reboot the system to recover this GPU");
    assert.equal(lost?.busId, "0:4f:00.0");
    // Later drivers put the GPU's index before the bus id (seen on R5xx hosts after an Xid 79).
    assert.deepEqual(parseLostLine("Unable to determine the device handle for GPU3: 0000:5F:00.0: Unknown Error"), {
      busId: "0:5f:00.0",
      index: 3,
      said: "Unable to determine the device handle for GPU3: 0000:5F:00.0: Unknown Error",
    });
    assert.equal(parseLostLine("Unable to determine the device handle for GPU1: 0000:44:00.0: GPU is lost.  Reboot the system to recover this GPU")?.busId, "0:44:00.0");
    for (const line of ["Failed to initialize NVML: Driver/library version mismatch", "No devices were found", "0, GPU-aa, 00000000:18:00.0, 1, 1, 1, 1, 0"]) {
      assert.equal(parseLostLine(line), null, line);
    }
  });

  it("parses a --query-remapped-rows line", () => {
    assert.deepEqual(REMAP_QUERY, ["gpu_bus_id", "gpu_uuid", "remapped_rows.pending", "remapped_rows.failure"]);
    assert.deepEqual(parseRemapLine("00000000:3B:00.0, GPU-bb, No, Yes"), { busId: "0:3b:00.0", uuid: "GPU-bb", pending: false, failure: true });
    assert.deepEqual(parseRemapLine("00000000:18:00.0, GPU-aa, Yes, No"), { busId: "0:18:00.0", uuid: "GPU-aa", pending: true, failure: false });
    // A MIG-enabled GPU or one without a row remapper.
    assert.deepEqual(parseRemapLine("00000000:18:00.0, GPU-aa, [N/A], [N/A]"), { busId: "0:18:00.0", uuid: "GPU-aa" });
    assert.equal(parseRemapLine("Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error"), null);
    assert.equal(parseRemapLine("gpu_bus_id, gpu_uuid, remapped_rows.pending, remapped_rows.failure".replace(/[a-z_.]+/g, "[N/A]")), null);
  });

  it("computes percent used to one decimal, never NaN", () => {
    assert.equal(memPercent(61440, 81559), 75.3);
    assert.equal(memPercent(0, 81559), 0);
    assert.equal(memPercent(1, 0), undefined);
    assert.equal(memPercent(undefined, 81559), undefined);
    assert.equal(memPercent(1, undefined), undefined);
  });
});
