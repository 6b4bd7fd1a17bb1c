// What /proc says about a process: CPU time spent, memory held, whether it still runs.
// Linux only, like the binary these tests run.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let _ticks = 0;

/** Clock ticks per second of the utime/stime fields (CLK_TCK, nearly always 100). */
function _clockTicks(): number {
  if (_ticks === 0) _ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  return _ticks;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function _statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds used by `pid` and by the children it has reaped (probe restarts count too). */
export function cpuSeconds(pid: number): number {
  const f = _statFields(pid);
  if (f === null) throw new Error(`no process ${pid}`);
  // After "pid (comm) ": state is field 0; utime, stime, cutime, cstime are 11..14.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks / _clockTicks();
}

/** A line of /proc/<pid>/status in bytes, e.g. "VmRSS" or "VmHWM" (the peak). */
export function memoryBytes(pid: number, key: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(status);
  if (m === null) throw new Error(`${key} missing from /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** True while `pid` exists and is not a zombie (dead but not yet reaped). */
export function isRunning(pid: number): boolean {
  const f = _statFields(pid);
  return f !== null && f[0] !== "Z";
}

/**
 * Milliseconds of CPU the main thread of `pid` has run: a JavaScript runtime's event loop, where
 * requests wait behind whatever else it does. How long a request waited for it to get round to
 * them is what a busy machine stretches; the loop's own CPU in that time is what the exporter
 * made it wait (from /proc/<pid>/task/<pid>/schedstat in ns, or stat's clock ticks).
 */
export function loopCpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    const text = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / _clockTicks()) * 1000;
  }
}
