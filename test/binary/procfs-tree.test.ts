// builtin:procfs in the compiled binary on this machine's /proc: two real process trees, each
// with one task stuck in vfork's uninterruptible wait (test/fixtures/proc-tree/stuck_tree.py), a
// child's thread under one, a grandchild under the other, and a file of each tree open on a disk.
// A vfork wait (wchan kernel_clone) is no storage wait: the binary names no disk for either root
// (it did: each root was said to wait on the disk of that open file), while a dead pid pushed
// beside them shows the rounds ran.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, sleep, startExporter } from "../_helpers.ts";
import { fileOnDisk, releaseTrees, stuckTree, waitForD, type StuckTree } from "../sources/_stuck-tree-kit.ts";

const BINARY = process.env.XCTL_BINARY;
const PYTHON = spawnSync("python3", ["--version"]).status === 0;
const DISK = fileOnDisk();
const skip = !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PYTHON ? "no python3" : DISK === null ? "no file on a block device here" : false;

describe("stuck descendants through the binary, on this machine's /proc", { skip }, () => {
  it("names no disk for roots whose child's thread or grandchild waits in vfork, though they hold a file on one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-stuck-"));
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const trees: StuckTree[] = [stuckTree(fifo, DISK!.file, ["c", "t", "D"]), stuckTree(fifo, DISK!.file, ["c", "c", "D"])];
    const ex = await startExporter(["--probe", "builtin:procfs?interval=300ms&dwait=600ms", "--collectors", "none", "--path.procfs", "/proc", "--path.sysfs", "/sys"]);
    const ac = new AbortController();
    try {
      const [child, grandchild] = await Promise.all(trees.map((t) => t.stuck));
      await waitForD([child, grandchild]);
      // A pid that has exited: its `exit` says a round ran after the push.
      const gone = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim();
      const stream = await fetch(`${ex.url}/api/v1/events/stream?type=storage.qdepth,process.state`, { signal: ac.signal });
      assert.equal(stream.status, 200);
      const pids = [...trees.map((t) => t.root), Number(gone)];
      const body = pids.map((pid) => JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, value: "start" })).join("\n");
      const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
      assert.equal(((await res.json()) as { accepted: number }).accepted, 3);
      const reader = stream.body!.getReader();
      const dec = new TextDecoder();
      let text = "";
      const events = () =>
        text
          .split("\n")
          .filter((l) => l.startsWith("data: "))
          .map((l) => JSON.parse(l.slice(6)) as { event_type: string; pid: number; entity_id: string; value: string });
      const deadline = Date.now() + 15_000;
      while (!events().some((e) => e.pid === Number(gone) && e.value === "exit") && Date.now() < deadline) {
        const { done, value } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
      assert.ok(events().some((e) => e.pid === Number(gone) && e.value === "exit"), `no round within 15 s: ${ex.stderr()}`);
      // The stuck tasks are past dwait (600 ms) by now or within the next rounds: give them three.
      const more = (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += dec.decode(value, { stream: true });
        }
      })().catch(() => {});
      await sleep(1500);
      ac.abort();
      await more;
      const roots = new Set(trees.map((t) => t.root));
      assert.deepEqual(events().filter((e) => roots.has(e.pid) && e.event_type === "storage.qdepth"), []);
      for (const t of trees) {
        const why = await eventually(() => {
          const w = execFileSync(BINARY!, ["why", String(t.root), "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
          return /^pid \d+/.test(w) ? w : undefined;
        }, 10_000, `why ${t.root}`);
        assert.match(why, new RegExp(`^pid ${t.root}\\s+job \\S+\\s+state running$`, "m"), why);
        assert.doesNotMatch(why, new RegExp(`waits on:\\n\\s+${DISK!.disk}`), why);
      }
      assert.doesNotMatch(ex.stderr(), /round failed|TypeError|ERROR/i);
    } finally {
      ac.abort();
      await ex.stop();
      await releaseTrees(fifo, trees, dir);
    }
  });
});
