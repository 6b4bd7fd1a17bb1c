// `status` as text: the counts line reads as English for one and for many; a source's reason.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatStatus } from "../../src/cli/status.ts";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { Queries, type Status } from "../../src/query/queries.ts";
import { ingestLine } from "../_ingest.ts";

const status = (n: number): Status => ({
  version: "0.1.0",
  ready: true,
  scenes: [],
  unexplained_errors: [],
  unexplained_errors_total: 0,
  sources: [],
  counts: {
    processes: n, active_processes: n, resources: n, errors: n,
    edges: { consumes: n, waits_on: 0, blocked_by: n },
    events_accepted: n, events_rejected: 0, diagnosis_runs: n, rules: n,
  },
});

describe("status text", () => {
  it("says 1 process, 1 resource, 1 error, 1 diagnosis run over 1 rule", () => {
    const out = formatStatus(status(1), "http://127.0.0.1:9091");
    assert.match(out, /^Graph: 1 process \(1 running\), 1 resource, 1 error; edges 1 consumes, 0 waits_on, 1 blocked_by$/m, out);
    assert.match(out, /^Events: 1 accepted, 0 rejected; 1 diagnosis run over 1 rule$/m, out);
  });

  it("says why a source that cannot be started is down, in a last column only then", () => {
    const source = (name: string, state: "up" | "down" | "crash-looping", restarts: number, reason: string | null) => ({ name, state, up: state === "up", restarts, reason, recent_restarts: 0, last_event_age_s: null });
    const st = status(0);
    st.sources = [source("ib.sh", "crash-looping", 4, null), source("myprobe", "down", 0, "cannot start: /nonexistent/myprobe: no such file")];
    const out = formatStatus(st, "http://127.0.0.1:9091");
    assert.match(out, /^  NAME +STATE +RESTARTS +LAST EVENT +WHY$/m, out);
    assert.match(out, /^  myprobe +down +0 +never +cannot start: \/nonexistent\/myprobe: no such file$/m, out);
    assert.match(out, /^  ib\.sh +crash-looping +4 +never$/m, out);
    st.sources = [source("ib.sh", "up", 0, null)];
    assert.match(formatStatus(st, "http://127.0.0.1:9091"), /^  NAME +STATE +RESTARTS +LAST EVENT$/m);
  });

  it("keeps the plural for none and for many", () => {
    const out = formatStatus(status(0), "http://127.0.0.1:9091") + formatStatus(status(2), "http://127.0.0.1:9091");
    assert.match(out, /^Graph: 0 processes \(0 running\), 0 resources, 0 errors;/m, out);
    assert.match(out, /^Events: 2 accepted, 0 rejected; 2 diagnosis runs over 2 rules$/m, out);
  });
});

describe("status and the errors no scene explains", () => {
  it("an NFS server not responding is listed, not hidden behind the Xid scene or 'No scene is active'", async () => {
    const T0 = 1_732_500_000_000;
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const line = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null = null) => JSON.stringify({ ts, event_type, entity_id, pid, job_id: pid === null ? null : `job-${pid}`, value });
    await ingestLine(ex, line(T0, "process.state", "host", "start", 7));
    await ingestLine(ex, line(T0 + 1, "compute.util", "gpu-01", "90", 7));
    // What builtin:kmsg emits for "nfs: server nfs01 not responding, still trying": no default rule reads it.
    await ingestLine(ex, line(T0 + 2, "error.net", "nfs-nfs01", "NFS_NOT_RESPONDING nfs: server nfs01 not responding, still trying"));
    const q = new Queries(ex, "test");
    ex.engine.runNow("auto");
    const quiet = q.status();
    assert.deepEqual(quiet.scenes, []);
    assert.deepEqual(quiet.unexplained_errors.map((x) => [x.entity, x.since]), [["nfs-nfs01", new Date(T0 + 2).toISOString()]]);
    const text = formatStatus(quiet, "http://127.0.0.1:9091");
    assert.match(text, /^No scene is active\.$/m);
    assert.match(text, /^1 error no active scene explains:\n  NFS_NOT_RESPONDING nfs: server nfs01 not responding, still trying on nfs-nfs01 \(since 2024-11-25T02:00:00\.002Z\)$/m);
    // An Xid that gpu_xid explains is not listed; the NFS error still is.
    await ingestLine(ex, line(T0 + 3, "error.hw", "gpu-01", "XID_79"));
    ex.engine.runNow("auto");
    const both = q.status();
    assert.deepEqual(both.scenes.map((x) => x.scene), ["gpu_xid"]);
    assert.deepEqual(both.unexplained_errors.map((x) => x.entity), ["nfs-nfs01"]);
    await ex.stop();
  });

  it("says how many there are when it lists only the newest 8, and when a scene names more errors than it lists", async () => {
    const T0 = 1_732_500_000_000;
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const line = (ts: number, event_type: string, entity_id: string, value: string, pid: number | null = null) => JSON.stringify({ ts, event_type, entity_id, pid, job_id: pid === null ? null : `job-${pid}`, value });
    // A first Xid on one GPU: one error, nothing cut.
    await ingestLine(ex, line(T0 - 10, "process.state", "host", "start", 6));
    await ingestLine(ex, line(T0 - 9, "compute.util", "gpu-a", "90", 6));
    await ingestLine(ex, line(T0 - 8, "error.hw", "gpu-a", "XID_79"));
    assert.equal(ex.engine.runNow("auto").causes_cut, false);
    assert.equal(new Queries(ex, "test").status().scenes[0].errors_cut, false);
    for (let i = 0; i < 11; i++) await ingestLine(ex, line(T0 + i, "error.net", `nfs-nfs${String(i).padStart(2, "0")}`, "NFS_NOT_RESPONDING"));
    const q = new Queries(ex, "test");
    ex.engine.runNow("auto");
    const st = q.status();
    assert.equal(st.unexplained_errors.length, 8);
    assert.equal(st.unexplained_errors_total, 11);
    assert.equal(st.unexplained_errors[0].entity, "nfs-nfs10", "newest first");
    const text = formatStatus(st, "http://127.0.0.1:9091");
    assert.match(text, /^11 errors no active scene explains \(the newest 8; /m, text);
    // Eight listed of eight: no "newest 8" that suggests more.
    const eight = { ...st, unexplained_errors_total: 8 };
    assert.match(formatStatus(eight, "http://127.0.0.1:9091"), /^8 errors no active scene explains:$/m);
    // Ten GPUs fall off the bus under one process: the scene lists 8 of its 10 errors and says 10.
    await ingestLine(ex, line(T0 + 20, "process.state", "host", "start", 7));
    for (let i = 0; i < 10; i++) await ingestLine(ex, line(T0 + 21 + i, "compute.util", `gpu-${i}`, "90", 7));
    for (let i = 0; i < 10; i++) await ingestLine(ex, line(T0 + 40 + i, "error.hw", `gpu-${i}`, "XID_79"));
    const run = ex.engine.runNow("auto");
    // The run names 16 causes at most (8 errors and their 8 events here): it says it left some out.
    assert.equal(run.scene, "gpu_xid");
    assert.equal(run.causes.length, 16);
    assert.equal(run.causes_cut, true);
    const xid = q.status().scenes.find((x) => x.scene === "gpu_xid");
    assert.ok(xid !== undefined);
    assert.equal(xid.errors.length, 8);
    assert.equal(xid.errors_cut, true);
    await ex.stop();
  });
});
