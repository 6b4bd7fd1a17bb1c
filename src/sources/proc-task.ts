// What two host collectors read of the host's processes and clock under --path.procfs: the
// boot time (kmsg stamps records from it, procfs turns a process's start into event time) and
// a thread's process. Parsers of /proc/<pid>/stat are procfs/parse.ts's.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { statFlags } from "./procfs/parse.ts";

/** `stat`'s start time (field 22) counts USER_HZ ticks, 100 a second on every Linux ABI. */
export const MS_PER_TICK = 10;

/** Boot time in ms since the epoch: `btime` of <procfs>/stat, else now minus <procfs>/uptime. */
export async function bootTimeMs(procfs: string): Promise<number | null> {
  try {
    const m = /^btime (\d+)$/m.exec(await readFile(join(procfs, "stat"), "utf8"));
    if (m !== null) return Number(m[1]) * 1000;
  } catch {
    // fall through to uptime
  }
  try {
    const up = Number.parseFloat((await readFile(join(procfs, "uptime"), "utf8")).split(" ")[0]);
    if (Number.isFinite(up)) return Date.now() - Math.round(up * 1000);
  } catch {
    // none
  }
  return null;
}

/** The process (thread group) a thread id belongs to, from `<procfs>/<tid>/status`; null when gone. */
export async function threadGroup(procfs: string, tid: number): Promise<number | null> {
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(await readFile(join(procfs, String(tid), "status"), "utf8"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** `<procfs>/<pid>/stat`, or null when the task is gone. */
export async function readStat(procfs: string, pid: number): Promise<string | null> {
  try {
    return await readFile(join(procfs, String(pid), "stat"), "utf8");
  } catch {
    return null;
  }
}

/** PF_EXITING in `stat`'s flags (field 9): the task is in do_exit. */
const _PF_EXITING = 0x4;

/**
 * Whether process `pid` is gone or on its way out: a zombie, its main thread in do_exit, or
 * SIGKILL pending on it (what a fatal signal in any of its threads sends the others). A process
 * that is none of these was not killed by a thread's fatal signal.
 */
export async function groupEnding(procfs: string, pid: number): Promise<boolean> {
  let status: string;
  let stat: string | null;
  try {
    status = await readFile(join(procfs, String(pid), "status"), "utf8");
    stat = await readStat(procfs, pid);
  } catch {
    return true;
  }
  if (stat === null || /^State:\s*[ZX]/m.test(status)) return true;
  for (const m of status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)) if ((BigInt(`0x${m[1]}`) >> 8n) & 1n) return true;
  const flags = statFlags(stat);
  return flags !== null && (flags & _PF_EXITING) !== 0;
}
