// The evidence every answer carries, audited through the compiled binary: each row is the event
// that made its condition hold (inside the window, the newest), and the lists a scene names say
// when they were cut, so `why`, `ps`, `status`, the landing page and the API agree on a process.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventually, runCli, settled, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

/** Pushes events, each `ago` seconds before now. */
async function push(ex: RunningExporter, events: ({ ago: number } & Record<string, unknown>)[]): Promise<void> {
  const now = Date.now();
  const body = events.map(({ ago, ...e }) => JSON.stringify({ ts: now - ago * 1000, ...e })).join("\n");
  const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
  assert.equal(res.status, 200, await res.text());
}

async function cli(ex: RunningExporter, ...args: string[]): Promise<string> {
  const r = await runCli([...args, "--url", ex.url], { timeoutMs: 10_000 });
  return r.stdout + r.stderr;
}

async function json<T>(ex: RunningExporter, path: string): Promise<T> {
  const res = await fetch(`${ex.url}${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

interface EvidenceEvent {
  event_type: string;
  entity_id: string;
  value: string;
  ts: number;
}
interface Scene {
  scene: string;
  evidence: { path: string; events?: EvidenceEvent[] }[];
}
interface ActiveScene {
  scene: string;
  errors: string[];
  affected_pids: number[];
  affected_pids_cut: boolean;
}

describe("the evidence answers carry, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a late line older than the event kept is not shown as what made a condition hold: the newest, inside the window", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const job = { pid: 100, job_id: "job-a" };
      await push(ex, [
        { ago: 20, event_type: "process.state", entity_id: "host", ...job, value: "start" },
        { ago: 5, event_type: "compute.mem", entity_id: "gpu-00", ...job, value: "98" },
        { ago: 3, event_type: "error.hw", entity_id: "gpu-00", ...job, value: "CUDA_ERROR_OUT_OF_MEMORY" },
      ]);
      await eventually(async () => (await cli(ex, "why", "100")).includes("gpu_oom"), 10_000, "gpu_oom for pid 100");
      // A source's backlog arrives late: lines from before the window, and from before the process started.
      await push(ex, [
        { ago: 400, event_type: "compute.mem", entity_id: "gpu-00", ...job, value: "99" },
        { ago: 500, event_type: "error.hw", entity_id: "gpu-00", ...job, value: "OOM old" },
      ]);
      await settled(async () => {
        const why = await json<{ scenes: Scene[] }>(ex, "/api/v1/why/100");
        const oom = why.scenes.find((s) => s.scene === "gpu_oom");
        assert.ok(oom, JSON.stringify(why));
        const rows = oom.evidence.flatMap((c) => c.events ?? []);
        assert.deepEqual(rows.map((e) => e.value).sort(), ["98", "CUDA_ERROR_OUT_OF_MEMORY"], JSON.stringify(rows));
        for (const e of rows) assert.ok(Date.now() - e.ts < 60_000, `${e.value} at ${new Date(e.ts).toISOString()} is outside the window`);
        const text = await cli(ex, "why", "100");
        assert.match(text, /compute\.mem gpu-00 "98" pid 100/, text);
        assert.doesNotMatch(text, /"99"|OOM old/, text);
        const st = await json<{ scenes: ActiveScene[] }>(ex, "/api/v1/status");
        const scene = st.scenes.find((s) => s.scene === "gpu_oom");
        assert.deepEqual(scene?.errors, ["CUDA_ERROR_OUT_OF_MEMORY on gpu-00"], JSON.stringify(st.scenes));
      });
    } finally {
      await ex.stop();
    }
  });

  it("forty tenants of a GPU that fell off the bus: status, the landing page and the API say the 32 pids are cut, ps shows the scene on every one", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const events: ({ ago: number } & Record<string, unknown>)[] = [];
      for (let i = 0; i < 40; i++) {
        events.push({ ago: 60, event_type: "process.state", entity_id: "host", pid: 1000 + i, job_id: `job-${i}`, value: "start" });
        events.push({ ago: 50, event_type: "compute.util", entity_id: "gpu-00", pid: 1000 + i, job_id: `job-${i}`, value: "90" });
        // An idle GPU each for forty others: gpu_util_low, a process-scoped scene, names 32 too.
        events.push({ ago: 60, event_type: "process.state", entity_id: "host", pid: 2000 + i, job_id: `idle-${i}`, value: "start" });
        events.push({ ago: 50, event_type: "compute.util", entity_id: `gpu-${10 + i}`, pid: 2000 + i, job_id: `idle-${i}`, value: "1" });
      }
      events.push({ ago: 3, event_type: "error.hw", entity_id: "gpu-00", value: "XID_79 GPU has fallen off the bus" });
      await push(ex, events);
      await settled(async () => {
        const st = await json<{ scenes: ActiveScene[] }>(ex, "/api/v1/status");
        for (const name of ["gpu_xid", "gpu_util_low"]) {
          const s = st.scenes.find((x) => x.scene === name);
          assert.ok(s, `${name} active: ${JSON.stringify(st.scenes)}`);
          assert.equal(s.affected_pids.length, 32);
          assert.equal(s.affected_pids_cut, true, `${name}: 40 processes, 32 named`);
        }
        const status = await cli(ex, "status");
        assert.equal(status.match(/the first 32; more are affected/g)?.length, 2, status);
        const landing = await (await fetch(`${ex.url}/`)).text();
        assert.equal(landing.match(/the first 32; more are affected/g)?.length, 2, landing);
        // Every process blocked by the Xid is in gpu_xid, every idle one in gpu_util_low, as `why` says of each.
        const rows = await json<{ pid: number; scenes: string[] }[]>(ex, "/api/v1/processes");
        for (const r of rows) assert.ok(r.scenes.includes(r.pid < 2000 ? "gpu_xid" : "gpu_util_low"), JSON.stringify(r));
        const ps = await cli(ex, "ps");
        assert.match(ps, /^1039 .*XID_79@gpu-00 +gpu_xid/m, ps);
        assert.match(ps, /^2039 .*gpu_util_low/m, ps);
        assert.match(await cli(ex, "why", "1039"), /gpu_xid/);
      });
    } finally {
      await ex.stop();
    }
  });
  it("a scene that only settles: ps marks it settling and why says it named the process and matches it no longer, as status does", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--scene-settle", "30s", "--log-level", "warn"]);
    try {
      const job = { pid: 400, job_id: "job-e" };
      await push(ex, [
        { ago: 30, event_type: "process.state", entity_id: "host", ...job, value: "start" },
        { ago: 20, event_type: "compute.util", entity_id: "gpu-00", ...job, value: "2" },
      ]);
      await eventually(async () => (await cli(ex, "ps")).includes("gpu_util_low"), 10_000, "gpu_util_low in ps");
      await push(ex, [{ ago: 0, event_type: "compute.util", entity_id: "gpu-00", ...job, value: "60" }]);
      await settled(async () => {
        const status = await cli(ex, "status");
        assert.match(status, /gpu_util_low .*settling/, status);
        const ps = await cli(ex, "ps");
        assert.match(ps, /^400 .*gpu_util_low \(settling\)/m, ps);
        const rows = await json<{ pid: number; scenes: string[]; settling_scenes: string[] }[]>(ex, "/api/v1/processes");
        assert.deepEqual(rows.map((r) => [r.pid, r.scenes, r.settling_scenes]), [[400, ["gpu_util_low"], ["gpu_util_low"]]]);
        const why = await cli(ex, "why", "400");
        assert.match(why, /scenes:\n {2}none matching\nsettling [^\n]*\n {2}gpu_util_low \(Accelerator utilisation low\): last found for it at 20\d\d-/, why);
        const answer = await json<{ settling?: { scene: string }[] }>(ex, "/api/v1/why/400");
        assert.deepEqual(answer.settling?.map((s) => s.scene), ["gpu_util_low"]);
      });
    } finally {
      await ex.stop();
    }
  });
  it("six jobs each out of memory on its own GPU: gpu_oom names all six errors, and status calls none of them unexplained", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const events: ({ ago: number } & Record<string, unknown>)[] = [];
      for (let i = 0; i < 6; i++) {
        const job = { pid: 500 + i, job_id: `job-${i}` };
        events.push({ ago: 60, event_type: "process.state", entity_id: "host", ...job, value: "start" });
        events.push({ ago: 10, event_type: "compute.mem", entity_id: `gpu-0${i}`, ...job, value: "98" });
        events.push({ ago: 5, event_type: "error.hw", entity_id: `gpu-0${i}`, ...job, value: "CUDA_ERROR_OUT_OF_MEMORY" });
      }
      await push(ex, events);
      await settled(async () => {
        const st = await json<{ scenes: ActiveScene[]; unexplained_errors: unknown[] }>(ex, "/api/v1/status");
        const oom = st.scenes.find((s) => s.scene === "gpu_oom");
        assert.deepEqual(oom?.affected_pids, [500, 501, 502, 503, 504, 505]);
        assert.deepEqual([...(oom?.errors ?? [])].sort(), [0, 1, 2, 3, 4, 5].map((i) => `CUDA_ERROR_OUT_OF_MEMORY on gpu-0${i}`));
        assert.deepEqual(st.unexplained_errors, [], "every OOM is gpu_oom's");
        const status = await cli(ex, "status");
        assert.doesNotMatch(status, /no active scene explains/, status);
      });
    } finally {
      await ex.stop();
    }
  });
  it("a late reading from before the window does not replace a GPU's newer one: no gpu_util_low on a GPU at 90%, and why shows the 90", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const job = { pid: 600, job_id: "job-f" };
      await push(ex, [
        { ago: 30, event_type: "process.state", entity_id: "host", ...job, value: "start" },
        { ago: 5, event_type: "compute.util", entity_id: "gpu-00", ...job, value: "90" },
      ]);
      await eventually(async () => (await cli(ex, "why", "600")).includes("util=90"), 10_000, "util=90");
      await push(ex, [{ ago: 400, event_type: "compute.util", entity_id: "gpu-00", ...job, value: "2" }]);
      // A later push and a run after it: the late line has been taken in.
      await push(ex, [{ ago: 0, event_type: "compute.mem", entity_id: "gpu-00", ...job, value: "40" }]);
      await settled(async () => {
        const why = await cli(ex, "why", "600");
        assert.match(why, /gpu-00 {2}util=90 mem=40/, why);
        assert.match(why, /scenes:\n {2}none matching/, why);
        assert.doesNotMatch(await cli(ex, "status"), /gpu_util_low/);
      });
    } finally {
      await ex.stop();
    }
  });
  it("a process's own Xid 13 and then its own OOM on one GPU: why and ps name both as its causes, as gpu_xid and gpu_oom name it", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--collectors", "none", "--diagnosis-interval", "100ms", "--log-level", "warn"]);
    try {
      const g = { pid: 700, job_id: "job-g" };
      const h = { pid: 701, job_id: "job-h" };
      await push(ex, [
        { ago: 60, event_type: "process.state", entity_id: "host", ...g, value: "start" },
        { ago: 60, event_type: "process.state", entity_id: "host", ...h, value: "start" },
        { ago: 50, event_type: "compute.util", entity_id: "gpu-00", ...g, value: "90" },
        { ago: 50, event_type: "compute.util", entity_id: "gpu-00", ...h, value: "90" },
        { ago: 10, event_type: "compute.mem", entity_id: "gpu-00", ...g, value: "97" },
        { ago: 5, event_type: "error.hw", entity_id: "gpu-00", ...g, value: "XID_13 Graphics Exception" },
        { ago: 4, event_type: "error.hw", entity_id: "gpu-00", ...g, value: "CUDA_ERROR_OUT_OF_MEMORY" },
      ]);
      await settled(async () => {
        const ps = await cli(ex, "ps", "-o", "wide");
        assert.match(ps, /^700 .*CUDA_ERROR_OUT_OF_MEMORY@gpu-00,XID_13@gpu-00 +gpu_oom,gpu_xid /m, ps);
        assert.match(ps, /^701 .*gpu-00 +- +- +- +\d+s /m, "the co-tenant is blocked by neither: " + ps);
        const why = await json<{ root_causes: { error_type: string }[] }>(ex, "/api/v1/why/700");
        assert.deepEqual(why.root_causes.map((c) => c.error_type), ["CUDA_ERROR_OUT_OF_MEMORY", "XID_13 Graphics Exception"]);
        const other = await json<{ root_causes: unknown[]; scenes: unknown[] }>(ex, "/api/v1/why/701");
        assert.deepEqual([other.root_causes, other.scenes], [[], []]);
      });
    } finally {
      await ex.stop();
    }
  });
});
