// Command probes as real child processes: restart with backoff, bad lines among good ones,
// commands that cannot be started (down with the reason, not restarts), an upstream Python probe, backpressure, and reaping on stop.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createConsola } from "consola";
import type { Exporter } from "../../src/exporter.ts";
import { createProbe } from "../../src/sources/index.ts";
import { CommandProbe } from "../../src/sources/probe.ts";
import type { SourceContext } from "../../src/sources/source.ts";
import { eventually, ROOT, sleep } from "../_helpers.ts";
import { SourceTracker } from "../../src/query/sources.ts";
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

  it("a program that cannot be started is down with the reason, retried, never a restart, said once", async () => {
    // Retried with the backoff all the same: a program installed later is picked up.
    const dir = tmp();
    const noexec = join(dir, "noexec.sh");
    writeFileSync(noexec, "#!/bin/sh\necho '{}'\n");
    chmodSync(noexec, 0o644);
    const badInterp = join(dir, "bad-interp.sh");
    writeFileSync(badInterp, "#!/nonexistent/interpreter\n");
    chmodSync(badInterp, 0o755);
    // `#!/usr/bin/env NAME` with NAME missing: env runs, and exits 127 saying so on stderr.
    const envInterp = join(dir, "env-interp.py");
    writeFileSync(envInterp, "#!/usr/bin/env xctl-no-such-interpreter\nprint('{}')\n");
    chmodSync(envInterp, 0o755);
    const folder = join(dir, "a-folder");
    mkdirSync(folder);
    const { ex, logs } = testExporter();
    const cases = [
      { argv: ["/nonexistent/xctl-probe"], name: "xctl-probe", says: "cannot start: /nonexistent/xctl-probe: no such file" },
      { argv: ["xctl-no-such-command"], name: "xctl-no-such-command", says: "cannot start: xctl-no-such-command: not found on PATH" },
      { argv: [noexec], name: "noexec.sh", says: `cannot start: ${noexec}: not executable` },
      { argv: [folder], name: "a-folder", says: `cannot start: ${folder}: is a directory` },
      { argv: [badInterp], name: "bad-interp.sh", says: `cannot start: ${badInterp}: its #! interpreter /nonexistent/interpreter was not found` },
      { argv: [envInterp], name: "env-interp.py", says: `cannot start: ${envInterp}: `, also: ["env: ", "xctl-no-such-interpreter", "(exit status 127)"] },
      { argv: ["sh", "-c", "xctl-no-such-command --flag"], name: "sh", says: "cannot start: sh: sh: ", also: ["xctl-no-such-command", "not found", "(exit status 127)"] },
    ];
    const probes = cases.map((c) => new CommandProbe(c.argv, { backoff: FAST }));
    for (const p of probes) ex.addSource(p);
    // Born a second ago, so that its first sample already sees the restarts since then.
    const tracker = new SourceTracker(ex.probes, Date.now() - 1000);
    started(ex);
    // Several tries each, so "once" and "no restart" mean something.
    await eventually(() => probes.every((p) => p.attempts >= 4), 8000, "retries");
    const status = new Map(tracker.list().map((s) => [s.name, s]));
    for (const c of cases) {
      const st = status.get(c.name)!;
      assert.equal(st.state, "down", c.name);
      assert.equal(st.restarts, 0, c.name);
      assert.equal(st.up, false, c.name);
      assert.ok(st.reason?.startsWith(c.says), `${c.name}: ${st.reason}`);
      for (const part of c.also ?? []) assert.ok(st.reason!.includes(part), `${c.name}: ${st.reason}`);
      const mine = logs.filter((l) => l.tag === c.name);
      const errors = mine.filter((l) => l.type === "error");
      assert.equal(errors.length, 1, `${c.name}: ${JSON.stringify(mine)}`);
      assert.ok(errors[0].msg.startsWith(st.reason!), errors[0].msg);
      assert.ok(errors[0].msg.includes("probe down"), errors[0].msg);
      // The launcher's own message is in the reason, not repeated as a stderr line per retry.
      assert.deepEqual(mine.filter((l) => l.msg.startsWith("stderr:") || l.msg.includes("exited with status")), [], c.name);
    }
    const page = await ex.metrics.registry.metrics();
    assert.match(page, /^xctl_probe_restarts_total\{probe="xctl-probe"\} 0$/m);
    assert.match(page, /^xctl_probe_up\{probe="xctl-probe"\} 0$/m);
    assert.equal(await ingestLine(ex, '{"event_type":"compute.util","entity_id":"gpu-00","value":"5"}', "test"), undefined);
    assert.equal(ex.ingest.accepted, 1);
    assert.equal(ex.notReadyReason, null);
  });

  it("a retry through a launcher that fails again stays down with the reason while it runs", async () => {
    // A shell that takes a while to say it cannot run its command (a slow NFS PATH lookup);
    // once the tool is there, it runs quietly.
    const tool = join(tmp(), "xctl-slow-tool");
    const slow = `if [ -e '${tool}' ]; then exec sleep 30; fi; echo "sh: 1: xctl-slow-tool: not found" >&2; sleep 0.3; exit 127`;
    const { ex, logs } = testExporter();
    const probe = new CommandProbe(["sh", "-c", slow], { backoff: FAST });
    ex.addSource(probe);
    const state = ex.probes.get("sh")!;
    started(ex);
    await eventually(() => probe.attempts >= 2 && probe.pid !== undefined, 5000, "a retry running");
    const tracker = new SourceTracker(ex.probes);
    const st = tracker.list()[0];
    assert.deepEqual([st.state, st.up, st.restarts], ["down", false, 0]);
    assert.equal(st.reason, "cannot start: sh: sh: 1: xctl-slow-tool: not found (exit status 127)");
    await eventually(() => probe.attempts >= 3, 5000, "another retry");
    assert.equal(state.restarts, 0);
    assert.equal(logs.filter((l) => l.tag === "sh" && l.type === "error").length, 1);
    // Installed: a run that lasts without a word from the launcher is the program's, and up.
    writeFileSync(tool, "");
    await eventually(() => state.up, 5000, "up once the tool runs");
    assert.equal(tracker.list()[0].reason, null);
    assert.equal(state.restarts, 0);
    assert.ok(logs.some((l) => l.tag === "sh" && l.type === "info" && l.msg.includes("runs now")), JSON.stringify(logs));
  });

  it("a program that appears later runs as soon as a retry finds it, and its exits are restarts again", async () => {
    const dir = tmp();
    const late = join(dir, "late-probe");
    const { ex, logs } = testExporter();
    const probe = new CommandProbe([late], { backoff: FAST });
    ex.addSource(probe);
    // Born a second ago, so that its first sample already sees the restarts since then.
    const tracker = new SourceTracker(ex.probes, Date.now() - 1000);
    started(ex);
    await eventually(() => probe.attempts >= 3, 5000, "retries while it is missing");
    assert.equal(tracker.list()[0].reason, `cannot start: ${late}: no such file`);
    // Installed now (written aside, then renamed, as a package manager does): it prints one
    // event and dies, every run.
    writeFileSync(`${late}.tmp`, `#!/bin/sh\necho '{"event_type":"compute.util","entity_id":"gpu-07","value":"1"}'\nexit 3\n`);
    chmodSync(`${late}.tmp`, 0o755);
    renameSync(`${late}.tmp`, late);
    // Every try so far found nothing (a try is synchronous: none is half-way now).
    const failed = probe.attempts;
    await eventually(() => ex.ingest.accepted >= 2 && ex.probes.get("late-probe")!.restarts >= 2, 5000, "runs and restarts");
    const st = tracker.list()[0];
    // The first run after the failed starts was no restart; every start after it was.
    assert.equal(st.restarts, probe.attempts - failed - 1, `${failed} failed tries, ${probe.attempts} in all`);
    assert.equal(st.reason, null);
    assert.equal(st.state, "crash-looping");
    const mine = logs.filter((l) => l.tag === "late-probe");
    assert.equal(mine.filter((l) => l.type === "error").length, 1, JSON.stringify(mine));
    assert.ok(mine.some((l) => l.type === "info" && l.msg.includes("runs now")), JSON.stringify(mine));
    assert.ok(mine.some((l) => l.msg.includes("exited with status 3")), JSON.stringify(mine));
  });

  it("a program that runs and exits non-zero is restarted and crash-loops, as before", async () => {
    const { ex } = testExporter();
    const probe = new CommandProbe([join(ROOT, "test/fixtures/fault-probes/crash-loop.sh")], { backoff: FAST });
    ex.addSource(probe);
    // Born a second ago, so that its first sample already sees the restarts since then.
    const tracker = new SourceTracker(ex.probes, Date.now() - 1000);
    started(ex);
    await eventually(() => ex.probes.get("crash-loop.sh")!.restarts >= 2, 5000, "two restarts");
    const st = tracker.list()[0];
    assert.equal(st.state, "crash-looping");
    assert.equal(st.reason, null);
    // One restart per start after the first: the attempts all started the program.
    assert.ok(probe.attempts - st.restarts <= 1, `${probe.attempts} attempts, ${st.restarts} restarts`);
  });


  it("a probe that keeps crashing the same way is logged until the longest delay, then at debug, not on every restart", async () => {
    const { ex, logs } = testExporter();
    // 20 ms doubling to 80 ms: 20, 40, 80, then 80 for good.
    const probe = new CommandProbe([join(ROOT, "test/fixtures/fault-probes/crash-loop.sh")], { backoff: FAST });
    ex.addSource(probe);
    started(ex);
    await eventually(() => ex.probes.get("crash-loop.sh")!.restarts >= 10, 8000, "ten restarts");
    const mine = logs.filter((l) => l.tag === "crash-loop.sh");
    const loud = mine.filter((l) => l.type !== "debug" && l.msg.includes("exited with status 3"));
    const quiet = mine.filter((l) => l.type === "debug" && l.msg.includes("exited with status 3"));
    // Before: one warn per exit (and an info "restarting in") for as long as the loop lasts.
    assert.equal(loud.length, 3, JSON.stringify(mine));
    assert.ok(quiet.length >= 6, JSON.stringify(mine));
    assert.equal(mine.filter((l) => l.type === "info" && l.msg.startsWith("restarting in")).length, 3, JSON.stringify(mine));
    assert.ok(mine.some((l) => l.msg === "restarting in 0.1s (the longest delay: the same exit again is logged at debug)"), JSON.stringify(mine));
    // Its stderr, the same each run, likewise: the runs up to the longest delay at warn, the rest at debug.
    assert.equal(mine.filter((l) => l.type === "warn" && l.msg === "stderr: crash-loop: giving up").length, 3, JSON.stringify(mine));
    assert.ok(mine.filter((l) => l.type === "debug" && l.msg === "stderr: crash-loop: giving up (as the last run said)").length >= 6, JSON.stringify(mine));
  });

  it("a crash loop's stderr that changes is logged at warn from the first line that differs", async () => {
    const dir = tmp();
    const script = join(dir, "says.sh");
    // Each run says the same two lines, then a third that counts the runs.
    writeFileSync(script, `#!/bin/sh\necho "Traceback (most recent call last):" >&2\necho '  File "probe.py", line 3' >&2\nn=$(cat "${dir}/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${dir}/n"\necho "run $n failed" >&2\nexit 3\n`);
    chmodSync(script, 0o755);
    const { ex, logs } = testExporter();
    ex.addSource(new CommandProbe([script], { backoff: FAST }));
    started(ex);
    await eventually(() => ex.probes.get("says.sh")!.restarts >= 8, 8000, "eight restarts");
    const mine = logs.filter((l) => l.tag === "says.sh" && l.msg.startsWith("stderr: "));
    // The same first two lines: at warn for the first three runs only; the counting line always at warn.
    assert.equal(mine.filter((l) => l.type === "warn" && l.msg === "stderr: Traceback (most recent call last):").length, 3, JSON.stringify(mine));
    const counted = mine.filter((l) => /^stderr: run \d+ failed$/.test(l.msg));
    assert.ok(counted.length >= 8 && counted.every((l) => l.type === "warn"), JSON.stringify(mine));
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

  it("runs the probe without the exporter's ingest token or the clients' password in its environment", async () => {
    for (const [name, value] of [["XCTL_INGEST_TOKEN", "s3cret"], ["XCTL_PASSWORD", "hunter2"]]) {
      const before = process.env[name];
      process.env[name] = value;
      cleanups.push(() => {
        if (before === undefined) delete process.env[name];
        else process.env[name] = before;
      });
    }
    const { ex } = testExporter();
    const script = `printf '{"event_type":"compute.util","entity_id":"token-%s-%s-%s","value":"1"}\\n' "\${XCTL_INGEST_TOKEN:-unset}" "\${XCTL_PASSWORD:-unset}" "\${PATH:+path}"`;
    ex.addSource(new CommandProbe(["sh", "-c", script], { backoff: { initialMs: 60_000 } }));
    started(ex);
    await eventually(() => ex.ingest.accepted === 1, 5000, "one event");
    assert.deepEqual([...ex.graph.resources.keys()], ["token-unset-unset-path"]);
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
