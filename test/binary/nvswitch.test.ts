// An NVSwitch fault through the compiled binary, as an SRE on an HGX host meets it: builtin:kmsg
// follows a record file in the /dev/kmsg format, the driver's SXid lines are appended to it, and
// the nvswitch_error scene shows in /metrics and `status` for a fatal SXid and not for a
// non-fatal one. No process uses the switch: `why` of a GPU process does not list the scene.
// `replay` of the labelled incidents gives the same answers from an event file.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const INCIDENTS = join(ROOT, "test/fixtures/incidents");
const ACTIVE = 'xctl_scene_active{scene="nvswitch_error"}';

// The r535 driver's lines (test/fixtures/kmsg/r535.kmsg): a fatal SXid and the data record
// that follows it, and a non-fatal one on the other switch.
const FATAL = "nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up";
const FATAL_DATA = "nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Severity 1 Engine instance 48 Sub-engine instance 00";
const NON_FATAL = "nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 20009, Non-fatal, Link 04 RX Short Error Rate";

describe("nvswitch_error in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-nvswitch-bin-"));
  const file = join(dir, "kmsg");
  const procfs = join(dir, "proc");
  // With --path.procfs, a procfs tree booted ten minutes ago; else this machine's boot time.
  const btime = PATH_FLAGS ? Math.floor(Date.now() / 1000) - 600 : Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]);
  let seq = 500;
  /** Appends one kernel record stamped now (warning priority, as the driver logs SXids). */
  const kernel = (message: string) => {
    const usec = (Date.now() - btime * 1000) * 1000;
    appendFileSync(file, `4,${seq++},${usec},-;${message}\n`);
  };
  let ex: RunningExporter;

  before(async () => {
    writeFileSync(file, "6,1,6120554,-;nvidia-nvswitch: Probing device 0000:05:00.0, Vendor Id = 0x10de, Device Id = 0x22a3, Class = 0x068000\n SUBSYSTEM=pci\n DEVICE=+pci:0000:05:00.0\n");
    ex = await startKmsgExporter(file, { procfs, btime, extra: ["--diagnosis-interval", "100ms"] });
  });
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a non-fatal SXid is counted and read as an error, but makes no scene", async () => {
    const res = await fetch(`${ex.url}/api/v1/events`, {
      method: "POST",
      body: [
        { event_type: "process.state", entity_id: "gpu-00", pid: 8080, job_id: "job-80", value: "start" },
        { event_type: "compute.util", entity_id: "gpu-00", pid: 8080, job_id: "job-80", value: "97" },
      ].map((e) => JSON.stringify(e)).join("\n"),
    });
    assert.equal(res.status, 200, await res.text());
    kernel(NON_FATAL);
    // Read: the record is counted and the error node of nvswitch-0 made.
    const node = await eventually(async () => {
      const graph = (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as { nodes: { id: string; error_type?: string }[] };
      return graph.nodes.find((n) => n.id === "error-nvswitch-0");
    }, 10_000, "the error node of nvswitch-0");
    assert.match(String(node.error_type), /^SXID_20009 .*20009, Non-fatal, Link 04/);
    // A host run now, over the same state the automatic runs read: no nvswitch_error.
    const now = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { matches: { scene: string }[] };
    assert.ok(!now.matches.some((x) => x.scene === "nvswitch_error"), JSON.stringify(now.matches.map((x) => x.scene)));
    const m = await scrape(ex.url);
    assert.equal(m.get(ACTIVE), 0);
    assert.equal(m.get('xctl_scene_activations_total{scene="nvswitch_error"}'), 0);
    assert.equal(m.get('xctl_kmsg_records_total{kind="sxid"}'), 1);
  });

  it("a fatal SXid makes nvswitch_error active and critical; status names the switch, why of a GPU process does not", async () => {
    kernel(FATAL);
    kernel(FATAL_DATA);
    await eventually(async () => ((await scrape(ex.url)).get(ACTIVE) === 1 ? true : undefined), 10_000, "nvswitch_error active");
    const m = await scrape(ex.url);
    assert.equal(m.get('xctl_scene_info{scene="nvswitch_error",severity="critical"}'), 1);
    assert.equal(m.get('xctl_scene_activations_total{scene="nvswitch_error"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="sxid"}'), 3);

    const status = execFileSync(BINARY!, ["status", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(status, /nvswitch_error/, status);
    assert.match(status, /NVSwitch fatal error/, status);
    assert.match(status, /SXID_20034 nvidia-nvswitch1: SXid \(PCI:0000:06:00\.0\): 20034, Fatal, Link 48 LTSSM Fault Up on nvswitch-1/, status);
    // The non-fatal SXid is not this scene's evidence; status lists it apart, as an error no scene explains.
    const [scenes, loose = ""] = status.split(/^\d+ errors? no active scene explains:$/m);
    assert.doesNotMatch(scenes, /20009, Non-fatal/, "the non-fatal SXid is not this scene's evidence");
    assert.match(loose, /^  SXID_20009 .*20009, Non-fatal, .* on nvswitch-0 \(since /m, status);

    // The automatic run that concluded with it keeps the evidence, the root cause and the steps an SRE runs.
    const runs = (await (await fetch(`${ex.url}/api/v1/diagnoses`)).json()) as {
      scene: string | null;
      severity: string;
      affected_pids: number[];
      root_cause: { primary: string };
      evidence: { events?: { entity_id: string; value: string }[] }[];
      solution_steps: { command?: string }[];
    }[];
    const run = runs.find((r) => r.scene === "nvswitch_error");
    assert.ok(run, JSON.stringify(runs.map((r) => r.scene)));
    assert.equal(run.severity, "critical");
    assert.deepEqual(run.affected_pids, [], "no process uses the switch");
    assert.match(run.root_cause.primary, /NVLink traffic through it is broken for every GPU on the baseboard/);
    const events = run.evidence.flatMap((e) => e.events ?? []);
    assert.ok(events.some((ev) => ev.entity_id === "nvswitch-1" && ev.value.includes("20034, Fatal, Link 48")), JSON.stringify(events));
    assert.ok(!events.some((ev) => ev.entity_id === "nvswitch-0"), "the non-fatal SXid is not evidence");
    const commands = run.solution_steps.map((x) => x.command ?? "");
    for (const c of ["nvidia-smi nvlink -s", "nvidia-smi -q | grep -i -A3 fabric", "systemctl status nvidia-fabricmanager", "dmesg -T | grep -Ei 'sxid|xid'"]) {
      assert.ok(commands.some((x) => x.includes(c)), `${c} in ${JSON.stringify(commands)}`);
    }

    const why = execFileSync(BINARY!, ["why", "8080", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.doesNotMatch(why, /nvswitch/, why);
  });

  it("replay: the fatal SXid incidents end in nvswitch_error, the non-fatal one and the one long over in none", () => {
    const run = (name: string) => {
      const r = spawnSync(BINARY!, ["replay", join(INCIDENTS, `${name}.ndjson`)], { encoding: "utf8", timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      const value = (metric: string) => new RegExp(`^${metric}\\{scene="nvswitch_error"\\} (\\d+)$`, "m").exec(r.stdout)?.[1];
      return { activations: value("xctl_scene_activations_total"), active: value("xctl_scene_active"), final: /final: (.*)$/m.exec(r.stderr)?.[1] };
    };
    assert.deepEqual(run("66-nvswitch-fatal"), { activations: "1", active: "1", final: "nvswitch_error" });
    // The GPU that fell off the bus outranks the switch port that lost it.
    assert.deepEqual(run("67-gpu-off-bus-then-sxid"), { activations: "1", active: "1", final: "gpu_xid (matching: gpu_xid, nvswitch_error)" });
    assert.deepEqual(run("68-nvswitch-nonfatal"), { activations: "0", active: "0", final: "no scene" });
    // Active once, eight minutes before the end: the error window and the settle minute are over.
    assert.deepEqual(run("69-nvswitch-fatal-long-over"), { activations: "1", active: "0", final: "no scene" });
  });
});
