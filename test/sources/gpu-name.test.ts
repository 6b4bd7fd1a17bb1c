// One GPU, one name, whichever collector names it (src/sources/gpu-name.ts): builtin:nvidia-smi's
// GPU_LOST for a GPU it has no handle for, and builtin:kmsg's Xid for the same bus id, on the
// fixture procfs tree of the driver's GPUs (0000:18, 0000:3b, 0000:86, 0009:01; their Device
// Minors 0 1 4 6 are not nvidia-smi's order, their bus order is).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { driverGpus, nameGpu } from "../../src/sources/gpu-name.ts";
import { GpuMap } from "../../src/sources/kmsg/gpu-map.ts";
import { NvidiaSmiSource } from "../../src/sources/nvidia-smi/index.ts";
import { NvidiaSmiTracker } from "../../src/sources/nvidia-smi/tracker.ts";
import { eventually } from "../_helpers.ts";
import { FAKE_SMI, HOST, recorder } from "./_kmsg-kit.ts";

const SAID = "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error";

describe("GPU names", () => {
  it("read the driver's GPUs in PCI bus order, normalised; none where the tree is not there", async () => {
    assert.deepEqual(await driverGpus(HOST.procfs), ["0000:18:00", "0000:3b:00", "0000:86:00", "0009:01:00"]);
    assert.equal(await driverGpus("/nonexistent"), null);
  });

  it("an index wins over a rank, a rank agreeing with the indexes known wins over the bus id", async () => {
    const driver = await driverGpus(HOST.procfs);
    const none = new Map<string, number>();
    assert.equal(nameGpu("PCI:0000:3b:00", none, driver), "gpu-01");
    assert.equal(nameGpu("00000009:01:00.0", none, driver), "gpu-03");
    assert.equal(nameGpu("0000:3b:00", new Map([["0000:3b:00", 5]]), driver), "gpu-05", "a real index, whatever the rank");
    assert.equal(nameGpu("0000:3b:00", new Map([["0000:18:00", 0], ["0000:86:00", 2]]), driver), "gpu-01", "ranks that agree with the others' indexes");
    // The driver's list is not what nvidia-smi numbers: 0000:86 is nvidia-smi's GPU 1, so ranks
    // above 0000:18 are off by one and the lost GPU's is not its index.
    assert.equal(nameGpu("0000:3b:00", new Map([["0000:86:00", 1]]), driver), "gpu-0000:3b:00");
    // Another GPU holds the rank as its index (one the driver does not list).
    assert.equal(nameGpu("0000:3b:00", new Map([["0000:af:00", 1]]), driver), "gpu-0000:3b:00");
    assert.equal(nameGpu("0000:b3:00.0", none, driver), "gpu-0000:b3:00", "a GPU the driver does not list");
    assert.equal(nameGpu("0000:3b:00", none, null), "gpu-0000:3b:00", "no tree to read");
  });

  it("builtin:nvidia-smi's tracker names a GPU without a handle by the driver's list when no sample had it", async () => {
    const driver = await driverGpus(HOST.procfs);
    const t = new NvidiaSmiTracker();
    t.gpu({ index: 0, busId: "0:18:00.0", util: 80 }, 0);
    assert.equal(t.needsDriverList({ busId: "0:3b:00.0", said: SAID }), true);
    assert.deepEqual(t.lost({ busId: "0:3b:00.0", said: SAID }, 1_000, driver).map((e) => e.entity_id), ["gpu-01", "gpu-01", "gpu-01"]);
    // Named once: the next reports keep the name without the list.
    assert.equal(t.needsDriverList({ busId: "0:3b:00.0", said: SAID }), false);
    assert.deepEqual(t.lost({ busId: "0:3b:00.0", said: SAID }, 61_000).map((e) => e.entity_id), ["gpu-01", "gpu-01", "gpu-01"]);
    // The index the line gives wins.
    assert.equal(t.needsDriverList({ busId: "0:86:00.0", index: 7, said: SAID }), false);
    assert.deepEqual(t.lost({ busId: "0:86:00.0", index: 7, said: SAID }, 1_000, driver).map((e) => e.entity_id), ["gpu-07", "gpu-07", "gpu-07"]);
  });

  it("builtin:nvidia-smi and builtin:kmsg give a GPU lost before the exporter started one name (the stand-in, the fixture tree)", async () => {
    // An older driver: the line names no index, and no sample ever had the GPU's bus id.
    const dir = mkdtempSync(join(tmpdir(), "xctl-gpu-name-"));
    const env = { PATH: `${dirname(FAKE_SMI)}:/usr/bin:/bin`, FAKE_SMI_LOST_FILE: dir, FAKE_SMI_LOST_FORM: "handle" };
    const smi = new NvidiaSmiSource({ command: FAKE_SMI, intervalMs: 40, stallMs: 1000, env, procfs: HOST.procfs });
    const rec = recorder();
    try {
      smi.start(rec.ctx);
      // Held until the first process snapshot, which fails on the lost GPU: released after stallMs (1 s).
      const lost = await eventually(() => rec.events.find((e) => String(e.value).startsWith("GPU_LOST")), 20_000, "GPU_LOST");
      const kmsg = new GpuMap({ procfs: HOST.procfs, command: FAKE_SMI, env });
      assert.equal(lost.entity_id, await kmsg.entity("PCI:0000:3b:00"));
      assert.equal(lost.entity_id, "gpu-01");
    } finally {
      await smi.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
