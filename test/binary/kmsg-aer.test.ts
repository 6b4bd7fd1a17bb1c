// builtin:kmsg through the compiled binary on PCIe AER records: a corrected-error storm on a
// root port is counted and makes no error; a fatal error on that port reaches the GPU behind its
// PCIe switch (found in the sysfs fixture tree; index 1 from the stand-in nvidia-smi on PATH), and
// `why` of the process on that GPU names the fault and the gpu_xid scene. A SIGBUS for hardware
// memory corruption is charged to the process it names, not to its neighbour.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const FIXTURES = join(ROOT, "test/fixtures/kmsg");
const skip = !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PATH_FLAGS ? "the binary has no --path.sysfs" : false;

interface Why {
  root_causes: { entity: string; error_type: string }[];
  scenes: { scene: string }[];
}

describe("builtin:kmsg in the binary: PCIe AER", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-aer-"));
  const file = join(dir, "kmsg");
  const btime = Math.floor(Date.now() / 1000) - 3600;
  let seq = 10;
  const kernel = (prio: number, message: string, pci: string | null) => {
    const usec = (Date.now() - btime * 1000) * 1000;
    appendFileSync(file, `${prio},${seq++},${usec},-;${message}\n${pci === null ? "" : ` SUBSYSTEM=pci\n DEVICE=+pci:${pci}\n`}`);
  };
  const push = async (events: object[]) => {
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify(e)).join("\n") });
    assert.equal(res.status, 200, await res.text());
  };
  let ex: RunningExporter;

  before(async () => {
    writeFileSync(file, "6,1,1000,-;pci 0000:3b:00.0: [10de:2330] type 00 class 0x030200\n SUBSYSTEM=pci\n DEVICE=+pci:0000:3b:00.0\n");
    ex = await startKmsgExporter(file, { procfs: join(dir, "proc"), btime, sysfs: join(FIXTURES, "sysfs"), driver: join(FIXTURES, "procfs/driver") });
  });
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a corrected storm is counted only; a fatal error on the root port blocks the process on the GPU below it, and why says gpu_xid", async () => {
    const res = await fetch(`${ex.url}/api/v1/events`, {
      method: "POST",
      body: [
        { event_type: "process.state", entity_id: "gpu-01", pid: 7171, job_id: "job-71", value: "start" },
        { event_type: "compute.util", entity_id: "gpu-01", pid: 7171, job_id: "job-71", value: "92" },
      ].map((e) => JSON.stringify(e)).join("\n"),
    });
    assert.equal(res.status, 200, await res.text());
    for (let i = 0; i < 200; i++) kernel(4, "pcieport 0000:00:03.1: AER: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)", "0000:00:03.1");
    await eventually(async () => (await scrape(ex.url)).get('xctl_kmsg_records_total{kind="pcie_aer_corrected"}') === 200, 10_000, "200 corrected records counted");
    assert.equal((await scrape(ex.url)).get("xctl_error_nodes"), 0, "a corrected error is no fault");

    kernel(3, "pcieport 0000:00:03.1: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, id=0019(Receiver ID)", "0000:00:03.1");
    kernel(6, "nvidia 0000:3b:00.0: AER: can't recover (no error_detected callback)", "0000:3b:00.0");
    const w = await eventually(async () => {
      const r = await fetch(`${ex.url}/api/v1/why/7171`);
      const a = r.status === 200 ? ((await r.json()) as Why) : undefined;
      return a && a.root_causes.length > 0 && a.scenes.length > 0 ? a : undefined;
    }, 10_000, "a root cause and a scene for 7171");
    // The fatal error and, once read too, the GPU's unrecovered one: each code of gpu-01's faults is a cause.
    assert.ok(w.root_causes.length >= 1 && w.root_causes.length <= 2, JSON.stringify(w.root_causes));
    for (const c of w.root_causes) {
      assert.equal(c.entity, "gpu-01");
      assert.match(c.error_type, /^PCIE_AER_(?:FATAL pcieport 0000:00:03\.1: PCIe Bus Error: severity=Uncorrected \(Fatal\)|UNRECOVERED nvidia 0000:3b:00\.0: AER: can't recover)/);
    }
    assert.ok(w.scenes.some((s) => s.scene === "gpu_xid"), JSON.stringify(w.scenes.map((s) => s.scene)));
    assert.equal((await scrape(ex.url)).get('xctl_kmsg_records_total{kind="pcie_aer"}'), 2);
  });

  it("a SIGBUS for hardware memory corruption: why of that process names it; its neighbour is not charged", async () => {
    await push([
      { event_type: "process.state", entity_id: "gpu-00", pid: 8181, job_id: "job-81", value: "start" },
      { event_type: "compute.util", entity_id: "gpu-00", pid: 8181, job_id: "job-81", value: "90" },
      { event_type: "process.state", entity_id: "gpu-00", pid: 8282, job_id: "job-82", value: "start" },
      { event_type: "compute.util", entity_id: "gpu-00", pid: 8282, job_id: "job-82", value: "90" },
    ]);
    kernel(3, "Memory failure: 0x3f2c5d: Sending SIGBUS to python3:8181 due to hardware memory corruption", null);
    const w = await eventually(async () => {
      const r = await fetch(`${ex.url}/api/v1/why/8181`);
      const a = r.status === 200 ? ((await r.json()) as Why) : undefined;
      return a && a.root_causes.length > 0 ? a : undefined;
    }, 10_000, "a root cause for 8181");
    assert.deepEqual(w.root_causes.map((c) => [c.entity, c.error_type.split(" ")[0]]), [["memory", "HW_MEMORY_CORRUPTION"]]);
    const other = (await (await fetch(`${ex.url}/api/v1/why/8282`)).json()) as Why;
    assert.deepEqual(other.root_causes, []);
  });
});
