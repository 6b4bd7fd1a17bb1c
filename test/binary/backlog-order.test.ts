// The compiled binary restarted after a GPU fell off the bus: builtin:kmsg reads the Xid 79 from
// the ring's backlog, then the jobs' probes tell their starts and readings on the GPU. Whether a
// job is blocked by the Xid is a fact about its start and the fault's time (SPEC §3: a device
// fault hits every process on the device at that moment), not about which of its start and its
// first reading the exporter received first. A job whose start is never told is not blamed for it
// (it may have started after), and `why` says so.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, runCli } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;

describe("a job on a GPU whose Xid 79 the binary read from the kernel log's backlog", { skip: BINARY && PATH_FLAGS ? false : "XCTL_BINARY not set, or a binary without --path.procfs" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-backlog-order-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is blocked by it when it started before it, not when it started after, whether its start or its reading comes first", { timeout: 60_000 }, async () => {
    const btime = Math.floor(Date.now() / 1000) - 3600;
    const file = join(dir, "kmsg");
    const fellAt = Date.now() - 30_000;
    writeFileSync(file, `4,1031,${(fellAt - btime * 1000) * 1000},-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n`);
    const ex = await startKmsgExporter(file, {
      procfs: join(dir, "proc"),
      btime,
      driver: join(ROOT, "test/fixtures/kmsg/procfs/driver"),
      extra: ["--diagnosis-interval", "100ms", "--scene-settle", "0s"],
    });
    try {
      type Graph = { nodes: { error_type?: string }[] };
      await eventually(async () => ((await (await fetch(`${ex.url}/api/v1/graph`)).json()) as Graph).nodes.some((n) => n.error_type?.startsWith("XID_79")), 15_000, "the Xid 79 from the ring's backlog");
      const now = Date.now();
      const start = (pid: number, ts: number) => ({ ts, event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: `job-${pid}`, value: "start" });
      const use = (pid: number) => ({ ts: now - 1000, event_type: "compute.util", entity_id: "gpu-01", pid, job_id: `job-${pid}`, value: "93" });
      const post = async (evs: object[]) => {
        const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body: evs.map((e) => JSON.stringify(e)).join("\n") });
        assert.equal(res.status, 200, await res.text());
      };
      // Started 20 s after the fall (the GPU was reset under it: a later job): not blocked. Stamped
      // from the fall, not from now: a slow start of the exporter moves nothing.
      await post([start(5902, fellAt + 20_000), use(5902)]);
      await post([use(5903), start(5903, fellAt + 20_000)]);
      // Started 30 s before the fall: blocked, in either order.
      await post([start(5900, fellAt - 30_000), use(5900)]);
      await post([use(5901), start(5901, fellAt - 30_000)]);
      // Readings alone, its start never told: it may have come after the fall, so it is not blamed.
      await post([use(5904)]);
      const blockedBy = async () => {
        const ps = await runCli(["ps", "-o", "wide", "--url", ex.url]);
        assert.equal(ps.code, 0, ps.stderr);
        const [head, ...rows] = ps.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/));
        const col = head.indexOf("BLOCKED_BY");
        return { table: ps.stdout, by: new Map(rows.map((r) => [Number(r[0]), r[col]])) };
      };
      // The later posts were applied after the earlier ones: once the last shows, all do.
      const { table, by } = await eventually(async () => {
        const b = await blockedBy();
        return b.by.size === 5 && b.by.get(5901) !== "-" ? b : undefined;
      }, 15_000, "the five jobs, the fourth one blocked");
      assert.deepEqual(
        [5900, 5901, 5902, 5903, 5904].map((pid) => by.get(pid)),
        ["XID_79@gpu-01", "XID_79@gpu-01", "-", "-", "-"],
        table,
      );
      // `why` of those the Xid is not charged to says why, beside "none known".
      const why = async (pid: number) => {
        const r = await runCli(["why", String(pid), "--url", ex.url]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const spared = /root causes:\n  none known\n[\s\S]*faults on what it uses, not charged to it:\n  XID_79 on gpu-01 at \S+: /;
      assert.match(await why(5902), new RegExp(spared.source + "it started after that fault"));
      assert.match(await why(5904), new RegExp(spared.source + "the fault came before the exporter saw who used the device, and this process's start is not known"));
      assert.doesNotMatch(await why(5900), /not charged/);
      // Another job's own fault on the GPU (its OOM) is named as that job's.
      await post([{ ts: Date.now(), event_type: "error.hw", entity_id: "gpu-01", pid: 5900, job_id: "job-5900", value: "OOM CUDA out of memory" }]);
      await eventually(async () => /OOM on gpu-01 at \S+: pid 5900's own fault\n/.test(await why(5902)) || undefined, 10_000, "why 5902 names pid 5900's OOM as its own");
      assert.doesNotMatch(await why(5900), /not charged/);
    } finally {
      await ex.stop();
    }
  });
});
