// builtin:kmsg's maps from kernel names to graph entities: GPU bus ids to the names
// builtin:nvidia-smi gives, block devices to disks, mlx5 functions to RDMA devices.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { startChild, type Child, type Env } from "../../src/sources/child.ts";
import { DeviceMap, diskByName } from "../../src/sources/kmsg/devices.ts";
import { gpuName, normaliseBus } from "../../src/sources/gpu-name.ts";
import { GpuMap, parseSmiIndex } from "../../src/sources/kmsg/gpu-map.ts";
import { nvswitchName } from "../../src/sources/kmsg/events.ts";
import { createProbe } from "../../src/sources/index.ts";
import { eventually } from "../_helpers.ts";
import { FAKE_SMI, HOST, recorder } from "./_kmsg-kit.ts";

describe("GPU bus ids", () => {
  it("normalise case, domain width and function", () => {
    for (const s of ["00000000:3B:00.0", "0000:3b:00", "PCI:0000:3b:00", "3b:00.0", "0:3B:0"]) assert.equal(normaliseBus(s), "0000:3b:00", s);
    assert.equal(normaliseBus("00000009:01:00.0"), "0009:01:00");
    assert.equal(normaliseBus("not a bus"), null);
  });

  it("name GPUs exactly as builtin:nvidia-smi does (the stand-in read by both)", async () => {
    // Through the probe spec, not the nvidia-smi source's files: only its names matter here.
    const path = process.env.PATH;
    process.env.PATH = `${dirname(FAKE_SMI)}:${path ?? "/usr/bin:/bin"}`;
    const smi = createProbe("builtin:nvidia-smi");
    const rec = recorder();
    try {
      smi.start(rec.ctx);
      const util = () => new Set(rec.events.filter((e) => e.event_type === "compute.util").map((e) => String(e.entity_id)));
      await eventually(() => util().size === 2, 10_000, "both GPUs from builtin:nvidia-smi");
      const map = new GpuMap({ procfs: "/nonexistent", command: FAKE_SMI });
      assert.deepEqual([...util()].sort(), [await map.entity("00000000:18:00.0"), await map.entity("PCI:0000:3b:00")]);
    } finally {
      await smi.stop();
      process.env.PATH = path;
    }
    assert.deepEqual([0, 7, 10, 127].map(gpuName), ["gpu-00", "gpu-07", "gpu-10", "gpu-127"]);
  });

  it("parse nvidia-smi's index table", () => {
    const t = parseSmiIndex("0, 00000000:18:00.0\n1, 00000000:3B:00.0\n\nNo devices were found\n");
    assert.deepEqual([...t], [["0000:18:00", 0], ["0000:3b:00", 1]]);
  });

  it("ask the stand-in nvidia-smi, then the procfs tree, then fall back to the bus id", async () => {
    const smi = new GpuMap({ procfs: HOST.procfs, command: FAKE_SMI });
    assert.equal(await smi.entity("PCI:0000:3B:00"), "gpu-01");
    assert.equal(await smi.entity("0000:18:00.0"), "gpu-00");
    // Without nvidia-smi: its order, the rank in PCI bus order among the driver's GPUs (the
    // fixture's Device Minors, 0 1 4 6, are not it).
    const proc = new GpuMap({ procfs: HOST.procfs, command: null });
    assert.equal(await proc.entity("0000:3b:00"), "gpu-01");
    assert.equal(await proc.entity("0000:86:00"), "gpu-02");
    assert.equal(await proc.entity("PCI:0009:01:00"), "gpu-03");
    assert.equal(await proc.entity("0000:b3:00.0"), "gpu-0000:b3:00");
  });

  describe("a hung nvidia-smi", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-hang-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    it("is given up after its timeout, and the procfs answer is used", async () => {
      const hang = join(dir, "nvidia-smi");
      writeFileSync(hang, "#!/bin/sh\nexec sleep 30\n");
      chmodSync(hang, 0o755);
      const warnings: string[] = [];
      const map = new GpuMap({ procfs: HOST.procfs, command: hang, timeoutMs: 100, warn: (m) => warnings.push(m) });
      assert.equal(await map.entity("0000:3b:00"), "gpu-01");
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /no answer within 100 ms/);
      // Asked again only after a minute: the next lookup does not wait for it.
      assert.equal(await map.entity("0000:86:00"), "gpu-02");
      assert.equal(warnings.length, 1);
    });
  });

  it("holds an nvidia-smi that survives its kill (stuck in the driver), runs none other meanwhile, and asks again once it is gone", async () => {
    // A process asleep in the driver survives SIGKILL; none can be made here, so the first run
    // is one whose kill does nothing and whose end the test decides.
    let runs = 0;
    let kills = 0;
    let release = () => {};
    const spawn = (path: string, args: string[], env: Env): Child => {
      if (++runs > 1) return startChild(path, args, env);
      const closed = new Promise<{ code: number | null; signal: string | null }>((done) => (release = () => done({ code: null, signal: "SIGKILL" })));
      const proc = { pid: 434343, exitCode: null, signalCode: null, kill: () => void kills++, stdout: null, stderr: null } as unknown as Child["proc"];
      return { proc, closed };
    };
    const warnings: string[] = [];
    const map = new GpuMap({ procfs: "/nonexistent", command: FAKE_SMI, timeoutMs: 1000, killWaitMs: 100, refreshMs: 0, spawn, warn: (m) => warnings.push(m) });
    assert.equal(await map.entity("0000:18:00"), "gpu-0000:18:00");
    assert.ok(kills >= 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /pid 434343 stuck in the driver/);
    assert.equal(await map.entity("0000:18:00"), "gpu-0000:18:00");
    assert.equal(runs, 1, "no second run while the first is stuck");
    release();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(await map.entity("0000:18:00"), "gpu-00");
    assert.equal(runs, 2);
  });

  describe("an exporter started while a GPU is off the bus", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-start-lost-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    it("takes the indexes nvidia-smi printed before it failed on the lost GPU, and names that one in nvidia-smi's order, not by its device minor", async () => {
      // An HGX board whose driver numbered its minors out of bus order: /dev/nvidia0 is GPU 2.
      const procfs = join(dir, "proc");
      const gpus: [string, number][] = [["0000:07:00.0", 2], ["0000:0f:00.0", 3], ["0000:47:00.0", 0], ["0000:4e:00.0", 1]];
      for (const [bus, minor] of gpus) {
        mkdirSync(join(procfs, "driver/nvidia/gpus", bus), { recursive: true });
        writeFileSync(join(procfs, "driver/nvidia/gpus", bus, "information"), `Model: \t\t NVIDIA A100-SXM4-80GB\nIRQ:   \t\t 196\nDevice Minor: \t ${minor}\n`);
      }
      // GPU 1 (0000:0f:00) fell off the bus: nvidia-smi prints the others and exits 15.
      const smi = join(dir, "nvidia-smi");
      writeFileSync(smi, `#!/bin/sh\necho "0, 00000000:07:00.0"\necho "Unable to determine the device handle for GPU1: 0000:0F:00.0: Unknown Error"\necho "2, 00000000:47:00.0"\necho "3, 00000000:4E:00.0"\nexit 15\n`);
      chmodSync(smi, 0o755);
      const warnings: string[] = [];
      const map = new GpuMap({ procfs, command: smi, warn: (m) => warnings.push(m) });
      await map.prefetch();
      assert.equal(await map.entity("PCI:0000:47:00"), "gpu-02", "an Xid on a healthy GPU lands on its own index");
      assert.equal(await map.entity("PCI:0000:07:00"), "gpu-00");
      assert.equal(await map.entity("PCI:0000:0f:00"), "gpu-01", "the lost one, by bus order");
      assert.deepEqual(warnings, []);
    });
  });

  describe("a GPU gone from nvidia-smi's answer after it fell off the bus", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-smi-lost-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    it("keeps the index nvidia-smi gave it before; an index taken by another bus id moves", async () => {
      const smi = join(dir, "nvidia-smi");
      const answer = join(dir, "answer");
      writeFileSync(smi, `#!/bin/sh\ncat "${answer}"\n`);
      chmodSync(smi, 0o755);
      writeFileSync(answer, "0, 00000000:18:00.0\n1, 00000000:3B:00.0\n2, 00000000:86:00.0\n");
      const map = new GpuMap({ procfs: join(dir, "no-procfs"), command: smi, refreshMs: 0 });
      await map.prefetch();
      writeFileSync(answer, "0, 00000000:18:00.0\n1, 00000000:AF:00.0\n");
      assert.equal(await map.entity("0000:86:00"), "gpu-02");
      assert.equal(await map.entity("0000:af:00"), "gpu-01");
      assert.equal(await map.entity("0000:3b:00"), "gpu-0000:3b:00");
    });
  });

  it("NVSwitches are named by their driver device number, else their bus id", () => {
    assert.equal(nvswitchName(3, "0000:c1:00.0"), "nvswitch-3");
    assert.equal(nvswitchName(null, "0000:C1:00.0"), "nvswitch-0000:c1:00");
  });
});

describe("block and NIC devices", () => {
  it("map partitions to their disk by the kernel's names when sysfs does not know them", () => {
    const cases = [["nvme0n1p3", "nvme0n1"], ["sdb1", "sdb"], ["sdaa12", "sdaa"], ["vda2", "vda"], ["xvdf1", "xvdf"], ["mmcblk0p1", "mmcblk0"], ["md127p3", "md127"], ["dm-0", "dm-0"], ["nvme1n1", "nvme1n1"], ["sdc", "sdc"]];
    for (const [part, disk] of cases) assert.equal(diskByName(part), disk, part);
  });

  it("map through the sysfs tree: partitions, NVMe controllers, mlx5 functions", async () => {
    const m = new DeviceMap(HOST.sysfs);
    assert.deepEqual(await m.disks("nvme1n1p2", null), ["nvme1n1"]);
    assert.deepEqual(await m.disks("sdb1", null), ["sdb"]);
    assert.deepEqual(await m.disks("sda", null), ["sda"]);
    assert.deepEqual(await m.disks("nvme1c3n1", null), ["nvme1n1"]);
    assert.deepEqual(await m.disks("nvme4c4n1p2", null), ["nvme4n1"]);
    assert.deepEqual(await m.disks(null, "nvme1"), ["nvme1n1"]);
    assert.deepEqual(await m.disks(null, "nvme7"), ["nvme7"]);
    assert.equal(await m.nic("0000:17:00.0", "ens1f0np0"), "mlx5_0");
    assert.equal(await m.nic("0000:ab:00.0", "mlx5_5"), "mlx5_5");
    assert.equal(await m.nic("0000:ab:00.0", null), "ibp171s0");
    assert.equal(await m.nic("0000:ee:00.1", null), "mlx5-0000:ee:00.1");
  });

  describe("a multipath NVMe controller", () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-sysfs-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    it("maps to the disks of its namespaces (nvme2c3n1 is the path of disk nvme2n1)", async () => {
      mkdirSync(join(dir, "class/nvme/nvme3/nvme2c3n1"), { recursive: true });
      mkdirSync(join(dir, "class/nvme/nvme3/nvme2c3n2"), { recursive: true });
      assert.deepEqual(await new DeviceMap(dir).disks(null, "nvme3"), ["nvme2n1", "nvme2n2"]);
    });
  });
});
