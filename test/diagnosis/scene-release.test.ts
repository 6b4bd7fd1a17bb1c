// A process-scoped scene stops naming a process once its wait is over or it has left the graph,
// though the rule still holds host-wide for the others' sake (another process waits elsewhere,
// the slow disk stays slow): nothing that rule reads flips then, and the last run kept naming
// the process, and the scene stayed active, until some unrelated change brought a run.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ev, scenario, start, T0, until } from "./_scenario.ts";

/** A slow vda with I/O queued, a fast storage-01; pid 1 in D on vda, pid 2 in D on storage-01 (as builtin:diskstats and builtin:procfs say it). */
function host() {
  const s = scenario({ liveClock: true, diagnosisIntervalMs: 10 });
  s.send(start(1));
  s.send(start(2));
  s.send(ev("storage.iops", "vda", "20"));
  s.send(ev("storage.qdepth", "vda", "9"));
  s.send(ev("storage.iops", "storage-01", "5000"));
  s.send(ev("storage.qdepth", "storage-01", "3"));
  s.send(ev("storage.qdepth", "vda", "IO_WAIT D for 45s", 1));
  s.send(ev("storage.qdepth", "storage-01", "IO_WAIT D for 30s", 2));
  return s;
}

const slowPids = (s: ReturnType<typeof scenario>) => s.ex.engine.results()[0]?.matches.find((m) => m.scene === "storage_slow")?.affected_pids;

describe("scene release", () => {
  it("storage_slow stops naming a process whose wait ended (procfs's `D ended after Ns`) while another process waits on storage", async () => {
    const s = host();
    const st = s.ex.diagnosis;
    try {
      await until(() => st.active.has("storage_slow") && slowPids(s)?.join() === "1", "storage_slow for pid 1");
      s.send(ev("storage.qdepth", "vda", "D ended after 60s", 1));
      assert.equal(s.ex.graph.processes.get(1)?.waitsOn.size, 0, "its wait is over");
      await until(() => !st.active.has("storage_slow"), "storage_slow to clear (--scene-settle 0)", 2000);
      assert.equal(slowPids(s), undefined);
    } finally {
      await s.ex.stop();
    }
  });

  it("storage_slow stops naming a process that exited and left the graph while another process waits on storage", async () => {
    const s = host();
    const st = s.ex.diagnosis;
    try {
      await until(() => st.active.has("storage_slow") && slowPids(s)?.join() === "1", "storage_slow for pid 1");
      s.send(ev("process.state", "pid-1", "exit", 1));
      const runs = st.runs;
      await until(() => st.runs > runs, "the run after the exit");
      // A reading two seconds later moves the graph's clock: the cleanup removes the ended process.
      s.send(ev("compute.util", "gpu-00", "50"), s.now() - T0 + 2000);
      await until(() => !s.ex.graph.processes.has(1), "pid 1 to leave the graph");
      await until(() => !st.active.has("storage_slow"), "storage_slow to clear (--scene-settle 0)", 2000);
      assert.equal(slowPids(s), undefined);
    } finally {
      await s.ex.stop();
    }
  });
});
