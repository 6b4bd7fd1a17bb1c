// A real Prometheus for the binary's tests: started on a config in `dir`, waited for until ready,
// its output kept for failure messages, stopped (SIGKILL after 5 s) when done.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { sleep } from "../_helpers.ts";

export class RunningPrometheus {
  private _log = "";
  private readonly _exited: Promise<unknown>;
  private _dead = false;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on("data", (d) => (this._log += d));
    proc.stderr!.on("data", (d) => (this._log += d));
    this._exited = new Promise((resolve) => proc.once("exit", resolve));
    void this._exited.then(() => (this._dead = true));
  }

  /** The last `n` characters of its output. */
  log(n = 2000): string {
    return this._log.slice(-n);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this._exited;
    clearTimeout(t);
  }

  /** Resolves once `/-/ready` answers 200; throws with its output if it exits or is not ready in 30 s. */
  async ready(api: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this._dead) throw new Error(`prometheus exited:\n${this.log()}`);
      try {
        if ((await fetch(`${api}/-/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready:\n${this.log()}`);
      await sleep(100);
    }
  }
}

/** Starts Debian's `prometheus` on `dir`/prometheus.yml, its data in `dir`/data, listening on `port`, and waits until it is ready. */
export async function startPrometheus(dir: string, port: number): Promise<RunningPrometheus> {
  const proc = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: dir,
  });
  const p = new RunningPrometheus(proc);
  await p.ready(`http://127.0.0.1:${port}`);
  return p;
}
