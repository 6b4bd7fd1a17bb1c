// --collectors, --path.procfs and --path.sysfs as a user meets them: bad values exit 2 with one
// line, the start log says what runs and why the rest does not, the stand-in nvidia-smi and
// npu-smi on PATH feed the graph.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, logged, ROOT, runCli, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const tree = mkdtempSync(join(tmpdir(), "xctl-paths-"));
mkdirSync(join(tree, "proc"));
mkdirSync(join(tree, "sys/class"), { recursive: true });
writeFileSync(join(tree, "file"), "");
const PATHS = ["--path.procfs", join(tree, "proc"), "--path.sysfs", join(tree, "sys")];
const STAND_INS = { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin`, FAKE_SMI_PID1: "5151", FAKE_SMI_PID2: "6262" };
after(() => rmSync(tree, { recursive: true, force: true }));

describe("host collector flags: bad values exit 2 with one line", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--path.procfs", "/nonexistent-xctl"], {}, /^xctl-exporter: --path\.procfs: "\/nonexistent-xctl" does not exist$/],
    [["--path.sysfs", join(tree, "file")], {}, /^xctl-exporter: --path\.sysfs: ".*\/file" is not a directory$/],
    [[], { XCTL_PATH_SYSFS: "/nonexistent-xctl" }, /^xctl-exporter: XCTL_PATH_SYSFS: "\/nonexistent-xctl" does not exist$/],
    [["--collectors", "gpu"], {}, /--collectors: unknown collector "gpu" \(valid: nvidia-smi, npu-smi, kmsg, infiniband, procfs, diskstats, or auto, none\)/],
    [["--probe", "builtin:npu-smi?interval=0"], {}, /--probe builtin:npu-smi\?interval=0: interval must be a positive number, got "0"/],
    // Given twice: refused, not the first list dropped in silence.
    [["--collectors", "kmsg", "--collectors", "procfs"], {}, /^xctl-exporter: --collectors: given 2 times \(kmsg; procfs\); it takes one value: --collectors kmsg,procfs$/],
    [["--collectors", "kmsg", "--collectors", "none"], {}, /^xctl-exporter: --collectors: given 2 times \(kmsg; none\); it takes one value: auto, none or one list$/],
    // node_exporter's per-collector flags: said where the setting is here, not a bare "see --help".
    [["--collector.diskstats"], {}, /^xctl-exporter: unknown flag --collector\.diskstats \(node_exporter's --collector\.NAME and --no-collector\.NAME are one list here: --collectors auto, none or names such as kmsg,diskstats\)$/],
    [["--no-collector.kmsg"], {}, /^xctl-exporter: unknown flag --no-collector\.kmsg \(node_exporter's --collector\.NAME .*\)$/],
    [["--collector.disable-defaults"], {}, /^xctl-exporter: unknown flag --collector\.disable-defaults \(node_exporter's --collector\.NAME .*\)$/],
  ];
  for (const [args, env, message] of cases) {
    it([...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(" "), async () => {
      const r = await runCli(args, { env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr.trim(), message);
    });
  }
});

describe("host collectors in a running exporter", () => {
  const running: RunningExporter[] = [];
  after(() => Promise.all(running.map((r) => r.stop())));
  const start = async (args: string[], env: Record<string, string>) => {
    const ex = await startExporter(args, { env });
    running.push(ex);
    return ex;
  };

  it("a list runs exactly those: GPUs and NPUs from the stand-ins become consumes edges", async () => {
    const ex = await start(["--collectors", "nvidia-smi,npu-smi", ...PATHS, "--log-format", "json"], STAND_INS);
    const m = await eventually(async () => {
      const s = await scrape(ex.url);
      return s.get("xctl_consumes_edges") === 4 ? s : undefined;
    }, 15_000, "four consumes edges");
    assert.equal(m.get('xctl_probe_up{probe="nvidia-smi"}'), 1);
    assert.equal(m.get('xctl_probe_up{probe="npu-smi"}'), 1);
    const rows = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; resources: string[] }[];
    const byPid = Object.fromEntries(rows.map((r) => [r.pid, r.resources]));
    assert.deepEqual(byPid, { 5151: ["gpu-00"], 6262: ["gpu-01"], 7101: ["npu-00"], 7202: ["npu-01"] });
    const logs = ex.stderr().trim().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.ok(logs.some((l) => l.level === "info" && l.msg === "collectors: running nvidia-smi, npu-smi; skipped none"), ex.stderr());
    assert.equal(await ex.stop(), 0);
  });

  it("auto says at start which collectors run and why the others were skipped", async () => {
    const ex = await start([...PATHS], { ...STAND_INS, XCTL_COLLECTORS: "auto" });
    const line = await eventually(() => ex.stderr().split("\n").find((l) => l.includes("collectors: running")), 10_000, "the collectors line");
    assert.match(line, /collectors: running nvidia-smi, npu-smi\b/);
    assert.ok(line.includes(`infiniband (no ${join(tree, "sys/class/infiniband")})`), line);
    assert.ok(line.includes(`diskstats (no ${join(tree, "proc/diskstats")})`), line);
    assert.equal(await ex.stop(), 0);
  });

  it("a listed collector with no source runs and shows down; also given as --probe it runs once", async () => {
    const ex = await start(["--collectors", "npu-smi,nvidia-smi", "--probe", "builtin:nvidia-smi", ...PATHS], { PATH: "/usr/bin:/bin" });
    const m = await eventually(async () => {
      const s = await scrape(ex.url);
      return s.has('xctl_probe_up{probe="npu-smi"}') ? s : undefined;
    }, 10_000, "npu-smi listed");
    assert.equal(m.get('xctl_probe_up{probe="npu-smi"}'), 0);
    assert.equal(m.get('xctl_probe_up{probe="nvidia-smi"}'), 0);
    assert.ok(![...m.keys()].some((k) => k.includes('probe="nvidia-smi-2"')), "nvidia-smi once");
    await logged(ex, /collector npu-smi listed in --collectors but npu-smi not on PATH: it shows as down/);
    await logged(ex, /skipped nvidia-smi \(given as --probe\)/);
    assert.equal(await ex.stop(), 0);
  });
});
