// Command probes as real child processes: restart with backoff, bad lines among good ones,
// commands that cannot run, an upstream Python probe, backpressure, and reaping on stop.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createConsola } from "consola";
import type { Exporter } from "../../src/exporter.ts";
import { createProbe } from "../../src/sources/index.ts";
import { CommandProbe } from "../../src/sources/probe.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { eventually, sleep } from "../_helpers.ts";
import { alive, FAST, PROBES, recordUp, rejected, testExporter } from "./_probe-kit.ts";
import { ingestLine } from "../_ingest.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "xctl-probe-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function started(ex: Exporter): Exporter {
  ex.start();
  cleanups.push(() => ex.stop());
  return ex;
}

describe("CommandProbe", () => {
  it("counts the events of a run that crashes and of the run that replaces it", async () => {
    const { ex, logs } = testExporter();
    const probe = new CommandProbe([join(PROBES, "flaky.sh"), join(tmp(), "state")], { backoff: FAST });
    assert.equal(probe.name, "flaky.sh");
    ex.addSource(probe);
    const state = ex.probes.get("flaky.sh")!;
    const flips = recordUp(state);
    started(ex);

    await eventually(() => ex.ingest.accepted === 4 && state.up, 5000, "both runs' events");
    assert.equal(state.restarts, 1);
    assert.deepEqual(flips, [true, false, true]);
    assert.deepEqual([...ex.graph.resources.keys()].sort(), ["gpu-00", "gpu-01", "gpu-02"]);
    assert.deepEqual([...ex.graph.processes.keys()].sort(), [101, 102]);
    assert.ok(state.lastEventMs > 0);

    const mine = logs.filter((l) => l.tag === "flaky.sh");
    assert.ok(mine.some((l) => l.type === "warn" && l.msg === "stderr: flaky: crashing on purpose"), JSON.stringify(mine));
    assert.ok(mine.some((l) => l.msg.includes("exited with status 3")), JSON.stringify(mine));

    const page = await ex.metrics.registry.metrics();
    assert.match(page, /^xctl_probe_up\{probe="flaky.sh"\} 1$/m);
    assert.match(page, /^xctl_probe_restarts_total\{probe="flaky.sh"\} 1$/m);
    assert.match(page, /^xctl_events_total 4$/m);
  });

  it("keeps every valid line around garbage, an over-long line and an unknown type", async () => {
    const { ex } = testExporter({ maxLineBytes: 256 });
    const probe = new CommandProbe([join(PROBES, "garbage.sh")], { backoff: FAST });
    ex.addSource(probe);
    started(ex);
    await eventually(() => ex.ingest.accepted === 2 && rejected(ex, "unknown_event_type") === 1, 5000, "lines read");
    assert.equal(rejected(ex, "invalid_json"), 1);
    assert.equal(rejected(ex, "too_long"), 1);
    assert.equal(ex.ingest.rejected(), 3);
    // The last line has no newline: it counts once the stream ends.
    await probe.stop();
    assert.equal(ex.ingest.accepted, 3);
    assert.ok(ex.graph.resources.has("gpu-02"));
  });

  it("marks a command that cannot run down, says why once, and leaves the exporter working", async () => {
    const dir = tmp();
    const noexec = join(dir, "noexec.sh");
    writeFileSync(noexec, "#!/bin/sh\necho '{}'\n");
    chmodSync(noexec, 0o644);
    const badInterp = join(dir, "bad-interp.sh");
    writeFileSync(badInterp, "#!/nonexistent/interpreter\n");
    chmodSync(badInterp, 0o755);
    const { ex, logs } = testExporter();
    const cases = [
      { argv: ["/nonexistent/xctl-probe"], name: "xctl-probe", says: "no such file" },
      { argv: ["xctl-no-such-command"], name: "xctl-no-such-command", says: "not found on PATH" },
      { argv: [noexec], name: "noexec.sh", says: "not executable" },
      { argv: [badInterp], name: "bad-interp.sh", says: "interpreter" },
    ];
    for (const c of cases) ex.addSource(new CommandProbe(c.argv, { backoff: FAST }));
    started(ex);
    // Several retries each, so "once" means something.
    await eventually(() => cases.every((c) => ex.probes.get(c.name)!.restarts >= 3), 5000, "retries");
    for (const c of cases) {
      assert.equal(ex.probes.get(c.name)!.up, false, c.name);
      const errors = logs.filter((l) => l.tag === c.name && l.type === "error");
      assert.equal(errors.length, 1, `${c.name}: ${JSON.stringify(errors)}`);
      assert.ok(errors[0].msg.includes(c.says), errors[0].msg);
      assert.ok(errors[0].msg.includes("probe down"), errors[0].msg);
    }
    assert.equal(await ingestLine(ex, '{"event_type":"compute.util","entity_id":"gpu-00","value":"5"}', "test"), undefined);
    assert.equal(ex.ingest.accepted, 1);
    assert.equal(ex.notReadyReason, null);
  });

  it("runs a probe written for upstream xctl (Python, null fields, flush per line) unchanged", async (t) => {
    const python = (process.env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, "python3")));
    if (!python) return t.skip("python3 is not installed");
    const { ex } = testExporter();
    const source = createProbe(`python3 '${join(PROBES, "upstream_probe.py")}'`);
    assert.equal(source.name, "upstream_probe.py");
    ex.addSource(source);
    started(ex);
    await eventually(() => ex.ingest.accepted === 5, 8000, "five events");
    assert.equal(ex.ingest.rejected(), 0);
    assert.equal(ex.graph.resources.get("gpu-03")?.meta.mem, "72");
    assert.equal(ex.graph.errors.get("gpu-03")?.errorType, "XID_79");
    assert.equal(ex.probes.get("upstream_probe.py")!.up, true);
  });

  it("runs the probe without the exporter's ingest token in its environment", async () => {
    const before = process.env.XCTL_INGEST_TOKEN;
    process.env.XCTL_INGEST_TOKEN = "s3cret";
    cleanups.push(() => {
      if (before === undefined) delete process.env.XCTL_INGEST_TOKEN;
      else process.env.XCTL_INGEST_TOKEN = before;
    });
    const { ex } = testExporter();
    const script = `printf '{"event_type":"compute.util","entity_id":"token-%s-%s","value":"1"}\\n' "\${XCTL_INGEST_TOKEN:-unset}" "\${PATH:+path}"`;
    ex.addSource(new CommandProbe(["sh", "-c", script], { backoff: { initialMs: 60_000 } }));
    started(ex);
    await eventually(() => ex.ingest.accepted === 1, 5000, "one event");
    assert.deepEqual([...ex.graph.resources.keys()], ["token-unset-path"]);
  });

  it("stops reading while the ingest queue is full and reads on when it drains", async () => {
    const bytes = 1_000_000;
    let gate!: () => void;
    let pushes = 0;
    let got = 0;
    let ended = 0;
    const ctx: SourceContext = {
      push(chunk) {
        pushes++;
        got += chunk.length;
        return pushes === 1 ? new Promise<void>((r) => (gate = r)) : undefined;
      },
      end: () => void ended++,
      processes: () => [],
      emit() {},
      setUp() {},
      restarted() {},
      log: createConsola({ level: -999 }),
    };
    const probe = new CommandProbe(["sh", "-c", `yes xxxxxxxxxxxxxxxxxxx | head -c ${bytes}`], { backoff: { initialMs: 60_000 } });
    probe.start(ctx);
    cleanups.push(() => probe.stop());
    await eventually(() => pushes === 1, 5000, "first chunk");
    await sleep(100);
    // Paused: nothing more was read, and the probe is still blocked writing the rest.
    assert.equal(pushes, 1);
    assert.ok(got < bytes);
    assert.notEqual(probe.pid, undefined);
    gate();
    await eventually(() => ended === 1, 5000, "the rest");
    assert.equal(got, bytes);
  });

  it("stop() kills the probe and what it started, reaps it, and restarts nothing", async () => {
    const pidFile = join(tmp(), "child.pid");
    const { ex } = testExporter();
    const probe = new CommandProbe([join(PROBES, "forks.sh"), pidFile], { backoff: FAST });
    ex.addSource(probe);
    ex.start();
    await eventually(() => ex.ingest.accepted === 1 && existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "", 5000, "probe up");
    const pid = probe.pid!;
    const grandchild = Number(readFileSync(pidFile, "utf8").trim());
    assert.ok(alive(pid) && alive(grandchild));
    await ex.stop();
    assert.equal(alive(pid), false, "probe reaped");
    await eventually(() => !alive(grandchild), 2000, "the probe's child gone");
    assert.equal(ex.probes.get("forks.sh")!.up, false);
    await sleep(FAST.initialMs * 3);
    assert.equal(probe.pid, undefined);
    assert.equal(ex.probes.get("forks.sh")!.restarts, 0);
  });
});
