// Which host collectors `--collectors` starts, on host trees made for the test: `auto` runs
// those whose source is there and says why it skipped the rest; a list runs exactly those.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../src/errors.ts";
import { COLLECTOR_NAMES, describePlan, parseCollectorChoice, planCollectors, type CollectorHost } from "../../src/sources/collectors.ts";
import { ROOT } from "../_helpers.ts";

const ALL = COLLECTOR_NAMES.map((n) => `builtin:${n}`);
const root = mkdtempSync(join(tmpdir(), "xctl-coll-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A host tree: procfs with or without diskstats, sysfs with or without class/infiniband, a kmsg file or none. */
function host(name: string, has: { diskstats?: boolean; infiniband?: boolean; kmsg?: boolean; smi?: boolean }): CollectorHost {
  const dir = join(root, name);
  mkdirSync(join(dir, "proc"), { recursive: true });
  mkdirSync(join(dir, "sys/class"), { recursive: true });
  if (has.diskstats) writeFileSync(join(dir, "proc/diskstats"), "   8       0 sda 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  if (has.infiniband) mkdirSync(join(dir, "sys/class/infiniband/mlx5_0/ports/1"), { recursive: true });
  if (has.kmsg) writeFileSync(join(dir, "kmsg"), "6,1,0,-;Linux version 6.8.0\n");
  return {
    paths: { procfs: join(dir, "proc"), sysfs: join(dir, "sys") },
    env: { PATH: has.smi ? join(ROOT, "test/fixtures") : join(dir, "empty-bin") },
    kmsg: join(dir, "kmsg"),
  };
}

describe("--collectors", () => {
  it("parses auto, none and lists; an unknown name lists the valid ones", () => {
    assert.equal(parseCollectorChoice("auto"), "auto");
    assert.equal(parseCollectorChoice(" none "), "none");
    assert.deepEqual(parseCollectorChoice("kmsg, procfs,kmsg"), ["kmsg", "procfs"]);
    assert.throws(() => parseCollectorChoice("kmsg,dmesg"), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, '--collectors: unknown collector "dmesg" (valid: nvidia-smi, npu-smi, kmsg, infiniband, procfs, diskstats, or auto, none)');
      return true;
    });
    assert.throws(() => parseCollectorChoice(","), /names no collector/);
  });

  it("auto or none inside a list is said to stand alone, not called an unknown collector that the same line lists as valid", () => {
    for (const [text, word] of [["auto,infiniband", "auto"], ["kmsg, none", "none"]]) {
      assert.throws(() => parseCollectorChoice(text), (e: Error) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.message, `--collectors: "${text}": ${word} stands alone (--collectors ${word}); a list names collectors only: nvidia-smi, npu-smi, kmsg, infiniband, procfs, diskstats`);
        return true;
      });
    }
  });

  it("auto on a bare host runs procfs only, and says why it skipped each of the others", () => {
    const plan = planCollectors("auto", host("bare", {}), [], ALL);
    assert.deepEqual(plan.run.map((r) => r.spec), ["builtin:procfs"]);
    const h = host("bare", {});
    assert.deepEqual(plan.skipped, [
      { name: "nvidia-smi", reason: "nvidia-smi not on PATH" },
      { name: "npu-smi", reason: "npu-smi not on PATH" },
      { name: "kmsg", reason: `no ${h.kmsg}` },
      { name: "infiniband", reason: `no ${join(h.paths.sysfs, "class/infiniband")}` },
      { name: "diskstats", reason: `no ${join(h.paths.procfs, "diskstats")}` },
    ]);
  });

  it("auto on a full host runs all six, in table order", () => {
    const plan = planCollectors("auto", host("full", { diskstats: true, infiniband: true, kmsg: true, smi: true }), [], ALL);
    assert.deepEqual(plan.run.map((r) => [r.name, r.missing]), COLLECTOR_NAMES.map((n) => [n, null]));
    assert.deepEqual(plan.skipped, []);
    assert.equal(describePlan(plan), "collectors: running nvidia-smi, npu-smi, kmsg, infiniband, procfs, diskstats; skipped none");
  });

  it("a list runs exactly those, a missing source included (it shows as down)", () => {
    const plan = planCollectors(["diskstats", "npu-smi"], host("bare", {}), [], ALL);
    assert.deepEqual(plan.run.map((r) => r.name), ["npu-smi", "diskstats"]);
    assert.equal(plan.run[0]!.missing, "npu-smi not on PATH");
    assert.deepEqual(plan.skipped, []);
    assert.match(describePlan(plan), /^collectors: running npu-smi \(listed, though npu-smi not on PATH\), diskstats \(listed, though no .*diskstats\); skipped none$/);
  });

  it("none runs nothing; a collector also given as --probe runs once, as the probe", () => {
    const full = host("full", { diskstats: true, infiniband: true, kmsg: true, smi: true });
    assert.deepEqual(planCollectors("none", full, [], ALL), { run: [], skipped: [] });
    const plan = planCollectors("auto", full, ["builtin:npu-smi?interval=1", "builtin:demo"], ALL);
    assert.ok(!plan.run.some((r) => r.name === "npu-smi"));
    assert.deepEqual(plan.skipped, [{ name: "npu-smi", reason: "given as --probe" }]);
  });

  it("auto skips a collector this binary lacks; a list naming it is refused", () => {
    const full = host("full", { diskstats: true, infiniband: true, kmsg: true, smi: true });
    const known = ["builtin:nvidia-smi", "builtin:npu-smi"];
    const plan = planCollectors("auto", full, [], known);
    assert.deepEqual(plan.run.map((r) => r.name), ["nvidia-smi", "npu-smi"]);
    assert.deepEqual(plan.skipped.map((s) => s.reason), Array(4).fill("not built into this binary"));
    assert.throws(() => planCollectors(["kmsg"], full, [], known), /--collectors: collector "kmsg" is not built into this binary/);
  });
});
