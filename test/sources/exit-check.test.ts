// A device tool's "no longer listed" exits checked against a /proc tree in the kernel's format.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCheck, type ToolEvent } from "../../src/sources/exit-check.ts";

const KTHREADD = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 26 0 0 18446744073709551615 0\n";
const stat = (pid: number, state: string) => `${pid} (python3 train.py) ${state} 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 8 0 2318844 0\n`;

const exit = (pid: number, ts = 1): ToolEvent => ({ ts, event_type: "process.state", entity_id: "gpu-00", pid, value: "exit" } as ToolEvent);
const util = (pid: number, ts = 1): ToolEvent => ({ ts, event_type: "compute.util", entity_id: "gpu-00", pid, value: "90" } as ToolEvent);
const pids = (evs: ToolEvent[]) => evs.map((e) => `${e.event_type} ${e.pid}@${e.ts}`);

describe("ExitCheck", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  /** A /proc tree: pid 2 is kthreadd unless `host` is false; `procs` maps pid to its state letter. */
  function proc(procs: Record<number, string>, host = true): { root: string; set(pid: number, state: string | null): void } {
    const root = mkdtempSync(join(tmpdir(), "xctl-exitcheck-"));
    dirs.push(root);
    const set = (pid: number, state: string | null) => {
      if (state === null) return rmSync(join(root, String(pid)), { recursive: true, force: true });
      mkdirSync(join(root, String(pid)), { recursive: true });
      writeFileSync(join(root, String(pid), "stat"), stat(pid, state));
    };
    if (host) {
      mkdirSync(join(root, "2"));
      writeFileSync(join(root, "2", "stat"), KTHREADD);
    } else set(2, "S");
    for (const [pid, s] of Object.entries(procs)) set(Number(pid), s);
    return { root, set };
  }

  it("holds back the exit of a pid that still runs, and says it once /proc no longer has it", async () => {
    const t = proc({ 4242: "D", 5151: "Z" });
    const c = new ExitCheck(t.root);
    // 4242 left the list but hangs in the driver (D); 5151 is a zombie; 6262 is gone.
    assert.deepEqual(pids(await c.check([exit(4242), exit(5151), exit(6262), util(7070)], 10)), ["process.state 5151@1", "process.state 6262@1", "compute.util 7070@1"]);
    assert.equal(c.watched, 1);
    assert.deepEqual(await c.check([], 20), [], "still running: nothing to say");
    t.set(4242, null);
    assert.deepEqual(pids(await c.check([], 30)), ["process.state 4242@30"], "its exit, stamped when it was seen gone");
    assert.equal(c.watched, 0);
    assert.deepEqual(await c.check([], 40), [], "said once");
  });

  it("a zombie left behind is an exit; a pid listed again is watched no more", async () => {
    const t = proc({ 4242: "S", 4343: "R" });
    const c = new ExitCheck(t.root);
    assert.deepEqual(await c.check([exit(4242), exit(4343)], 10), []);
    t.set(4242, "Z");
    assert.deepEqual(pids(await c.check([util(4343)], 20)), ["compute.util 4343@1", "process.state 4242@20"]);
    t.set(4343, null);
    assert.deepEqual(await c.check([], 30), [], "4343 came back to a GPU: the tool says its next exit");
    assert.equal(c.watched, 0);
  });

  it("takes the tool's word without the host's /proc: none given, another pid namespace, or past the bound", async () => {
    assert.deepEqual(pids(await new ExitCheck(undefined).check([exit(4242)], 10)), ["process.state 4242@1"]);
    const container = proc({ 4242: "S" }, false);
    assert.deepEqual(pids(await new ExitCheck(container.root).check([exit(4242)], 10)), ["process.state 4242@1"], "pid 2 is not kthreadd: 4242 there is another process");
    const t = proc({ 4242: "S", 4343: "S" });
    const bounded = new ExitCheck(t.root, 1);
    assert.deepEqual(pids(await bounded.check([exit(4242), exit(4343)], 10)), ["process.state 4343@1"]);
    assert.equal(bounded.watched, 1);
  });
});
