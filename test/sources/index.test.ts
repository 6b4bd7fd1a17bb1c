// --probe specs to sources: built-ins, commands, names that stay unique and readable.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../../src/cli/errors.ts";
import { DemoSource } from "../../src/sources/demo.ts";
import { NvidiaSmiSource } from "../../src/sources/nvidia-smi/index.ts";
import { NpuSmiSource } from "../../src/sources/npu-smi/index.ts";
import { createProbe, createProbes } from "../../src/sources/index.ts";
import { CommandProbe } from "../../src/sources/probe.ts";
import { probeName } from "../../src/sources/probe-name.ts";

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

describe("createProbe", () => {
  it("runs a command split like a shell would, named after the program", () => {
    const p = createProbe(`  /opt/xctl/ib-probe --dev 'mlx5 0' `);
    assert.ok(p instanceof CommandProbe);
    assert.deepEqual(p.argv, ["/opt/xctl/ib-probe", "--dev", "mlx5 0"]);
    assert.equal(p.name, "ib-probe");
  });

  it("makes builtin:demo a DemoSource, with options", () => {
    const d = createProbe("builtin:demo");
    assert.ok(d instanceof DemoSource);
    assert.equal(d.name, "demo");
    assert.equal(d.rate, 200);
    const e = createProbe("builtin:demo?rate=5000&speed=2.5&seed=7") as DemoSource;
    assert.deepEqual([e.rate, e.speed, e.seed], [5000, 2.5, 7]);
  });

  it("makes builtin:nvidia-smi the nvidia-smi source, once", () => {
    const n = createProbe("builtin:nvidia-smi");
    assert.ok(n instanceof NvidiaSmiSource);
    assert.equal(n.name, "nvidia-smi");
    assert.throws(() => createProbe("builtin:nvidia-smi?interval=5"), usage(/unknown option "interval" \(it takes none\)/));
    assert.throws(() => createProbes(["builtin:nvidia-smi", " builtin:nvidia-smi"]), usage(/"builtin:nvidia-smi" given twice/));
  });

  it("makes builtin:npu-smi the npu-smi source, its options in seconds", () => {
    const n = createProbe("builtin:npu-smi");
    assert.ok(n instanceof NpuSmiSource);
    assert.deepEqual([n.name, n.intervalMs, n.detailEvery], ["npu-smi", 5000, 12]);
    assert.equal(n.timeoutMs, 10_000);
    const o = createProbe("builtin:npu-smi?interval=2&detail=30&temp=85&timeout=45") as NpuSmiSource;
    assert.deepEqual([o.intervalMs, o.detailEvery, o.timeoutMs], [2000, 15, 45_000]);
    assert.throws(() => createProbe("builtin:npu-smi?path=/x"), usage(/unknown option "path" \(known: interval, detail, temp, timeout\)/));
    assert.throws(() => createProbe("builtin:npu-smi?temp=hot"), usage(/temp must be a positive number/));
  });

  it("refuses bad specs with a usage error naming --probe", () => {
    assert.throws(() => createProbe("   "), usage(/--probe: empty/));
    assert.throws(() => createProbe("''"), usage(/--probe: empty/));
    assert.throws(() => createProbe("probe 'open"), usage(/--probe.*unclosed/));
    assert.throws(() => createProbe("builtin:nope"), usage(/unknown built-in probe "builtin:nope".*builtin:demo/));
    assert.throws(() => createProbe("builtin:demo?rate=0"), usage(/rate must be a positive number/));
    assert.throws(() => createProbe("builtin:demo?speed=fast"), usage(/speed must be/));
    assert.throws(() => createProbe("builtin:demo?seed=1.5"), usage(/seed must be a non-negative integer/));
    assert.throws(() => createProbe("builtin:demo?colour=red"), usage(/unknown option "colour"/));
    assert.throws(() => createProbe("builtin:demo?toString=1"), usage(/unknown option "toString"/));
  });
});

describe("probe names", () => {
  const cases: [string[], string][] = [
    [["/opt/probes/ib-probe", "-i", "1"], "ib-probe"],
    [["ib-probe"], "ib-probe"],
    [["python3", "-u", "/opt/probes/nic.py", "--fast"], "nic.py"],
    [["python3.11", "gpu_probe.py"], "gpu_probe.py"],
    [["python3", "-m", "xctl.probes.ib"], "xctl.probes.ib"],
    [["python3", "-c", "print(1)"], "python3"],
    [["bash", "-c", "./x.sh"], "bash"],
    [["deno", "run", "-A", "probes/ib.ts"], "ib.ts"],
    [["/usr/bin/node", "probe.mjs"], "probe.mjs"],
    [["sh"], "sh"],
    [["/opt/" + "x".repeat(100)], "x".repeat(64)],
  ];
  for (const [argv, want] of cases) {
    it(`names ${JSON.stringify(argv)} ${want.length > 20 ? "(cut)" : want}`, () => assert.equal(probeName(argv), want));
  }

  it("suffixes repeats, and keeps clear of names already taken", () => {
    const names = createProbes(["/a/probe", "/b/probe x", "builtin:demo", "probe", "builtin:demo", "stdin"], ["stdin"]).map((s) => s.name);
    assert.deepEqual(names, ["probe", "probe-2", "demo", "probe-3", "demo-2", "stdin-2"]);
  });
});
