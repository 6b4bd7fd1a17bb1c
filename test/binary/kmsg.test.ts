// builtin:kmsg through the compiled binary: a record file in the /dev/kmsg format is followed;
// processes are pushed over HTTP; kernel records appended to the file must show in `why`.
// GPU indexes come from the stand-in nvidia-smi on PATH (GPU 0 at 18:00.0, GPU 1 at 3B:00.0).
// When the binary has --path.procfs/--path.sysfs, the boot time and the GPU at 86:00.0 (the third
// of the driver's GPUs in bus order: gpu-02) come from a procfs fixture tree and disks from the sysfs one; before that, the boot
// time is this machine's and the fallen-off GPU is 18:00.0 (gpu-00, from nvidia-smi).
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, scrape, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const FIXTURES = join(ROOT, "test/fixtures/kmsg");

interface Why {
  state: string;
  ended?: boolean;
  left_because?: string;
  root_causes: { entity: string; error_type: string }[];
  waits_on: { resource: string }[];
  scenes: { scene: string }[];
}

describe("builtin:kmsg in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-bin-"));
  const file = join(dir, "kmsg");
  // With the flags, a procfs tree booted an hour ago; else this machine's boot time.
  const procfs = join(dir, "proc");
  const btime = PATH_FLAGS ? Math.floor(Date.now() / 1000) - 3600 : Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]);
  const fallen = PATH_FLAGS ? { bus: "0000:86:00", gpu: "gpu-02" } : { bus: "0000:18:00", gpu: "gpu-00" };
  let seq = 100;
  /** Appends one kernel record stamped now, as the kernel would write it. */
  const kernel = (prio: number, message: string, dict: string[] = []) => {
    const usec = (Date.now() - btime * 1000) * 1000;
    appendFileSync(file, `${prio},${seq++},${usec},-;${message}\n${dict.map((d) => ` ${d}\n`).join("")}`);
  };
  let ex: RunningExporter;

  const push = async (events: object[]) => {
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify(e)).join("\n") });
    assert.equal(res.status, 200, await res.text());
  };
  const why = async (pid: number): Promise<Why | undefined> => {
    const res = await fetch(`${ex.url}/api/v1/why/${pid}`);
    if (res.status === 404) return undefined;
    return (await res.json()) as Why;
  };

  before(async () => {
    // An old boot record with its dictionary: read, counted, nothing emitted.
    writeFileSync(file, "6,1,1000,-;nvidia 0000:3b:00.0: enabling device (0000 -> 0002)\n SUBSYSTEM=pci\n DEVICE=+pci:0000:3b:00.0\n");
    ex = await startKmsgExporter(file, { procfs, btime, sysfs: join(FIXTURES, "sysfs"), driver: join(FIXTURES, "procfs/driver") });
  });
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an Xid 79 blocks the process on that GPU: why names XID_79 on gpu-01", async () => {
    await push([
      { event_type: "process.state", entity_id: "gpu-01", pid: 4242, job_id: "job-7", value: "start" },
      { event_type: "compute.util", entity_id: "gpu-01", pid: 4242, job_id: "job-7", value: "93" },
    ]);
    kernel(4, "NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.");
    const w = await eventually(async () => {
      const a = await why(4242);
      return a && a.root_causes.length > 0 ? a : undefined;
    }, 10_000, "a root cause for 4242");
    assert.equal(w.root_causes[0].entity, "gpu-01");
    assert.match(w.root_causes[0].error_type, /^XID_79 NVRM: Xid \(PCI:0000:3b:00\): 79, /);
    assert.ok(w.scenes.some((s) => s.scene === "gpu_xid"), JSON.stringify(w.scenes.map((s) => s.scene)));
  });

  it(`a GPU fallen off the bus with no Xid line does the same (${fallen.gpu})`, async () => {
    await push([
      { event_type: "process.state", entity_id: fallen.gpu, pid: 5151, job_id: "job-8", value: "start" },
      { event_type: "compute.util", entity_id: fallen.gpu, pid: 5151, job_id: "job-8", value: "88" },
    ]);
    kernel(3, `NVRM: GPU at PCI:${fallen.bus}: GPU has fallen off the bus.`);
    const w = await eventually(async () => {
      const a = await why(5151);
      return a && a.root_causes.length > 0 ? a : undefined;
    }, 10_000, "a root cause for 5151");
    assert.deepEqual(
      w.root_causes.map((c) => [c.entity, c.error_type.split(" ")[0]]),
      [[fallen.gpu, "XID_79"]],
    );
  });

  it("an NVMe I/O error on the disk a process waits on: the error node on nvme1n1, storage_io_error for that pid", async () => {
    // A storage.iops below 1.0 with a pid is a waits_on edge (SPEC §3).
    await push([
      { event_type: "process.state", entity_id: "nvme1n1", pid: 6262, job_id: "job-9", value: "start" },
      { event_type: "storage.iops", entity_id: "nvme1n1", pid: 6262, job_id: "job-9", value: "0.4" },
    ]);
    kernel(3, "I/O error, dev nvme1n1p1, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0");
    const g = await eventually(async () => {
      const graph = (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as { nodes: { id: string; error_type?: string }[] };
      return graph.nodes.find((n) => n.id === "error-nvme1n1");
    }, 10_000, "the error node of nvme1n1");
    assert.match(String(g.error_type), /^IO_ERROR I\/O error, dev nvme1n1p1, sector 2048/);
    const w = (await why(6262))!;
    assert.deepEqual(w.waits_on.map((r) => r.resource), ["nvme1n1"]);
    // Who an error blocks is the graph's: on main an error blocks the consumers of its entity
    // and a storage event makes a waits_on edge, so no root cause; with the diag branch's
    // fault scope a device fault blocks its waiters too, and the cause is this I/O error.
    const causes = w.root_causes.map((c) => `${c.entity} ${c.error_type.split(" ")[0]}`);
    assert.ok(causes.length === 0 || (causes.length === 1 && causes[0] === "nvme1n1 IO_ERROR"), JSON.stringify(causes));
    const io = (w.scenes as { scene: string; affected_pids: number[] }[]).find((s) => s.scene === "storage_io_error");
    assert.ok(io, JSON.stringify(w.scenes.map((s) => s.scene)));
    assert.deepEqual(io.affected_pids, [6262]);
    const run = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { matches: { scene: string }[] };
    assert.ok(run.matches.some((m) => m.scene === "storage_io_error"), JSON.stringify(run.matches.map((m) => m.scene)));
  });

  it("the OOM killer ends the process: it leaves the graph as an exit does", async () => {
    const before = (await scrape(ex.url)).get("xctl_active_processes")!;
    kernel(3, "Out of memory: Killed process 4242 (python3) total-vm:98765432kB, anon-rss:81234567kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:160000kB oom_score_adj:0");
    // Gone from the graph; why gives its last answer, marked ended.
    const last = await eventually(async () => {
      const a = await why(4242);
      return a?.ended === true ? a : undefined;
    }, 10_000, "pid 4242 gone");
    assert.deepEqual([last.state, last.left_because], ["oom_killed", "ended"]);
    const m = await scrape(ex.url);
    assert.equal(m.get("xctl_active_processes"), before - 1);
    assert.equal(m.get('xctl_events_by_type{event_type="process.state"}'), 4);
    assert.equal(m.get('xctl_kmsg_records_total{kind="oom_kill"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="xid"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="fallen_off_bus"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="io_error"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="other"}'), 1);
  });

  // After the counts above: this one adds a process and a record of its own.
  it("an mlx5 port's link down, with no drops: nic_link_down names the pid using mlx5_0", { skip: PATH_FLAGS ? false : "the PCI function maps to mlx5_0 through --path.sysfs" }, async () => {
    // A probe's reading of the job's traffic on mlx5_0, below 1.0: it waits on the NIC.
    await push([
      { event_type: "process.state", entity_id: "mlx5_0", pid: 7373, job_id: "job-11", value: "start" },
      { event_type: "transport.bw", entity_id: "mlx5_0", pid: 7373, job_id: "job-11", value: "0.2" },
      { event_type: "process.state", entity_id: "gpu-00", pid: 7474, job_id: "job-12", value: "start" },
    ]);
    kernel(6, "mlx5_core 0000:17:00.0 ens1f0np0: Link down");
    const w = await eventually(async () => {
      const a = await why(7373);
      return a && a.scenes.some((s) => s.scene === "nic_link_down") ? a : undefined;
    }, 10_000, "7373 in nic_link_down");
    assert.deepEqual(
      w.root_causes.map((c) => [c.entity, c.error_type]),
      [["mlx5_0", "LINK_DOWN mlx5_core 0000:17:00.0 ens1f0np0: Link down"]],
    );
    assert.deepEqual(w.scenes.map((s) => s.scene), ["nic_link_down"], "no drops, no congestion: the link alone");
    const text = execFileSync(BINARY!, ["why", "7373", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(text, /pid-7373 -blocked_by-> error-mlx5_0/, text);
    assert.match(text, /topo\.link_down mlx5_0 "LINK_DOWN mlx5_core 0000:17:00\.0 ens1f0np0: Link down" \(no pid: device\)/, text);
    // 7474 holds no NIC: the link is not its problem.
    assert.deepEqual((await why(7474))!.scenes.map((s) => s.scene), []);
    assert.equal((await scrape(ex.url)).get('xctl_kmsg_records_total{kind="mlx5_link"}'), 1);
  });
});

// The kernel's OOM killer through the binary: the full report of test/fixtures/kmsg/oom-kill.kmsg
// (re-stamped to now) ends pid 4242, which a push made known first. host_oom_kill becomes active
// naming the pid and its job, stays active for --scene-settle after the process left the graph
// (why answers with its last answer, ended, by then), and clears; `replay` of the labelled incident finds it too.
describe("host_oom_kill from the kernel log, in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-oom-bin-"));
  const file = join(dir, "kmsg");
  const procfs = join(dir, "proc");
  const btime = PATH_FLAGS ? Math.floor(Date.now() / 1000) - 3600 : Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]);
  let ex: RunningExporter;

  before(async () => {
    writeFileSync(file, "6,1,1000,-;Linux version 5.15.0-112-generic (buildd@lcy02-amd64-051) #122-Ubuntu SMP\n");
    ex = await startKmsgExporter(file, { procfs, btime, sysfs: join(FIXTURES, "sysfs"), extra: ["--scene-settle", "4s"] });
  });
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("names the killed pid and its job, stays active for --scene-settle after the pid left the graph, then clears", async () => {
    const body = [
      { event_type: "process.state", entity_id: "gpu-00", pid: 4242, job_id: "job-6600", value: "start" },
      { event_type: "compute.util", entity_id: "gpu-00", pid: 4242, job_id: "job-6600", value: "91" },
      { event_type: "process.state", entity_id: "gpu-01", pid: 4343, job_id: "job-6610", value: "start" },
      { event_type: "compute.util", entity_id: "gpu-01", pid: 4343, job_id: "job-6610", value: "88" },
    ];
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: body.map((e) => JSON.stringify(e)).join("\n") });
    assert.equal(res.status, 200, await res.text());
    // The report as the kernel wrote it, one record per line, stamped now.
    const usec = (Date.now() - btime * 1000) * 1000;
    const records = readFileSync(join(FIXTURES, "oom-kill.kmsg"), "utf8").trimEnd().split("\n");
    appendFileSync(file, records.map((r, i) => r.replace(/^(\d+),\d+,\d+,/, (_m, prio) => `${prio},${10 + i},${usec + i * 37},`) + "\n").join(""));

    await eventually(async () => (await scrape(ex.url)).get('xctl_scene_active{scene="host_oom_kill"}') === 1, 10_000, "host_oom_kill active");
    const runs = (await (await fetch(`${ex.url}/api/v1/diagnoses`)).json()) as { trigger: string; scene: string | null; affected_jobs: string[]; matches: { scene: string; affected_pids: number[] }[] }[];
    const run = runs.find((r) => r.trigger === "auto" && r.matches.some((m) => m.scene === "host_oom_kill"))!;
    assert.ok(run, JSON.stringify(runs.map((r) => r.scene)));
    assert.equal(run.scene, "host_oom_kill");
    assert.deepEqual(run.matches.find((m) => m.scene === "host_oom_kill")!.affected_pids, [4242]);
    assert.deepEqual(run.affected_jobs, ["job-6600"]);

    // The process leaves the graph a second after its end (why answers with its last answer, ended);
    // the scene stays for the settle time.
    await eventually(async () => ((await (await fetch(`${ex.url}/api/v1/why/4242`)).json()) as { ended?: boolean }).ended === true, 10_000, "pid 4242 gone");
    const m = await scrape(ex.url);
    assert.equal(m.get('xctl_scene_active{scene="host_oom_kill"}'), 1);
    assert.equal(m.get('xctl_scene_activations_total{scene="host_oom_kill"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="oom_kill"}'), 1);
    assert.equal(m.get('xctl_kmsg_records_total{kind="other"}'), 37, "the boot record and every other line of the report");
    const status = execFileSync(BINARY!, ["status", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
    assert.match(status, /^ {2}host_oom_kill {2}Host out of memory \(OOM killer\)/m, status);
    assert.match(status, /pids: 4242 {3}jobs: job-6600$/m, status);
    // pid 4343 of another job is not concerned.
    const other = (await (await fetch(`${ex.url}/api/v1/why/4343`)).json()) as Why;
    assert.deepEqual(other.scenes.map((s) => s.scene), []);

    await eventually(async () => (await scrape(ex.url)).get('xctl_scene_active{scene="host_oom_kill"}') === 0, 15_000, "host_oom_kill cleared after --scene-settle");
    assert.equal((await scrape(ex.url)).get('xctl_scene_activations_total{scene="host_oom_kill"}'), 1);
  });

  it("replay of the labelled incident: the kill is the final scene, and with telemetry after it the scene clears one settle minute after the kill", () => {
    const incident = join(ROOT, "test/fixtures/incidents/70-host-oom-dataloader.ndjson");
    const r = spawnSync(BINARY!, ["replay", incident], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /final: host_oom_kill/, r.stderr);
    assert.match(r.stdout, /^xctl_scene_active\{scene="host_oom_kill"\} 1$/m);
    // Two more minutes of another GPU's readings: the killed process has left the graph.
    const text = readFileSync(incident, "utf8");
    const lines = text.trimEnd().split("\n");
    const kill = JSON.parse(lines.at(-1)!) as { ts: number; value: string };
    assert.equal(kill.value, "oom_killed");
    const after = Array.from({ length: 12 }, (_, i) => JSON.stringify({ ts: kill.ts + (i + 1) * 10_000, event_type: "compute.util", entity_id: "gpu-01", value: "92" }));
    const j = spawnSync(BINARY!, ["replay", "--json", "-"], { input: text + after.join("\n") + "\n", encoding: "utf8", timeout: 20_000 });
    assert.equal(j.status, 0, j.stderr);
    const summary = JSON.parse(j.stdout) as { final_scene: string | null; timeline: { scene: string; active_at: string; cleared_at: string | null }[] };
    assert.equal(summary.final_scene, null);
    assert.deepEqual(summary.timeline, [{ scene: "host_oom_kill", active_at: new Date(kill.ts + 10_000).toISOString(), cleared_at: new Date(kill.ts + 60_000).toISOString() }]);
  });
});
