// The cost of one look of builtin:kmsg's thread list (src/sources/kmsg/threads.ts) on a busy
// host: 64 real processes of 200 threads each (python3, forked, the threads waiting on an event).
// Prints the CPU of the first look (every task/ listed) and the median of 20 steady looks (a stat
// of each task/, nothing listed again). Run: `node --import tsx scripts/bench/kmsg-threads.ts`,
// or `node_modules/.bin/bun scripts/bench/kmsg-threads.ts`. Linux, python3.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { ThreadMap } from "../../src/sources/kmsg/threads.ts";

declare const Bun: { version: string } | undefined;

const PROCESSES = 64;
const THREADS = 200;
const PY = `
import os, threading, time
for i in range(${PROCESSES}):
    if os.fork() == 0:
        ev = threading.Event()
        for j in range(${THREADS - 1}):
            threading.Thread(target=ev.wait, daemon=True).start()
        print(os.getpid(), flush=True)
        time.sleep(600)
        os._exit(0)
time.sleep(600)
`;

const parent = spawn("python3", ["-c", PY], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
parent.stdout.on("data", (d) => (out += d));
parent.once("exit", (code, sig) => {
  if (pids.length < PROCESSES) {
    console.error(`python3 ended (${sig ?? code}) before its ${PROCESSES} processes were ready`);
    process.exit(1);
  }
});
const pids: number[] = [];
try {
  for (;;) {
    pids.splice(0, pids.length, ...out.split("\n").filter(Boolean).map(Number));
    if (pids.length === PROCESSES && pids.every((p) => readdirSync(`/proc/${p}/task`).length >= THREADS)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const map = new ThreadMap("/proc");
  const cpu = async (): Promise<number> => {
    const c0 = process.cpuUsage();
    await map.refresh(pids);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  const first = await cpu();
  const steady: number[] = [];
  for (let i = 0; i < 20; i++) steady.push(await cpu());
  steady.sort((a, b) => a - b);
  const runtime = typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.versions.node}`;
  console.log(`${runtime}: ${PROCESSES} processes, ${map.size} threads held; first look ${first.toFixed(1)} ms CPU, steady ${steady[10].toFixed(1)} ms (median of 20)`);
} finally {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  parent.kill("SIGKILL");
}
