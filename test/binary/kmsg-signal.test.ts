// A job process that dies of a fault signal (a segfault, an illegal instruction), through the
// compiled binary. Nothing but the kernel log says how it ended: its parent is the launcher, not
// the exporter, and builtin:procfs only sees the pid gone (`exit`, as a clean end). The kernel's
// report of the unhandled fault names the task, so `why` must say it was killed.
// First on this machine's real /dev/kmsg with a real segfault (root, x86-64 with
// debug.exception-trace = 1, python3), then on a record file of Linux 6.18's own trap reports.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, eventually, startExporter } from "../_helpers.ts";
import { PATH_FLAGS, startKmsgExporter } from "./_kmsg.ts";

const BINARY = process.env.XCTL_BINARY;

interface Why {
  state: string;
  ended?: boolean;
  job_id?: string | null;
}

async function _why(url: string, pid: number): Promise<Why | undefined> {
  const res = await fetch(`${url}/api/v1/why/${pid}`);
  return res.status === 404 ? undefined : ((await res.json()) as Why);
}

async function _start(url: string, pid: number, job: string): Promise<void> {
  const res = await fetch(`${url}/api/v1/events`, { method: "POST", body: JSON.stringify({ event_type: "process.state", entity_id: `pid-${pid}`, pid, job_id: job, value: "start" }) });
  assert.equal(res.status, 200);
}

function _realSkip(): string | false {
  if (!BINARY) return "XCTL_BINARY not set (scripts/test.sh sets it)";
  try {
    accessSync("/dev/kmsg", constants.R_OK);
  } catch {
    return "/dev/kmsg is not readable here";
  }
  if (arch() !== "x64") return "the segfault report read here is x86-64's";
  try {
    if (readFileSync("/proc/sys/debug/exception-trace", "utf8").trim() !== "1") return "debug.exception-trace is off: the kernel reports no segfault";
  } catch {
    return "no /proc/sys/debug/exception-trace";
  }
  return spawnSync("python3", ["--version"]).error ? "needs python3" : false;
}

// Says "ready", then on a line from stdin reads address 0: SIGSEGV, no handler.
const CRASHER = `
import ctypes, sys
print("ready", flush=True)
sys.stdin.readline()
ctypes.string_at(0)
`;

// A second thread waits, and on a line from stdin reads address 0, with core dumps off: the
// kernel names that thread's id, and the whole thread group is gone within milliseconds.
const THREAD_CRASHER = `
import ctypes, os, resource, sys, threading
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
go = threading.Event()
def worker():
    go.wait()
    ctypes.string_at(0)
t = threading.Thread(target=worker)
t.start()
print("ready", t.native_id, flush=True)
sys.stdin.readline()
go.set()
threading.Event().wait(30)
`;

/**
 * Starts python3 on `script` without faulthandler (PYTHONFAULTHANDLER in the environment installs
 * it: a handled SIGSEGV is re-raised by the handler, which the kernel does not report), and waits
 * for its "ready" line; `crash()` sends the line that makes it fault and resolves with its signal.
 */
async function _crasher(script: string): Promise<{ child: ChildProcess; ready: string; crash: () => Promise<NodeJS.Signals | null> }> {
  const env = { ...process.env };
  delete env.PYTHONFAULTHANDLER;
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"], env });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await eventually(() => /^ready\b.*$/m.test(out), 10_000, "the crasher ready");
  const crash = () => {
    const died = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_c, sig) => r(sig)));
    child.stdin!.write("go\n");
    return died;
  };
  return { child, ready: /^ready\b.*$/m.exec(out)![0], crash };
}

/** The last answer about `pid` once it has left the graph. */
function _ended(url: string, pid: number, timeoutMs: number): Promise<Why> {
  return eventually(async () => {
    const w = await _why(url, pid);
    return w?.ended === true ? w : undefined;
  }, timeoutMs, "the process ended");
}

function _kill(child: ChildProcess | undefined): void {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

describe("a job process killed by a fault signal, through the binary", () => {
  it("on this machine's /dev/kmsg: a real segfault ends the process as killed, not as a quiet exit", { skip: _realSkip(), timeout: 60_000 }, async () => {
    const ex = await startExporter(["--collectors", "kmsg"]);
    let c: Awaited<ReturnType<typeof _crasher>> | undefined;
    try {
      c = await _crasher(CRASHER);
      const pid = c.child.pid!;
      await _start(ex.url, pid, "job-segv");
      await eventually(async () => (await _why(ex.url, pid))?.state === "running", 10_000, "the process in the graph");
      assert.equal(await c.crash(), "SIGSEGV");
      const why = await _ended(ex.url, pid, 15_000);
      assert.deepEqual([why.state, why.job_id], ["killed", "job-segv"]);
    } finally {
      _kill(c?.child);
      await ex.stop();
    }
  });

  it("on this machine's /dev/kmsg: a segfault in a second thread (its id printed, its group gone when read) ends the process as killed, not as exit", { skip: _realSkip(), timeout: 60_000 }, async () => {
    // builtin:procfs too: without the thread's owner, it is what ends the process, as `exit`.
    const ex = await startExporter(["--collectors", "kmsg,procfs"]);
    let c: Awaited<ReturnType<typeof _crasher>> | undefined;
    try {
      c = await _crasher(THREAD_CRASHER);
      const pid = c.child.pid!;
      const tid = Number(/^ready (\d+)$/.exec(c.ready)![1]);
      assert.notEqual(tid, pid);
      await _start(ex.url, pid, "job-thread-segv");
      // The graph holds only this process: one thread listed is its second one.
      await eventually(async () => /^xctl_kmsg_thread_map\{what="threads"\} 1$/m.test(await (await fetch(`${ex.url}/metrics`)).text()), 15_000, "its threads listed");
      assert.equal(await c.crash(), "SIGSEGV");
      const why = await _ended(ex.url, pid, 30_000);
      assert.deepEqual([why.state, why.job_id], ["killed", "job-thread-segv"]);
    } finally {
      _kill(c?.child);
      await ex.stop();
    }
  });

  it("on a record file of the kernel's trap reports: SIGILL, SIGSEGV (a GP fault), SIGFPE; only for processes the graph holds", { skip: !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !PATH_FLAGS ? "the binary has no --path.procfs" : false, timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-kmsg-signal-"));
    const file = join(dir, "kmsg");
    const btime = Math.floor(Date.now() / 1000) - 3600;
    writeFileSync(file, "");
    const ex = await startKmsgExporter(file, { procfs: join(dir, "proc"), btime });
    try {
      // Pids 15443 (invalid opcode) and 15484 (GP fault) belong to processes of the graph; 15525's
      // divide error is of a process no probe reported: nothing to end.
      await _start(ex.url, 15443, "job-ill");
      await _start(ex.url, 15484, "job-gp");
      // The fixture's records, stamped now (their offsets from boot are another boot's).
      const usec = (Date.now() - btime * 1000) * 1000;
      const records = readFileSync(join(ROOT, "test/fixtures/kmsg/signals.kmsg"), "utf8").trim().split("\n").slice(1);
      writeFileSync(file, records.map((r) => r.replace(/^(\d+,\d+,)\d+/, `$1${usec}`)).join("\n") + "\n");
      for (const pid of [15443, 15484]) {
        const why = await eventually(async () => {
          const w = await _why(ex.url, pid);
          return w?.ended === true ? w : undefined;
        }, 10_000, `pid ${pid} ended`);
        assert.equal(why.state, "killed");
      }
      assert.equal(await _why(ex.url, 15525), undefined, "a kill of a pid the graph never held adds nothing");
      await eventually(async () => /^xctl_kmsg_records_total\{kind="fatal_signal"\} 3$/m.test(await (await fetch(`${ex.url}/metrics`)).text()), 10_000, "three fatal signals counted");
    } finally {
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
