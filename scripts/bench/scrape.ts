// Scrape throughput: wrk against a metrics URL, a few seconds per run, several runs.
import { spawn } from "node:child_process";
import { median } from "./util.ts";

export interface WrkRun {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
}

export interface ScrapeResult {
  runs: WrkRun[];
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

export interface WrkOptions {
  seconds: number;
  connections: number;
  runs: number;
  /** e.g. "Accept-Encoding: gzip", as Prometheus sends it. */
  header?: string;
}

/** Runs wrk `o.runs` times. Asynchronous, so the children's pipes keep draining meanwhile. */
export async function wrk(url: string, o: WrkOptions): Promise<ScrapeResult> {
  const runs: WrkRun[] = [];
  for (let i = 0; i < o.runs; i++) {
    const args = ["-t1", `-c${o.connections}`, `-d${o.seconds}s`, "--latency", ...(o.header ? ["-H", o.header] : []), url];
    runs.push(parseWrk(await _run("wrk", args), url));
  }
  return { runs, rps: median(runs.map((r) => r.rps)), p50Ms: median(runs.map((r) => r.p50Ms)), p99Ms: median(runs.map((r) => r.p99Ms)) };
}

function _run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}): ${err}`))));
  });
}

export function parseWrk(text: string, url = ""): WrkRun {
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (bad) throw new Error(`wrk ${url}: ${bad[1]} responses were not 200`);
  if (/Socket errors:.*(read|write|timeout) [1-9]/.test(text)) throw new Error(`wrk ${url}: socket errors\n${text}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  if (!(rps > 0)) throw new Error(`wrk ${url}: no answers\n${text}`);
  const lat = (p: string) => _ms(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(text));
  const read = /requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read/.exec(text);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(read?.[2] ?? "B") as "B"];
  return { rps, p50Ms: lat("50"), p99Ms: lat("99"), bytes: read ? (Number(read[1]) * unit) / requests : NaN };
}

function _ms(m: RegExpExecArray | null): number {
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}
