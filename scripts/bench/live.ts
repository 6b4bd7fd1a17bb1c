// A running exporter for the scrape, diagnosis and footprint steps: started on a free loopback
// port, optionally loaded with the event file through --stdin (waiting until
// xctl_events_total reaches the file's count).
import { createReadStream } from "node:fs";
import { exporterArgv, freePort, getText, procMemory, sample, sleep, startChild, waitReady, type Child, type Target } from "./util.ts";

export interface LiveExporter extends Child {
  target: Target;
  /** ms from spawn to the first 200 on /healthz. */
  readyMs: number;
  /** Seconds from the first byte piped in to the count reached (0 without a file). */
  loadS: number;
  events: number;
  idleRss: number;
}

export async function startExporter(target: Target, file?: string, events = 0, extra: string[] = []): Promise<LiveExporter> {
  const port = await freePort();
  const argv = [...exporterArgv(target), "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", ...extra];
  if (file) argv.push("--stdin");
  const c = startChild(argv, port, { stdin: file ? "pipe" : "ignore" });
  let readyMs: number;
  try {
    readyMs = await waitReady(c);
  } catch (e) {
    await c.stop();
    throw e;
  }
  await sleep(200);
  const idleRss = procMemory(c.proc.pid!).rss;
  let loadS = 0;
  if (file) {
    const t0 = performance.now();
    createReadStream(file).pipe(c.proc.stdin!);
    const deadline = t0 + 300_000;
    for (;;) {
      const n = sample(await getText(`${c.url}/metrics`), "xctl_events_total");
      if (n >= events) break;
      if (performance.now() > deadline) {
        await c.stop();
        throw new Error(`${target}: only ${n} of ${events} events loaded after 300 s`);
      }
      await sleep(100);
    }
    loadS = (performance.now() - t0) / 1000;
  }
  return Object.assign(c, { target, readyMs, loadS, events, idleRss });
}
