// deploy/systemd/xctl-exporter.service started as systemd would start it, on a machine where
// systemd is not PID 1: the unit's user kind, capabilities, no_new_privs, environment, command
// line and system call filter (test/binary/_unit.ts), with and without the process-details.conf
// drop-in; its ExecReload (SIGHUP) reloads the rules under that filter. A probe configured through XCTL_PROBE runs and its events count; the kernel log is
// read with the unit's CAP_SYSLOG; other users' environ is refused without the drop-in and read
// with it.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, freePort, scrape, waitFor } from "../_helpers.ts";
import { unitCommand, unitEnvironment, unitSettings } from "./_unit.ts";

const BINARY = process.env.XCTL_BINARY;
const _has = (cmd: string) => !spawnSync(cmd, ["--version"]).error;
const SKIP = !BINARY
  ? "XCTL_BINARY not set (scripts/test.sh sets it)"
  : process.getuid?.() !== 0
    ? "needs root to take the unit's user and capabilities"
    : !_has("setpriv") || !_has("strace") || !_has("systemd-analyze")
      ? "needs setpriv, strace and systemd-analyze (.ci/run installs them)"
      : false;

const UNIT = readFileSync(join(ROOT, "deploy/systemd/xctl-exporter.service"), "utf8");
const DETAILS = readFileSync(join(ROOT, "deploy/systemd/process-details.conf"), "utf8");
const DEFAULTS = readFileSync(join(ROOT, "deploy/systemd/xctl-exporter.default"), "utf8");

/** KEY=value lines of the environment file that are set (not commented out). */
function _defaults(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of DEFAULTS.matchAll(/^([A-Z_][A-Z0-9_]*)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}

interface Started {
  url: string;
  stderr: () => string;
  /** Signals the exporter, as systemd signals its main pid. */
  signal: (signal: NodeJS.Signals) => void;
  stop: () => Promise<void>;
}

/** Starts ExecStart= of the unit (with drop-ins) under its sandbox, listening on loopback. */
async function startUnit(dir: string, dropIns: string[], probe: string, unit = UNIT): Promise<Started> {
  const settings = unitSettings(unit, ...dropIns);
  const exec = settings.get("ExecStart")!.at(-1)!.split(/\s+/);
  assert.equal(exec[0], "/usr/local/bin/xctl-exporter");
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ...unitEnvironment(settings),
    ..._defaults(),
    // The operator's /etc/default/xctl-exporter: a probe, and procfs at a shorter interval (a
    // collector given as a probe runs once, with its options); on loopback for the test.
    XCTL_PROBE: `${probe}\nbuiltin:procfs?interval=300ms`,
    XCTL_HOST: "127.0.0.1",
    XCTL_PORT: String(port),
  };
  const argv = unitCommand(settings, [BINARY!, ...exec.slice(1)]);
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise((r) => child.once("exit", r));
  const url = `http://127.0.0.1:${port}`;
  // strace blocks fatal signals while it runs a command (-o FILE): signals go to the exporter
  // it traces, as systemd's would, and strace ends with it.
  const kill = (signal: NodeJS.Signals) => {
    for (const pid of _children(child.pid!)) process.kill(pid, signal);
  };
  await waitFor(`${url}/healthz`, exited).catch(async (e) => {
    kill("SIGKILL");
    await exited;
    throw new Error(`${e.message}\n${err}`);
  });
  return {
    url,
    stderr: () => err,
    signal: kill,
    stop: async () => {
      kill("SIGTERM");
      const t = setTimeout(() => {
        kill("SIGKILL");
        child.kill("SIGKILL");
      }, 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe("the systemd unit, sandbox and all", { skip: SKIP }, () => {
  const dir = SKIP ? "" : mkdtempSync(join(tmpdir(), "xctl-unit-"));
  // A probe the service user can run: one event every 100 ms.
  const probe = join(dir, "unit-probe.sh");
  // A root process with a Slurm job id in its environment (mode 0400, root's).
  let job: ChildProcess | undefined;
  if (!SKIP) {
    chmodSync(dir, 0o755);
    writeFileSync(probe, '#!/bin/sh\nwhile :; do echo \'{"event_type":"compute.util","entity_id":"gpu-00","value":"50"}\'; sleep 0.1; done\n');
    chmodSync(probe, 0o755);
    job = spawn("sleep", ["60"], { env: { ...process.env, SLURM_JOB_ID: "4711" }, stdio: "ignore" });
  }
  after(() => {
    job?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = { event_type: "process.state", entity_id: "job", value: "start" };
  const push = async (url: string) => {
    const res = await fetch(`${url}/api/v1/events`, { method: "POST", body: JSON.stringify({ ...start, pid: job!.pid }) });
    assert.equal(res.status, 200);
  };

  it("runs the probe of XCTL_PROBE, reads the kernel log, and keeps other users' environ closed", async () => {
    const ex = await startUnit(dir, [], probe);
    try {
      await push(ex.url);
      const m = await eventually(async () => {
        const s = await scrape(ex.url);
        return (s.get("xctl_events_total") ?? 0) >= 5 && s.get('xctl_collector_reads_denied_total{probe="procfs",kind="environ"}') === 1 ? s : undefined;
      }, 10_000, `the probe's events and the refused environ read\n${ex.stderr()}`);
      assert.equal(m.get('xctl_probe_up{probe="unit-probe.sh"}'), 1, ex.stderr());
      assert.equal(m.get('xctl_probe_restarts_total{probe="unit-probe.sh"}'), 0, ex.stderr());
      assert.doesNotMatch(ex.stderr(), /Operation not permitted|probe exited/);
      // CAP_SYSLOG opens /dev/kmsg whatever kernel.dmesg_restrict says (where it exists at all).
      if (_kmsgReadable()) assert.match(ex.stderr(), /collectors: running [^;]*\bkmsg\b/, ex.stderr());
      const rows = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; job_id: string | null }[];
      assert.equal(rows.find((r) => r.pid === job!.pid)?.job_id, null, "no job id without the drop-in");
      // `systemctl reload`: ExecReload's SIGHUP reloads the rules, under the unit's filter too.
      assert.deepEqual(unitSettings(UNIT).get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
      ex.signal("SIGHUP");
      await eventually(() => ex.stderr().includes("rules reloaded: 19 loaded (19 embedded); nothing changed"), 10_000, `the reload line\n${ex.stderr()}`);
      assert.equal((await scrape(ex.url)).get("xctl_rules_last_reload_successful"), 1);
    } finally {
      await ex.stop();
    }
  });

  it("with process-details.conf reads the job id from another user's environ", async () => {
    const ex = await startUnit(dir, [DETAILS], probe);
    try {
      await push(ex.url);
      await eventually(async () => {
        const rows = (await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number; job_id: string | null }[];
        return rows.find((r) => r.pid === job!.pid)?.job_id === "4711";
      }, 10_000, `job 4711 from ${job!.pid}'s environ\n${ex.stderr()}`);
      const m = await scrape(ex.url);
      assert.equal(m.get('xctl_collector_reads_denied_total{probe="procfs",kind="environ"}'), undefined);
      assert.equal(m.get('xctl_probe_up{probe="unit-probe.sh"}'), 1, ex.stderr());
    } finally {
      await ex.stop();
    }
  });
});

describe("a unit with systemd's usual filter, capset refused", { skip: SKIP }, () => {
  const dir = SKIP ? "" : mkdtempSync(join(tmpdir(), "xctl-unit-"));
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("still runs the probes, without setpriv, and says so once", async () => {
    // As an operator's own hardened unit would have it: @system-service less @privileged.
    const unit = UNIT.replace(/^SystemCallFilter=capset$/m, "");
    assert.notEqual(unit, UNIT);
    chmodSync(dir, 0o755);
    const probes = ["a", "b"].map((n) => join(dir, `${n}.sh`));
    for (const p of probes) {
      writeFileSync(p, '#!/bin/sh\nwhile :; do echo \'{"event_type":"compute.util","entity_id":"gpu-00","value":"50"}\'; sleep 0.1; done\n');
      chmodSync(p, 0o755);
    }
    const ex = await startUnit(dir, [], probes.join("\n"), unit);
    try {
      const m = await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get('xctl_probe_up{probe="a.sh"}') === 1 && s.get('xctl_probe_up{probe="b.sh"}') === 1 && (s.get("xctl_events_total") ?? 0) >= 5 ? s : undefined;
      }, 10_000, `both probes up\n${ex.stderr()}`);
      assert.equal(m.get('xctl_probe_restarts_total{probe="a.sh"}'), 0, ex.stderr());
      assert.equal(ex.stderr().match(/setpriv cannot start probes here \(setpriv: activate capabilities: Operation not permitted\)/g)?.length, 1, ex.stderr());
    } finally {
      await ex.stop();
    }
  });
});

/** /dev/kmsg exists and opens for root here (a container may have none). */
function _kmsgReadable(): boolean {
  return spawnSync("sh", ["-c", "exec 3</dev/kmsg"]).status === 0;
}

/** The pids of a process's children (strace's: the exporter). */
function _children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
