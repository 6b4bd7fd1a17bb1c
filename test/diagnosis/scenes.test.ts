// Every default rule, driven by events through a real Exporter: a scenario that makes it fire
// and a near miss that must not.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ev, scenario, start, type Scenario } from "./_scenario.ts";

type Step = (s: Scenario) => void;

interface Case {
  scene: string;
  fires: Step;
  nearMiss: Step;
}

const CASES: Case[] = [
  {
    scene: "gpu_oom",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.mem", "gpu-0", "97", 100));
      s.send(ev("error.hw", "gpu-0", "CUDA out of memory"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.mem", "gpu-0", "80", 100));
      s.send(ev("error.hw", "gpu-0", "OOM"));
    },
  },
  {
    scene: "gpu_util_low",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-1", "3", 100));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-1", "55", 100));
    },
  },
  {
    scene: "network_stall",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("transport.drop", "mlx5_0", "25", 100));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("transport.drop", "mlx5_0", "4", 100));
    },
  },
  {
    scene: "roce_congestion",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("transport.bw", "mlx5_1", "0.2", 100));
      s.send(ev("error.net", "mlx5_1", "PFC pause storm"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("transport.bw", "mlx5_1", "0.2", 100));
      s.send(ev("error.net", "eth0", "ECN marks rising"));
    },
  },
  {
    scene: "storage_io_error",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("storage.iops", "nvme0n1", "IO_WAIT", 100));
      s.send(ev("error.hw", "nvme0n1", "EIO on read"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("storage.iops", "nvme0n1", "IO_WAIT", 100));
      s.send(ev("error.hw", "nvme0n1", "SMART temperature warning"));
    },
  },
  {
    scene: "storage_slow",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("storage.qdepth", "storage-01", "32"));
      s.send(ev("storage.iops", "storage-01", "0.5", 100));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("storage.qdepth", "storage-01", "0", 100));
      s.send(ev("storage.iops", "storage-01", "850"));
    },
  },
  {
    scene: "dataloader_io_error",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "2", 100));
      s.send(ev("storage.iops", "storage-01", "IO_WAIT", 100));
      s.send(ev("error.hw", "storage-01", "read error"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "90", 100));
      s.send(ev("storage.iops", "storage-01", "IO_WAIT", 100));
      s.send(ev("error.hw", "storage-01", "read error"));
    },
  },
  {
    scene: "checkpoint_timeout",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("process.state", "host-01", "checkpoint_saving", 100));
      s.send(ev("storage.iops", "storage-02", "IO_WAIT", 100));
      s.send(ev("storage.iops", "storage-02", "20"));
      s.send(ev("storage.qdepth", "storage-02", "64"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("process.state", "host-01", "checkpoint_saving", 100));
      s.send(ev("storage.iops", "storage-02", "IO_WAIT", 100));
      s.send(ev("storage.iops", "storage-02", "400"));
    },
  },
  {
    scene: "process_crash",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-2", "80", 100));
      s.send(ev("error.hw", "gpu-2", "XID_79"));
      s.send(ev("process.state", "host-01", "exit", 100));
      // The exited process and its edges leave at the next cleanup, before the run.
      s.send(ev("compute.util", "gpu-3", "70"), 5_000);
      assert.equal(s.ex.graph.processes.has(100), false);
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-2", "80", 100));
      s.send(ev("process.state", "host-01", "exit", 100));
    },
  },
  {
    scene: "workload_stalled",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "1", 100));
      s.send(ev("transport.bw", "mlx5_0", "0.1", 100));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "60", 100));
      s.send(ev("transport.bw", "mlx5_0", "0.1", 100));
    },
  },
  {
    scene: "npu_subhealth",
    fires: (s) => s.send(ev("error.hw", "npu-3", "TEMP_HIGH")),
    nearMiss: (s) => s.send(ev("error.hw", "gpu-3", "TEMP_HIGH")),
  },
  {
    scene: "gpu_slowdown",
    fires: (s) => s.send(ev("error.hw", "gpu-3", "HW_SLOWDOWN hw_slowdown,hw_thermal_slowdown")),
    // sw_power_cap and gpu_idle are the GPU at work or at rest, never asked for nor sent.
    nearMiss: (s) => s.send(ev("error.hw", "npu-3", "TEMP_HIGH")),
  },
  {
    scene: "npu_ecc_error",
    fires: (s) => s.send(ev("error.hw", "npu-0", "ECC_UNCORRECTABLE")),
    nearMiss: (s) => s.send(ev("error.hw", "npu-0", "FREQ_THROTTLE")),
  },
  {
    scene: "hccs_error",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("transport.bw", "hccs-0", "0.1", 100));
      s.send(ev("error.net", "hccs-0", "link down"));
    },
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("transport.bw", "hccs-0", "0.1", 100));
      s.send(ev("error.net", "hccs-0", "link up"));
    },
  },
  {
    // A port going down with no drops and no congestion: the link down alone names its users.
    scene: "nic_link_down",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("transport.bw", "mlx5_0", "IO_WAIT LINK_DOWN port=1", 100));
      s.send(ev("topo.link_down", "mlx5_0", "LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand"));
    },
    nearMiss: (s) => {
      // The port that went down is one nobody uses; the process's own NIC is fine.
      s.send(start(100));
      s.send(ev("transport.bw", "mlx5_0", "0.4", 100));
      s.send(ev("topo.link_down", "mlx5_1", "LINK_DOWN port=1 state=DOWN phys_state=Polling link_layer=InfiniBand"));
    },
  },
  {
    // The kernel's OOM killer, as builtin:kmsg reports it: the run after the cleanup still names the pid.
    scene: "host_oom_kill",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "90", 100));
      s.send(ev("process.state", "memory", "oom_killed", 100));
      s.send(ev("compute.util", "gpu-3", "70"), 5_000);
      assert.equal(s.ex.graph.processes.has(100), false);
    },
    nearMiss: (s) => {
      // A user's kill -9 (or scancel) and a normal exit: the process ends, no memory ran out.
      s.send(start(100));
      s.send(start(101));
      s.send(ev("process.state", "host-01", "killed", 100));
      s.send(ev("process.state", "host-01", "exit", 101));
    },
  },
  {
    scene: "gpu_xid",
    fires: (s) => s.send(ev("error.hw", "gpu-1", "XID_79")),
    nearMiss: (s) => s.send(ev("error.hw", "gpu-1", "ECC_SBE")),
  },
  {
    // As builtin:npu-smi says them: a critical alarm its kinds do not name, and a chip gone from its table.
    scene: "npu_fault",
    fires: (s) => {
      s.send(ev("error.hw", "npu-03", "NPU_FAULT health=Critical code=80A28008 node type=AICORE, sensor type=Hang"));
      s.send(ev("error.hw", "npu-05", "NPU_LOST no longer listed by npu-smi info"));
    },
    // A general (minor) alarm of the same kind, and one that could not be read: not a fault.
    nearMiss: (s) => {
      s.send(ev("error.hw", "npu-03", "NPU_FAULT health=Warning code=80818C00 node type=SOC, sensor type=Sensor0"));
      s.send(ev("error.hw", "npu-04", "NPU_FAULT health=UNKNOWN"));
    },
  },
  {
    // As builtin:kmsg reports the driver's line: a fatal SXid on a switch no process uses.
    scene: "nvswitch_error",
    fires: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "90", 100));
      s.send(ev("error.hw", "nvswitch-1", "SXID_20034 nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up"));
    },
    // The same switch's non-fatal SXid ("Non-fatal" holds "fatal", case-blind, but not ", Fatal,").
    nearMiss: (s) => {
      s.send(start(100));
      s.send(ev("compute.util", "gpu-0", "90", 100));
      s.send(ev("error.hw", "nvswitch-0", "SXID_20009 nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 20009, Non-fatal, Link 04 RX Short Error Rate"));
    },
  },
];

describe("default scenes", () => {
  for (const c of CASES) {
    it(`${c.scene} fires`, async () => {
      const s = scenario();
      c.fires(s);
      assert.ok(s.scenes().includes(c.scene), `${c.scene} should match`);
      await s.ex.stop();
    });
    it(`${c.scene} near miss does not`, async () => {
      const s = scenario();
      c.nearMiss(s);
      assert.ok(!s.scenes().includes(c.scene), `${c.scene} should not match`);
      await s.ex.stop();
    });
  }

  it("hccs_error fires on an HCCS link down said as topo.link_down too, and nic_link_down does not", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(ev("transport.bw", "hccs-0", "0.1", 100));
    s.send(ev("topo.link_down", "hccs-0", "LINK_DOWN"));
    const scenes = s.scenes();
    assert.ok(scenes.includes("hccs_error"), scenes.join(", "));
    assert.ok(!scenes.includes("nic_link_down"), "an HCCS link is not a NIC");
    await s.ex.stop();
  });

  it("hccs_error does not fire for an HCCS link nobody uses because another process is blocked by an NPU's ECC error", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(ev("compute.util", "npu-06", "88", 100));
    s.send(ev("error.hw", "npu-06", "ECC_UNCORRECTABLE double-bit"));
    s.send(ev("error.net", "hccs-1", "HCCS error count +3 total=3"));
    const scenes = s.scenes();
    assert.ok(scenes.includes("npu_ecc_error"), scenes.join(", "));
    assert.ok(!scenes.includes("hccs_error"), `pid 100's ECC error is no HCCS link's doing: ${scenes.join(", ")}`);
    await s.ex.stop();
  });

  it("process_crash does not fire for a running process blocked by a fault whose pid an unknown process's kill had before", async () => {
    const s = scenario();
    s.send(ev("process.state", "memory", "oom_killed", 100)); // a process no probe reported
    s.send(ev("compute.util", "gpu-0", "90", 100)); // the pid's new owner, from nvidia-smi
    s.send(ev("error.hw", "gpu-0", "XID_79"));
    const scenes = s.scenes();
    assert.ok(scenes.includes("gpu_xid"), scenes.join(", "));
    assert.ok(!scenes.includes("process_crash"), `pid 100 runs: ${scenes.join(", ")}`);
    await s.ex.stop();
  });

  it("an OOM kill of a process an Xid blocked is host_oom_kill, not process_crash (the Xid did not end it)", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(ev("compute.util", "gpu-0", "90", 100));
    s.send(ev("error.hw", "gpu-0", "XID_63"));
    s.send(ev("process.state", "memory", "oom_killed", 100));
    const scenes = s.scenes();
    assert.ok(scenes.includes("host_oom_kill"), scenes.join(", "));
    assert.ok(!scenes.includes("process_crash"), scenes.join(", "));
    await s.ex.stop();
  });

  it("covers every loaded scene", async () => {
    const s = scenario();
    assert.deepEqual(CASES.map((c) => c.scene).sort(), [...s.ex.diagnosis.byScene.keys()].sort());
    await s.ex.stop();
  });
});

describe("a run's result", () => {
  it("concludes with the highest-priority scene and lists the concrete causes", async () => {
    const s = scenario();
    s.send(start(100));
    s.send(ev("compute.util", "gpu-0", "80", 100));
    s.send(ev("compute.mem", "gpu-0", "99", 100));
    s.send(ev("error.hw", "gpu-0", "OOM"));
    s.send(ev("error.hw", "gpu-1", "XID_79"));
    const r = s.ex.engine.runNow("auto");
    assert.equal(r.scene, "gpu_oom");
    assert.equal(r.rule, "GPU out of memory");
    assert.equal(r.confidence, 1);
    assert.deepEqual(r.matches.map((m) => m.scene), ["gpu_oom", "gpu_xid"]);
    assert.ok(r.causes.some((c) => c.kind === "error" && c.id === "error-gpu-0" && c.error_type === "OOM"));
    assert.deepEqual(r.affected_pids, [100]);
    assert.deepEqual(r.affected_jobs, ["job-100"]);
    // Evidence per condition: the OOM event and the memory reading that made each hold.
    assert.deepEqual(r.evidence.map((e) => [e.path, e.events?.map((x) => [x.event_type, x.entity_id, x.value, x.pid])]), [
      ["conditions[0]", [["error.hw", "gpu-0", "OOM", null]]],
      ["conditions[1]", [["compute.mem", "gpu-0", "99", 100]]],
    ]);
    assert.equal(r.severity, "critical");
    assert.equal(r.solution_steps[0].step, 1);
    assert.match(r.started_at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(r.duration_ms >= 0);
    assert.equal(s.ex.diagnosis.byScene.get("gpu_oom"), 1);
    assert.equal(s.ex.diagnosis.byScene.get("gpu_xid"), 0);
    assert.deepEqual([...s.ex.diagnosis.active].sort(), ["gpu_oom", "gpu_xid"]);
    await s.ex.stop();
  });

  it("names the resources a process waits on", async () => {
    const s = scenario();
    s.send(start(7));
    s.send(ev("storage.qdepth", "storage-01", "6"));
    s.send(ev("storage.iops", "storage-01", "0.5", 7));
    const r = s.ex.engine.runNow("api");
    assert.equal(r.scene, "storage_slow");
    const res = r.causes.find((c) => c.kind === "resource" && c.id === "storage-01");
    assert.deepEqual(res, { kind: "resource", id: "storage-01", relation: "waits_on", values: { iops: "0.5", qdepth: "6" } });
    await s.ex.stop();
  });

  it("ends an event-driven scene when its events leave the window", async () => {
    const s = scenario({ errorWindowMs: 60_000 });
    s.send(ev("error.hw", "gpu-1", "XID_48"), 0);
    assert.ok(s.scenes().includes("gpu_xid"));
    s.send(ev("compute.util", "gpu-1", "50"), 59_000);
    assert.ok(s.scenes().includes("gpu_xid"));
    s.send(ev("compute.util", "gpu-1", "50"), 61_000);
    assert.ok(!s.scenes().includes("gpu_xid"));
    assert.equal(s.ex.diagnosis.active.has("gpu_xid"), false);
    await s.ex.stop();
  });
});
