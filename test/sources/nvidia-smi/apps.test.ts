// One --query-compute-apps run while a GPU has no device handle: what nvidia-smi prints then
// (apps.ts has the public reports), read as a snapshot of the GPUs it could ask.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsQuery, parseAppsRun } from "../../../src/sources/nvidia-smi/apps.ts";
import { APPS_QUERY, CSV_FORMAT } from "../../../src/sources/nvidia-smi/csv.ts";
import { ROOT } from "../../_helpers.ts";

// GPU 1 of three has no handle: its line in its place, the processes of GPU 0 and 2 around it, exit 15.
const LOST_RUN = [
  "4242, GPU-5e1c7a20-93d4-4b8e-a1f6-2c0d9b7e4100, 00000000:18:00.0, 61000",
  "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error",
  "777, GPU-5e1c7a20-93d4-4b8e-a1f6-2c0d9b7e4102, 00000000:86:00.0, 20000",
];

function logs() {
  const said: string[] = [];
  return { said, log: { warn: (m: string) => void said.push(`warn ${m}`), info: (m: string) => void said.push(`info ${m}`) } };
}

describe("a --query-compute-apps run with a GPU lost", () => {
  it("is the stand-in's exact output (exit 15)", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-apps-"));
    try {
      writeFileSync(join(dir, "lost"), "");
      const env = { ...process.env, FAKE_SMI_GPUS: "3", FAKE_SMI_PID3: "777", FAKE_SMI_LOST_FILE: join(dir, "lost"), FAKE_SMI_LOST_FORM: "handle" };
      const r = spawnSync(join(ROOT, "test/fixtures/nvidia-smi"), [`--query-compute-apps=${APPS_QUERY.join(",")}`, CSV_FORMAT], { env, encoding: "utf8" });
      assert.equal(r.status, 15);
      assert.deepEqual(r.stdout.split("\n").filter((l) => l !== ""), LOST_RUN);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads the processes of the GPUs it could ask and the GPU it could not", () => {
    assert.deepEqual(parseAppsRun(LOST_RUN), {
      rows: [
        { pid: 4242, gpuUuid: "GPU-5e1c7a20-93d4-4b8e-a1f6-2c0d9b7e4100", gpuBusId: "0:18:00.0", usedMemory: 61000 },
        { pid: 777, gpuUuid: "GPU-5e1c7a20-93d4-4b8e-a1f6-2c0d9b7e4102", gpuBusId: "0:86:00.0", usedMemory: 20000 },
      ],
      lost: [{ busId: "0:3b:00.0", said: LOST_RUN[1] }],
    });
    const later = parseAppsRun(["Unable to determine the device handle for GPU1: 0000:3B:00.0: GPU is lost.  Reboot the system to recover this GPU", ""]);
    assert.deepEqual(later.rows, []);
    assert.deepEqual(later.lost.map((l) => [l.index, l.busId]), [[1, "0:3b:00.0"]]);
    assert.equal(later.bad, undefined);
  });

  it("takes such a run as a snapshot, said once, and a run that names no lost GPU as failed", () => {
    const { said, log } = logs();
    const q = new AppsQuery(log);
    const snap = q.read({ lines: LOST_RUN, code: 15 });
    assert.deepEqual(snap?.rows.map((r) => r.pid), [4242, 777]);
    assert.deepEqual(snap?.lost.map((l) => l.busId), ["0:3b:00.0"]);
    assert.ok(q.read({ lines: LOST_RUN, code: 15 }));
    assert.deepEqual(said, [
      `warn compute process query (exit 15): ${LOST_RUN[1]}; the processes of the other GPUs are read, those on the lost GPU kept as they were until it answers`,
    ]);
    assert.deepEqual(q.read({ lines: [LOST_RUN[0]], code: 0 })?.lost, []);
    assert.equal(said.at(-1), "info compute process query works again");
    // Exit 15 with no lost GPU named, a driver failure, or a line that is neither: nothing concluded.
    assert.equal(q.read({ lines: [LOST_RUN[0]], code: 15 }), null);
    assert.equal(q.read({ lines: ["NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."], code: 9 }), null);
    assert.equal(q.read({ lines: [...LOST_RUN, "Segmentation fault"], code: 15 }), null);
    assert.equal(q.read({ lines: LOST_RUN, code: null, failed: "no answer in 10000 ms" }), null);
    assert.deepEqual(said.slice(2), [
      "warn compute process query failed (exit 15); process events paused",
      "warn compute process query failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.; process events paused",
      "warn compute process query failed (exit 15): Segmentation fault; process events paused",
      "warn compute process query failed (no answer in 10000 ms); process events paused",
    ]);
  });
});
