// Which RDMA devices each process has allocated on: `rdma -j res show pd` (iproute2, through the
// kernel's RDMA netlink resource tracking, 4.18 on). Holding a device's verbs file open is not
// using its port: NCCL opens every device with an active port when it starts (ncclIbInit) and keeps
// it, so each rank of two jobs sharing a host holds all its NICs, while it allocates a protection
// domain (and its queue pairs in it) only on the NICs it talks through (those nearest its GPU). A
// port of one job's NIC going down is no fault of the other job. Protection domains rather than
// queue pairs: one per process and device, where a large job has thousands of queue pairs, and a
// round must not read megabytes. Without the tool, the kernel support or the privilege, nothing is
// known and every holder stays a user.
import { runTool, startChild, which, type Env, type Spawn } from "../child.ts";

/** pid → the devices it has protection domains on (the kernel's own, with no pid, left out). */
export type PdDevices = Map<number, Set<string>>;

/** The protection domains of `rdma -j res show pd` output by pid; null when it is not that output. */
export function parseRdmaPds(text: string): PdDevices | null {
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(text));
  } catch {
    // Older iproute2 printed a document per line.
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        docs.push(JSON.parse(line));
      } catch {
        return null;
      }
    }
  }
  const out: PdDevices = new Map();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 4 || v === null || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1));
    const o = v as Record<string, unknown>;
    if (typeof o.ifname === "string" && typeof o.pid === "number" && Number.isInteger(o.pid) && o.pid > 0) {
      const set = out.get(o.pid) ?? new Set<string>();
      set.add(o.ifname);
      out.set(o.pid, set);
    }
  };
  docs.forEach((d) => walk(d, 0));
  return out;
}

/**
 * The users of each device (holders of its verbs file, `using`) narrowed to those that have
 * allocated on it, where `pds` says a holder has allocated on other devices only. A holder with
 * none anywhere (just started, not connected yet) stays: nothing says it does not use the device.
 */
export function narrowUsers(using: ReadonlyMap<string, readonly number[]>, pds: PdDevices | null): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [dev, pids] of using) out.set(dev, pds === null ? [...pids] : pids.filter((pid) => pds.get(pid)?.has(dev) ?? true));
  return out;
}

export interface RdmaPdsOptions {
  /** Name looked up on PATH, or a path; null: never run it. */
  command?: string | null;
  env?: Env;
  timeoutMs?: number;
  spawn?: Spawn;
}

/** Runs the query each round it is asked; null while the tool is missing or fails (said once by `warn`). */
export class RdmaPds {
  private readonly _cmd: string | null;
  private readonly _env: Env;
  private readonly _timeoutMs: number;
  private readonly _spawn: Spawn;
  private _said = false;

  constructor(opts: RdmaPdsOptions = {}) {
    this._cmd = opts.command === undefined ? "rdma" : opts.command;
    this._env = opts.env ?? process.env;
    this._timeoutMs = opts.timeoutMs ?? 5000;
    this._spawn = opts.spawn ?? startChild;
  }

  async read(warn: (m: string) => void): Promise<PdDevices | null> {
    if (this._cmd === null) return null;
    const path = which(this._cmd, this._env);
    if (path === null) return this._fail(warn, `${this._cmd} not found`);
    const run = await runTool(this._spawn, path, ["-j", "res", "show", "pd"], this._env, { timeoutMs: this._timeoutMs, killWaitMs: 2000, maxOut: 4 << 20 });
    if (run.child === null || run.ended === null || run.ended.error || run.timedOut || run.ended.code !== 0) {
      return this._fail(warn, `${this._cmd} -j res show pd failed${run.err ? `: ${run.err.trim().split("\n").pop()}` : ""}`);
    }
    const pds = parseRdmaPds(run.out);
    return pds ?? this._fail(warn, `${this._cmd} -j res show pd printed no JSON`);
  }

  private _fail(warn: (m: string) => void, why: string): null {
    if (!this._said) warn(`${why}; every process holding an RDMA device counts as using its ports`);
    this._said = true;
    return null;
  }
}
