// Lines written into the kernel log from user space, through the compiled binary. An operator who
// tests the exporter as root with `echo '<3>NVRM: Xid ...' > /dev/kmsg` gets a record of facility
// user (the kernel gives one to every line written there, whatever its prefix), which is never
// evidence: the log must say so, once per kind, or the test looks like a broken exporter.
// test/fixtures/kmsg/user-space.kmsg is what Linux 6.18's /dev/kmsg handed out after such echoes
// (prio 11 and 14), among the kernel's own records of a memory-cgroup OOM kill, a segfault and a
// hung task of processes no probe reported.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, logged, scrape, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;
const SKIP = !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PATH_FLAGS ? "the binary has no --path.procfs" : false;
// The fixture's pid of the process the echoed lines name; its last record is at 888.11 s.
const PID = 29380;
const LAST_USEC = 888_113_357;

describe("lines written into /dev/kmsg from user space, through the binary", { skip: SKIP }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-user-"));
  const file = join(dir, "kmsg");
  // Booted so that the fixture's last record is 10 s old: news, not a backlog from long ago.
  const btime = Math.floor(Date.now() / 1000 - LAST_USEC / 1e6 - 10);
  let ex: RunningExporter;

  before(async () => {
    copyFileSync(join(ROOT, "test/fixtures/kmsg/user-space.kmsg"), file);
    ex = await startKmsgExporter(file, { procfs: join(dir, "proc"), btime });
  });
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are no evidence, are counted as user_space, and the log says once per kind why nothing came of them", { timeout: 30_000 }, async () => {
    const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: JSON.stringify({ event_type: "process.state", entity_id: `pid-${PID}`, pid: PID, job_id: "train", value: "start" }) });
    assert.equal(res.status, 200);
    const m = await scrape(ex.url);
    assert.equal(m.get('xctl_kmsg_records_total{kind="user_space"}'), 6);
    assert.equal(m.get('xctl_kmsg_records_total{kind="xid"}'), 0);
    assert.equal(m.get('xctl_kmsg_records_total{kind="oom_kill"}'), 2, "the kernel's own kills of pids no probe reported");
    for (const kind of ["xid", "io_error", "mlx5_link", "hung_task", "oom_kill"]) {
      await logged(ex, new RegExp(`ignored a line written to the kernel log from user space \\(facility 1\\), not by the kernel, that reads as ${kind}:`));
    }
    const log = ex.stderr();
    assert.match(log, /that reads as xid: only the kernel's own records are evidence: \\?"NVRM: Xid \(PCI:0000:3b:00\): 79, pid=29380/);
    // The loop device's I/O error reads as no fault even from the kernel: nothing to say of it.
    assert.doesNotMatch(log, /loop0/);
    // The process the lines name is untouched: running, nothing blocks it, no scene.
    const why = (await (await fetch(`${ex.url}/api/v1/why/${PID}`)).json()) as { state: string; root_causes: unknown[]; scenes: unknown[] };
    assert.deepEqual([why.state, why.root_causes, why.scenes], ["running", [], []]);
    // Once per kind: another echoed Xid is counted, not said again.
    appendFileSync(file, `11,699,${LAST_USEC + 1000},-;NVRM: Xid (PCI:0000:3b:00): 79, pid=${PID}, name=sleep, GPU has fallen off the bus.\n`);
    await eventually(async () => (await scrape(ex.url)).get('xctl_kmsg_records_total{kind="user_space"}') === 7, 10_000, "the second echo counted");
    assert.equal(ex.stderr().match(/that reads as xid:/g)?.length, 1, ex.stderr());
  });
});
