// builtin:kmsg reads the ring from its start (SPEC §9), so an exporter started (or restarted)
// after a fault reads it again. A device fault still inside --error-window is news; one older
// than the window is over, and must not come back as an error node and an active scene (the
// graph's clock follows event time, so a stale fault as the newest event kept its node alive).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, scrape, type RunningExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;

interface Graph {
  nodes: { id: string; type: string }[];
}

describe("builtin:kmsg backlog at start, in the binary", { skip: BINARY && PATH_FLAGS ? false : "XCTL_BINARY not set, or a binary without --path.procfs" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-backlog-"));
  const btime = Math.floor(Date.now() / 1000) - 7200;
  const usecAgo = (minutes: number) => (Date.now() - minutes * 60_000 - btime * 1000) * 1000;
  const file = join(dir, "kmsg");
  // A boot record, then an Xid 79 ten minutes ago: the newest fault in the ring is stale.
  writeFileSync(
    file,
    `6,1,1000,-;nvidia 0000:3b:00.0: enabling device (0000 -> 0002)\n` +
      `4,10,${usecAgo(10)},-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n` +
      ` SUBSYSTEM=pci\n DEVICE=+pci:0000:3b:00.0\n`,
  );
  const running: RunningExporter[] = [];
  after(async () => {
    await Promise.all(running.map((ex) => ex.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const errorNodes = async (ex: RunningExporter) => {
    const g = (await (await fetch(`${ex.url}/api/v1/graph`)).json()) as Graph;
    return g.nodes.filter((n) => n.type === "error").map((n) => n.id).sort();
  };

  it("with the default 5m window: the 10-minute-old Xid is read and counted, but makes no error node and no gpu_xid", async () => {
    const ex = await startKmsgExporter(file, { procfs: join(dir, "proc-a"), btime });
    running.push(ex);
    await eventually(async () => (await scrape(ex.url)).get('xctl_kmsg_records_total{kind="xid"}') === 1, 10_000, "the Xid record read");
    assert.deepEqual(await errorNodes(ex), []);
    // A run now reads the same state the automatic ones do.
    const run = (await (await fetch(`${ex.url}/api/v1/diagnoses`, { method: "POST" })).json()) as { scene: string | null };
    assert.equal(run.scene, null);
    assert.equal((await scrape(ex.url)).get('xctl_scene_activations_total{scene="gpu_xid"}'), 0);
  });

  it("with --error-window 15m the same Xid is inside the window: gpu_xid is active", async () => {
    const ex = await startKmsgExporter(file, { procfs: join(dir, "proc-b"), btime, extra: ["--error-window", "15m"] });
    running.push(ex);
    await eventually(async () => (await scrape(ex.url)).get('xctl_scene_active{scene="gpu_xid"}') === 1, 10_000, "gpu_xid active");
    // The stand-in nvidia-smi on PATH names the GPU at 3b:00 gpu-01.
    assert.deepEqual(await errorNodes(ex), ["error-gpu-01"]);
  });
});
