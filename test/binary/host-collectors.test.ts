// builtin:procfs, builtin:infiniband and builtin:diskstats through the compiled binary, on a
// copy of test/fixtures/host rewritten while it runs: a vanished pid leaves the graph, a Slurm
// job id shows in `ps`, a process stuck in D waits on its disk, a port going down or dropping
// makes the job using it wait on that device (`why`). And, as an unprivileged user on this
// machine's /proc, what cannot be read is said once and counted.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { eventually, freePort, logged, scrape, startExporter, waitFor, type RunningExporter } from "../_helpers.ts";
import { hostTree, type HostTree } from "../sources/_host-kit.ts";

const BINARY = process.env.XCTL_BINARY;
// Once the binary has --path.procfs/--path.sysfs the fixture tree is given through them (else
// through each collector's ?procfs=/?sysfs=), and --collectors none keeps the host's own
// collectors (which would read this machine's /proc) out of the test.
const HELP = BINARY ? execFileSync(BINARY, ["--help"], { encoding: "utf8" }) : "";
const PATH_FLAGS = HELP.includes("--path.procfs") && HELP.includes("--path.sysfs");
const COLLECTORS_FLAG = HELP.includes("--collectors");

async function push(url: string, events: object[]): Promise<void> {
  const res = await fetch(`${url}/api/v1/events`, { method: "POST", body: events.map((e) => JSON.stringify(e)).join("\n") });
  const body = (await res.json()) as { accepted: number };
  assert.equal(body.accepted, events.length, JSON.stringify(body));
}

const cli = (...args: string[]) => execFileSync(BINARY!, args, { encoding: "utf8", timeout: 10_000 });
const start = (pid: number) => ({ event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "start" });

describe("host collectors in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let tree: HostTree | undefined;
  let ex: RunningExporter;
  after(async () => {
    await ex?.stop();
    tree?.close();
  });

  it("runs the three collectors on a fixture tree: exits, job ids, D waits, link down and drops", async () => {
    tree = hostTree();
    const at = PATH_FLAGS ? "" : `procfs=${tree.procfs}&sysfs=${tree.sysfs}&`;
    const args = [
      "--probe", `builtin:procfs?${at}interval=300ms&dwait=600ms`,
      "--probe", `builtin:infiniband?${at}interval=300ms`,
      "--probe", `builtin:diskstats?${at}interval=300ms`,
    ];
    if (PATH_FLAGS) args.push("--path.procfs", tree.procfs, "--path.sysfs", tree.sysfs);
    if (COLLECTORS_FLAG) args.push("--collectors", "none");
    ex = await startExporter(args);
    await push(ex.url, [start(4242), start(4444), start(4545), start(99999)]);

    // The vanished pid leaves; the Slurm job id from 4242's environment shows in `ps`.
    const rows = await eventually(async () => {
      const r = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; job_id: string | null }[];
      return !r.some((p) => p.pid === 99999) && r.find((p) => p.pid === 4242)?.job_id === "7001" ? r : undefined;
    }, 10_000, "99999 gone and 4242 in job 7001");
    assert.deepEqual(rows.map((r) => [r.pid, r.job_id]).sort(), [[4242, "7001"], [4444, "7002"], [4545, "7003"]]);
    const ps = cli("ps", "--url", ex.url);
    assert.match(ps, /^4242\s+7001\s/m, ps);

    // 4545 exits: its /proc entry goes, and so does it from the graph.
    tree.remove("proc/4545");
    await eventually(async () => !cli("ps", "--url", ex.url).match(/^4545\s/m), 10_000, "4545 gone from ps");

    // 4444 stuck in D past the threshold: it waits on the disk behind its open file.
    tree.write("proc/4444/stat", readFileSync(`${tree.procfs}/4444/stat`, "utf8").replace(") S ", ") D "));
    const whyD = await eventually(() => {
      const w = cli("why", "4444", "--url", ex.url);
      return /waits on:\n\s+nvme1n1/.test(w) ? w : undefined;
    }, 10_000, "4444 waits on nvme1n1");
    assert.match(whyD, /^pid 4444\s+job 7002\s+state D$/m, whyD);
    // The disk keeps its last reading per key: procfs's `IO_WAIT D for Ns`, or diskstats' queue
    // depth when its round came after; the wait is the edge either way.
    assert.match(whyD, /nvme1n1 .*qdepth=(IO_WAIT D for \d+s|\d+)/, whyD);

    // mlx5_0 (which 4242 holds through uverbs0) goes down and counts errors.
    const port = `sys/class/infiniband/mlx5_0/ports/1`;
    tree.write(`${port}/state`, "1: DOWN\n");
    tree.write(`${port}/phys_state`, "3: Disabled\n");
    tree.write(`${port}/counters/symbol_error`, "12\n");
    const why = await eventually(() => {
      const w = cli("why", "4242", "--url", ex.url);
      // 12 symbol errors in one reading: the network_stall scene names 4242 too.
      return /waits on:\n\s+mlx5_0 .*bw=IO_WAIT LINK_DOWN port=1/.test(w) && /network_stall/.test(w) ? w : undefined;
    }, 10_000, "4242 waits on mlx5_0, its link down, in network_stall");
    assert.doesNotMatch(why, /nvme1n1/, "4242 is not the process stuck on the disk");
    const graph = (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as { nodes: { id: string; error_type?: string }[] };
    assert.ok(graph.nodes.some((n) => n.id === "error-mlx5_0"), "the link down is an error node on the device");

    const m = await scrape(ex.url);
    for (const p of ["procfs", "infiniband", "diskstats"]) assert.equal(m.get(`xctl_probe_up{probe="${p}"}`), 1, p);
    assert.ok(m.get('xctl_events_by_type{event_type="storage.iops"}')! > 0, "diskstats readings");
    assert.ok(m.get('xctl_events_by_type{event_type="topo.link_down"}')! > 0);
    assert.equal(m.get("xctl_waitson_edges"), 2, "4444 → nvme1n1 and 4242 → mlx5_0, nothing from host-level readings");
    assert.doesNotMatch(ex.stderr(), /round failed|TypeError|ERROR/i);
  });
});

describe("a port going down in the binary, with no drops", { skip: BINARY ? (PATH_FLAGS ? false : "the binary has no --path.sysfs") : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let tree: HostTree | undefined;
  let ex: RunningExporter;
  after(async () => {
    await ex?.stop();
    tree?.close();
  });

  it("names the process using the NIC in nic_link_down with its evidence, and ends the scene once the port is ACTIVE again", async () => {
    tree = hostTree();
    // A short error window and settle, so that the recovery shows within the test.
    const args = ["--probe", "builtin:infiniband?interval=300ms", "--path.procfs", tree.procfs, "--path.sysfs", tree.sysfs];
    args.push("--error-window", "2s", "--scene-settle", "1s", "--diagnosis-interval", "100ms");
    if (COLLECTORS_FLAG) args.push("--collectors", "none");
    ex = await startExporter(args);
    await eventually(async () => (await scrape(ex.url)).get('xctl_probe_up{probe="infiniband"}') === 1, 10_000, "infiniband up");
    // Up is said at start, before the first round reads the ports; a port the collector never
    // saw ACTIVE is an unused one, not a fault. A bandwidth reading needs two rounds: by then the
    // port was seen up (on a loaded machine, the first round can come after the DOWN below).
    await eventually(async () => ((await scrape(ex.url)).get('xctl_events_by_type{event_type="transport.bw"}') ?? 0) > 0 || undefined, 10_000, "two infiniband rounds");
    await push(ex.url, [{ ...start(4242), job_id: "job-7001" }, start(4444)]);
    const active = async () => (await scrape(ex.url)).get('xctl_scene_active{scene="nic_link_down"}');
    assert.equal(await active(), 0);

    // mlx5_0 (4242 holds it through uverbs0; 4444 holds no RDMA device) goes down: no counter moves.
    const port = "sys/class/infiniband/mlx5_0/ports/1";
    tree.write(`${port}/state`, "1: DOWN\n");
    tree.write(`${port}/phys_state`, "3: Disabled\n");
    const why = await eventually(() => {
      const w = cli("why", "4242", "--url", ex.url);
      return /nic_link_down/.test(w) ? w : undefined;
    }, 10_000, "4242 in nic_link_down");
    assert.match(why, /^ {2}LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand on mlx5_0 \(error-mlx5_0,/m, why);
    assert.match(why, /nic_link_down \(NIC link down\), critical, confidence 1\.00/, why);
    assert.match(why, /topo\.link_down mlx5_0 "LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand" \(no pid: device\)/, why);
    assert.match(why, /pid-4242 -blocked_by-> error-mlx5_0/, why);
    assert.match(why, /1\. Read the port state.*ibstat <mlx5_device>/, why);
    assert.doesNotMatch(why, /network_stall|roce_congestion/, "no drops, no congestion: only the link");
    const other = cli("why", "4444", "--url", ex.url);
    assert.doesNotMatch(other, /nic_link_down|mlx5_0/, other);
    // why asks on demand; the automatic run that makes the scene active follows within the debounce.
    await eventually(async () => ((await active()) === 1 ? true : undefined), 10_000, "nic_link_down active");

    // The port is ACTIVE again: the collector stops refreshing the error, which expires one
    // error window later; the scene clears after the settle time.
    tree.write(`${port}/state`, "4: ACTIVE\n");
    tree.write(`${port}/phys_state`, "5: LinkUp\n");
    await eventually(async () => ((await active()) === 0 ? true : undefined), 15_000, "nic_link_down cleared");
    // The link_down event leaves the window one error window after the last refresh; the error
    // node goes at the graph's next cleanup (each second of event time), which can come a moment
    // after the settle time ends the scene.
    const after = await eventually(() => {
      const w = cli("why", "4242", "--url", ex.url);
      return /root causes:\n {2}none known/.test(w) ? w : undefined;
    }, 5_000, "error-mlx5_0 expired");
    assert.match(after, /scenes:\n {2}none matching/, after);
    await logged(ex, /mlx5_0 port 1 is ACTIVE again/);
    await logged(ex, /scene cleared: nic_link_down/);
  });
});

describe("builtin:procfs without privilege, on this machine's /proc", { skip: !BINARY ? "XCTL_BINARY not set" : process.getuid?.() !== 0 || !existsSync("/usr/bin/setpriv") ? "needs root and setpriv to drop to nobody" : false }, () => {
  it("says once that it cannot read root's environ, counts every refusal, and still ends a dead pid", async () => {
    const port = await freePort();
    const args = ["--host", "127.0.0.1", "--port", String(port), "--probe", "builtin:procfs?interval=300ms"];
    if (COLLECTORS_FLAG) args.push("--collectors", "none");
    const child = spawn("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", BINARY!, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise((r) => child.once("exit", r));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${url}/healthz`, exited);
      const dead = Number(execFileSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).trim());
      // pid 1 and this test runner run as root: their environ is closed to nobody.
      await push(url, [start(1), start(process.pid), start(dead)]);
      const m = await eventually(async () => {
        const s = await scrape(url);
        // The refusals and the exit may come in different rounds: wait for both.
        return s.get('xctl_collector_reads_denied_total{probe="procfs",kind="environ"}') === 2 && s.get("xctl_active_processes") === 2 ? s : undefined;
      }, 10_000, "two environ reads denied and the dead pid ended");
      assert.equal(m.get("xctl_active_processes"), 2, "the dead pid ended; pid 1 and the runner run on");
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await scrape(url)).get('xctl_collector_reads_denied_total{probe="procfs",kind="environ"}'), 2, "each pid's job is looked up once");
      assert.equal(err.match(/permission denied/g)?.length, 1, err);
      assert.match(err, /CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH together/);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
