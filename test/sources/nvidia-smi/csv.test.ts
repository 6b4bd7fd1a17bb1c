// The CSV of nvidia-smi's query mode, on lines as a driver 580 host prints them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  GPU_QUERY,
  memPercent,
  numField,
  parseAppLine,
  parseGpuLine,
  textField,
} from "../../../src/sources/nvidia-smi/csv.ts";

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

  it("computes percent used to one decimal, never NaN", () => {
    assert.equal(memPercent(61440, 81559), 75.3);
    assert.equal(memPercent(0, 81559), 0);
    assert.equal(memPercent(1, 0), undefined);
    assert.equal(memPercent(undefined, 81559), undefined);
    assert.equal(memPercent(1, undefined), undefined);
  });
});
