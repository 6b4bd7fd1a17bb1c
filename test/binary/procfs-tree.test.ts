// builtin:procfs in the compiled binary on this machine's /proc: two real process trees, each
// with one task stuck in vfork's uninterruptible wait (test/fixtures/proc-tree/stuck_tree.py) a
// child's thread under one, a grandchild under the other. Each root waits on the disk of the
// file its stuck task holds (`why`), and the event says which task it was.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startExporter } from "../_helpers.ts";
import { fileOnDisk, releaseTrees, stuckTree, waitForD, type StuckTree } from "../sources/_stuck-tree-kit.ts";

const BINARY = process.env.XCTL_BINARY;
const PYTHON = spawnSync("python3", ["--version"]).status === 0;
const DISK = fileOnDisk();
const skip = !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PYTHON ? "no python3" : DISK === null ? "no file on a block device here" : false;

describe("stuck descendants through the binary, on this machine's /proc", { skip }, () => {
  it("says each root waits on the disk its child's thread or grandchild is stuck on, naming that task", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-stuck-"));
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const trees: StuckTree[] = [stuckTree(fifo, DISK!.file, ["c", "t", "D"]), stuckTree(fifo, DISK!.file, ["c", "c", "D"])];
    const ex = await startExporter(["--probe", "builtin:procfs?interval=300ms&dwait=600ms", "--collectors", "none", "--path.procfs", "/proc", "--path.sysfs", "/sys"]);
    const ac = new AbortController();
    try {
      const [child, grandchild] = await Promise.all(trees.map((t) => t.stuck));
      await waitForD([child, grandchild]);
      // Watch the accepted storage events, then tell the exporter about the two roots.
      const stream = await fetch(`${ex.url}/api/v1/events/stream?type=storage.qdepth`, { signal: ac.signal });
      assert.equal(stream.status, 200);
      const body = trees.map((t) => JSON.stringify({ event_type: "process.state", entity_id: `pid-${t.root}`, pid: t.root, value: "start" })).join("\n");
      const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
      assert.equal(((await res.json()) as { accepted: number }).accepted, 2);
      const want = new Map([
        [trees[0].root, new RegExp(`^IO_WAIT D for \\d+s \\(thread ${child.tid} of child ${child.pid}\\)$`)],
        [trees[1].root, new RegExp(`^IO_WAIT D for \\d+s \\(grandchild ${grandchild.pid}\\)$`)],
      ]);
      const seen = new Map<number, { entity_id: string; value: string }>();
      const reader = stream.body!.getReader();
      const dec = new TextDecoder();
      let text = "";
      const deadline = Date.now() + 15_000;
      while (seen.size < want.size && Date.now() < deadline) {
        const { done, value } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
        for (const line of text.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const ev = JSON.parse(line.slice(6)) as { pid: number; entity_id: string; value: string };
          if (want.has(ev.pid)) seen.set(ev.pid, ev);
        }
      }
      for (const [root, re] of want) {
        const ev = seen.get(root);
        assert.ok(ev, `no storage.qdepth for ${root} within 15 s: ${text.slice(-2000)}\n${ex.stderr()}`);
        assert.equal(ev.entity_id, DISK!.disk);
        assert.match(ev.value, re);
      }
      // `why` lists the disk for each root with its own stuck task (not the other root's, which
      // the disk's last reading is); the roots themselves run on (state running).
      for (const t of trees) {
        const own = want.get(t.root)!.source.replace(/^\^|\$$/g, "");
        const why = await eventually(() => {
          const w = execFileSync(BINARY!, ["why", String(t.root), "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
          return new RegExp(`waits on:\\n\\s+${DISK!.disk} .*qdepth=${own}`).test(w) ? w : undefined;
        }, 10_000, `${t.root} waits on ${DISK!.disk} through its own task`);
        assert.match(why, new RegExp(`^pid ${t.root}\\s+job \\S+\\s+state running$`, "m"), why);
      }
      assert.doesNotMatch(ex.stderr(), /round failed|TypeError|ERROR/i);
    } finally {
      ac.abort();
      await ex.stop();
      await releaseTrees(fifo, trees, dir);
    }
  });
});
