// roce_congestion through the compiled binary on a Broadcom host: builtin:infiniband reads a
// sysfs tree laid out as bnxt_re lays it out on a Thor NIC (port hw_counters under the driver's
// own names, no PMA counters/), given with --path.sysfs. CNPs and ECN marks rising with
// sequence-error NAKs on the NIC a job holds make the scene active for that job, with the
// driver's counter names as its evidence.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";
import { BNXT_RE_HW, bumpCounter, writeRdmaDevice, writeVerbsUser } from "../sources/_rdma-kit.ts";

const BINARY = process.env.XCTL_BINARY;
const ACTIVE = 'xctl_scene_active{scene="roce_congestion"}';

describe("roce_congestion from a bnxt_re NIC in the binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const root = mkdtempSync(join(tmpdir(), "xctl-bnxt-bin-"));
  let ex: RunningExporter | undefined;
  after(async () => {
    await ex?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("becomes active for the job holding bnxt_re0 when its CNP and ECN counters climb with NAKs, naming tx_cnp_pkts", async () => {
    writeRdmaDevice(root, { device: "bnxt_re0", linkLayer: "Ethernet", portHw: BNXT_RE_HW, uverbs: 0 });
    writeRdmaDevice(root, { device: "bnxt_re1", linkLayer: "Ethernet", portHw: BNXT_RE_HW, uverbs: 1 });
    writeVerbsUser(root, 6161, [0]);
    writeVerbsUser(root, 6262, []);
    const args = ["--probe", "builtin:infiniband?interval=300ms", "--path.procfs", join(root, "proc"), "--path.sysfs", join(root, "sys")];
    args.push("--collectors", "none", "--diagnosis-interval", "100ms");
    ex = await startExporter(args);
    const url = ex.url;
    await eventually(async () => (await scrape(url)).get('xctl_probe_up{probe="infiniband"}') === 1, 10_000, "infiniband up");
    const res = await fetch(`${url}/api/v1/events`, {
      method: "POST",
      body: [6161, 6262].map((pid) => JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: `job-${pid}`, value: "start" })).join("\n"),
    });
    assert.equal(res.status, 200, await res.text());
    assert.equal((await scrape(url)).get(ACTIVE), 0);

    // Incast on bnxt_re0: every check adds a round's worth (the collector reads every 300 ms).
    const port = "sys/class/infiniband/bnxt_re0/ports/1/hw_counters";
    await eventually(async () => {
      bumpCounter(root, `${port}/tx_cnp_pkts`, 20_000n);
      bumpCounter(root, `${port}/rx_ecn_marked_pkts`, 20_000n);
      bumpCounter(root, `${port}/seq_err_naks_rcvd`, 15n);
      return (await scrape(url)).get(ACTIVE) === 1 || undefined;
    }, 15_000, "roce_congestion active");

    const why = execFileSync(BINARY!, ["why", "6161", "--url", url], { encoding: "utf8", timeout: 10_000 });
    assert.match(why, /roce_congestion \(RoCE congestion\), warning/, why);
    // The collector may read between the test's writes to the two files: one round can see either.
    assert.match(why, /error\.net bnxt_re0 "ECN\/CNP congestion: (?:tx_cnp_pkts \+\d+(?:, rx_ecn_marked_pkts \+\d+)?|rx_ecn_marked_pkts \+\d+) in \d+(?:\.\d)?s"/, why);
    assert.match(why, /waits on:\n\s+bnxt_re0 /, why);
    // The job on the other NIC is not in the scene.
    const other = execFileSync(BINARY!, ["why", "6262", "--url", url], { encoding: "utf8", timeout: 10_000 });
    assert.doesNotMatch(other, /roce_congestion|bnxt_re0/, other);
    assert.doesNotMatch(ex.stderr(), /round failed|TypeError|ERROR/i);
  });
});
