// Long-run soak of the compiled binary, accelerated: not part of `npm test`.
//
//   bash scripts/build.sh linux-x64
//   node --import tsx scripts/soak.ts [--minutes 15] [--every 30] [--speed 30] [--rate 20] [--out DIR]
//     [--extra="--max-nodes 1000 --error-window 20s"]   (more exporter flags; windows made short
//     to play hours of expiry, settling and eviction in minutes)
//
// Runs dist/xctl-exporter-linux-x64 with builtin:demo at --speed (simulated seconds per second),
// the host collectors of this machine (procfs, diskstats, kmsg where readable), a probe that
// churns pids and entities, a probe that crashes every few seconds, a probe that cannot start,
// a probe that writes stderr forever; and clients that come and go: pushes with churning job ids
// (some lines malformed), event-stream readers (one that never reads), status, why, graph,
// on-demand diagnoses, rule reloads (--rules-churn: a site rule that comes, changes and goes),
// kernel records in a rotated file (--kmsg N a second), real pids that come and go (--real-pids N), bad basic-auth credentials with churning user names. Every --every seconds
// it appends one JSON line to DIR/samples.ndjson: RSS, fds, threads, child processes, the
// exposition's series count and size, the series per family, log lines since the last sample
// (by message prefix), latency of /healthz and /metrics. At the end it prints start against end.
// Keep it to one soak at a time on a shared machine; every loop here is bounded by --minutes.
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values: o } = parseArgs({
  options: {
    minutes: { type: "string", default: "15" },
    every: { type: "string", default: "30" },
    speed: { type: "string", default: "30" },
    rate: { type: "string", default: "20" },
    out: { type: "string", default: `/tmp/xctl-soak-${process.pid}` },
    binary: { type: "string", default: resolve("dist/xctl-exporter-linux-x64") },
    extra: { type: "string", default: "" },
    // kernel records appended to a file in /dev/kmsg's format (read by builtin:kmsg?path=),
    // this many a second, the file rotated every minute and truncated every other
    kmsg: { type: "string", default: "0" },
    // a site rule directory whose one rule comes and goes (and changes) every 30 s, reloaded each 15 s
    "rules-churn": { type: "boolean", default: false },
    // a probe that keeps N real short-lived processes (sleep) running and reports each start,
    // never its exit: builtin:procfs must find the exits in /proc, round after round
    "real-pids": { type: "string", default: "0" },
  },
});
const minutes = Number(o.minutes);
const everyMs = Number(o.every) * 1000;
const out = resolve(o.out!);
mkdirSync(out, { recursive: true });
const endAt = Date.now() + minutes * 60_000;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

// ---- probes, written as small node scripts ----
const churn = join(out, "churn-probe.mjs");
writeFileSync(
  churn,
  `// churning pids (start, use a GPU, exit) and entities (a new volume every line)
let pid = 2_000_000, vol = 0, n = 0;
const live = [];
setInterval(() => {
  const ts = Date.now();
  const p = pid++; live.push(p);
  const w = (e) => process.stdout.write(JSON.stringify({ ts, ...e }) + "\\n");
  w({ event_type: "process.state", entity_id: "host", job_id: "churn-" + (n % 1000), pid: p, value: "start" });
  w({ event_type: "compute.util", entity_id: "gpu-0" + (p % 8), job_id: null, pid: p, value: "50" });
  w({ event_type: "storage.iops", entity_id: "vol-" + (vol++), job_id: null, pid: p, value: "0.5" });
  if (n % 7 === 0) w({ event_type: "error.hw", entity_id: "gpu-0" + (p % 8), pid: p, value: "XID_" + (n % 100) });
  if (live.length > 20) w({ event_type: "process.state", entity_id: "host", pid: live.shift(), value: "exit" });
  n++;
}, 100);
`,
);
const realPids = Number(o["real-pids"]);
const real = join(out, "real-pids-probe.mjs");
writeFileSync(
  real,
  `import { spawn } from "node:child_process";
const n = ${realPids};
let live = 0;
const one = () => {
  const c = spawn("sleep", [String(2 + Math.floor(Math.random() * 20))], { stdio: "ignore" });
  live++;
  process.stdout.write(JSON.stringify({ event_type: "process.state", entity_id: "host", job_id: "real-" + (c.pid % 50), pid: c.pid, value: "start" }) + "\\n");
  process.stdout.write(JSON.stringify({ event_type: "compute.util", entity_id: "gpu-0" + (c.pid % 8), pid: c.pid, value: "70" }) + "\\n");
  c.on("exit", () => { live--; setTimeout(one, 100); });
};
for (let i = 0; i < n; i++) one();
`,
);
const crash = join(out, "crash-probe.sh");
writeFileSync(crash, `#!/bin/sh\necho '{"event_type":"compute.util","entity_id":"gpu-07","value":"1"}'\necho 'crashing now' >&2\nsleep 2\nexit 3\n`);
chmodSync(crash, 0o755);
const noisy = join(out, "noisy-probe.sh");
writeFileSync(noisy, `#!/bin/sh\nn=0\nwhile :; do n=$((n+1)); echo "persistent fault: cannot reach device $n" >&2; sleep 0.2; done\n`);
chmodSync(noisy, 0o755);
const webConfig = join(out, "web.yml");
// bcrypt of "pw" (cost 4), so the bad-credential client is cheap to check
writeFileSync(webConfig, `basic_auth_users:\n  soak: $2b$04$ZxC8E0Dk9zb4ebXNdUWwn.5o2wHi4aJODVb4VfzjVGFjYYuVsvnAi\nauth_excluded_paths: [/healthz]\n`);

const kmsgRate = Number(o.kmsg);
const kmsgPath = join(out, "kmsg.log");
const rulesDir = join(out, "rules");
mkdirSync(rulesDir, { recursive: true });
const siteRule = (threshold: number) => `name: Soak site rule
scene: soak_site
priority: 5
severity: info
conditions:
  - type: event
    event_type: compute.util
    entity_id_pattern: "gpu-*"
    value_threshold: ${threshold}
root_cause_pattern:
  primary: A soak rule that comes and goes
  secondary: []
solution_steps:
  - step: 1
    action: nothing
    manual: true
related_evidences: [compute.util]
`;
if (o["rules-churn"]) writeFileSync(join(rulesDir, "soak.yaml"), siteRule(50));

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const auth = "Basic " + Buffer.from("soak:pw").toString("base64");
const args = [
  "--host", "127.0.0.1", "--port", String(port), "--log-format", "json",
  "--probe", `builtin:demo?rate=${o.rate}&speed=${o.speed}&seed=7`,
  "--probe", `node ${churn}`,
  "--probe", crash,
  "--probe", noisy,
  "--probe", "/nonexistent/probe --x",
  "--web-config", webConfig,
  "--ingest-allow-remote",
  ...(kmsgRate > 0 ? ["--probe", `builtin:kmsg?path=${kmsgPath}`] : []),
  ...(realPids > 0 ? ["--probe", `node ${real}`] : []),
  ...(o["rules-churn"] ? ["--rules", rulesDir] : []),
  ...(o.extra ? o.extra.split(" ") : []),
];
if (kmsgRate > 0) writeFileSync(kmsgPath, "");
const logPath = join(out, "exporter.log");
writeFileSync(logPath, "");
const child = spawn(o.binary!, args, { stdio: ["ignore", "ignore", "pipe"] });
let logLines = 0;
let logTail = "";
const byMsg = new Map<string, number>();
child.stderr!.setEncoding("utf8").on("data", (s: string) => {
  appendFileSync(logPath, s);
  const parts = (logTail + s).split("\n");
  logTail = parts.pop()!;
  for (const l of parts) {
    logLines++;
    let k = l.slice(0, 60);
    try {
      const j = JSON.parse(l);
      k = `${j.level} ${String(j.msg).replace(/\d+/g, "N").slice(0, 70)}`;
    } catch {}
    byMsg.set(k, (byMsg.get(k) ?? 0) + 1);
  }
});
child.on("exit", (c, s) => console.error(`exporter exited: ${c} ${s}`));
const pid = child.pid!;

async function req(path: string, init: RequestInit = {}, ms = 10_000): Promise<Response | null> {
  try {
    const h = new Headers(init.headers);
    if (!h.has("authorization")) h.set("authorization", auth);
    const t = AbortSignal.timeout(ms);
    return await fetch(base + path, { ...init, headers: h, signal: init.signal ? AbortSignal.any([init.signal, t]) : t });
  } catch {
    return null;
  }
}
for (let i = 0; i < 100; i++) {
  if ((await req("/healthz", {}, 500))?.ok) break;
  await new Promise((r) => setTimeout(r, 100));
}

// ---- clients ----
const timers: ReturnType<typeof setInterval>[] = [];
let pushSeq = 0;
timers.push(setInterval(async () => {
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) {
    const k = pushSeq++;
    lines.push(JSON.stringify({ event_type: "compute.mem", entity_id: `gpu-0${k % 8}`, job_id: `push-job-${k}`, pid: 3_000_000 + k, value: "40" }));
  }
  lines.push("{not json", JSON.stringify({ event_type: "bogus.type", entity_id: "x" }));
  const r = await req("/api/v1/events", { method: "POST", body: lines.join("\n") + "\n", headers: { "content-type": "application/x-ndjson" } });
  await r?.arrayBuffer();
}, 1000));
timers.push(setInterval(async () => {
  const ac = new AbortController();
  const r = await req("/api/v1/events/stream", { signal: ac.signal });
  if (r?.body) {
    const rd = r.body.getReader();
    const stop = Date.now() + 500 + Math.random() * 2500;
    try {
      while (Date.now() < stop) await rd.read();
    } catch {}
    ac.abort();
  }
}, 2000));
// a reader that connects and never reads (must be cut off, not buffered)
timers.push(setInterval(async () => {
  await req("/api/v1/events/stream", {}, 20_000);
}, 30_000));
timers.push(setInterval(async () => {
  await (await req("/api/v1/status"))?.arrayBuffer();
  const ps = await req("/api/v1/processes?limit=50");
  const rows = ((await ps?.json().catch(() => [])) ?? []) as { pid: number }[];
  const p = rows.length ? rows[Math.floor(Math.random() * rows.length)].pid : 1;
  await (await req(`/api/v1/why/${p}`))?.arrayBuffer();
  await (await req(`/api/v1/why/${1_000_000 + Math.floor(Math.random() * 1e6)}`))?.arrayBuffer();
}, 3000));
timers.push(setInterval(async () => {
  await (await req("/api/v1/graph?limit=200"))?.arrayBuffer();
  await (await req("/api/v1/diagnoses", { method: "POST" }))?.arrayBuffer();
  await (await req("/", {}))?.arrayBuffer();
}, 10_000));
// rule reloads, as a config-management run or a SIGHUP would do now and then
timers.push(setInterval(async () => {
  await (await req("/-/reload", { method: "POST" }))?.arrayBuffer();
}, 15_000));
let ruleTurn = 0;
if (o["rules-churn"]) timers.push(setInterval(() => {
  const f = join(rulesDir, "soak.yaml");
  const turn = ruleTurn++ % 3;
  if (turn === 0) rmSync(f, { force: true });
  else writeFileSync(f, siteRule(turn === 1 ? 50 : 90));
}, 30_000));
// /dev/kmsg records: Xids with pids, I/O errors on churning disks, OOM kills and hung tasks of
// churning pids, NFS servers, noise; stamped as the kernel would (usec since boot)
const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]) * 1000;
let kseq = 0;
let kturn = 0;
if (kmsgRate > 0) timers.push(setInterval(() => {
  const lines: string[] = [];
  for (let i = 0; i < kmsgRate / 10; i++) {
    const k = kseq++;
    const usec = (Date.now() - btime) * 1000;
    const pid = 5_000_000 + k;
    const msgs = [
      `NVRM: Xid (PCI:0000:${(0x10 + (k % 8)).toString(16)}:00): 79, pid=${pid}, name=python3, GPU has fallen off the bus.`,
      `blk_update_request: I/O error, dev nvme${k % 500}n1, sector ${k * 8} op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0`,
      `Out of memory: Killed process ${pid} (python3) total-vm:1000kB, anon-rss:100kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0`,
      `INFO: task python3:${pid} blocked for more than 120 seconds.`,
      `nfs: server nfs${k % 300} not responding, still trying`,
      `eth0: renamed from veth${k}`,
    ];
    lines.push(`3,${k},${usec},-;${msgs[k % msgs.length]}`);
  }
  appendFileSync(kmsgPath, lines.join("\n") + "\n");
}, 100));
if (kmsgRate > 0) timers.push(setInterval(() => {
  // rotation one minute, copytruncate the next
  if (kturn++ % 2 === 0) renameSync(kmsgPath, kmsgPath + ".1"), writeFileSync(kmsgPath, "");
  else writeFileSync(kmsgPath, "");
}, 60_000));
let badUser = 0;
timers.push(setInterval(async () => {
  const bad = "Basic " + Buffer.from(`user${badUser++}:nope${badUser}`).toString("base64");
  await (await req("/api/v1/status", { headers: { authorization: bad } }))?.arrayBuffer();
}, 1000));

// ---- sampling ----
function procStat(): Record<string, number> {
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(st.match(new RegExp(`^${k}:\\s+(\\d+)`, "m"))?.[1] ?? NaN);
  let children = 0, zombies = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) === pid) {
        children++;
        if (f[0] === "Z") zombies++;
      }
    } catch {}
  }
  return { rss_kb: kb("VmRSS"), hwm_kb: kb("VmHWM"), threads: kb("Threads"), fds: readdirSync(`/proc/${pid}/fd`).length, children, zombies };
}
async function timed(path: string): Promise<{ ms: number; body: string }> {
  const t = performance.now();
  const r = await req(path, {}, 20_000);
  const body = r ? await r.text() : "";
  return { ms: Math.round((performance.now() - t) * 10) / 10, body };
}
const samplesPath = join(out, "samples.ndjson");
writeFileSync(samplesPath, "");
let lastLog = 0;
const lastCounter = new Map<string, number>();
const first: Record<string, unknown>[] = [];
async function sample(): Promise<Record<string, unknown>> {
  const h = await timed("/healthz");
  const m = await timed("/metrics");
  const fam = new Map<string, number>();
  let series = 0;
  const pick: Record<string, number> = {};
  const counters = new Set<string>();
  const backwards: string[] = [];
  const seenNow = new Set<string>();
  for (const l of m.body.split("\n")) {
    const t = /^# TYPE (\S+) (counter|histogram)$/.exec(l);
    if (t) counters.add(t[1]);
    if (l === "" || l.startsWith("#")) continue;
    series++;
    const name = l.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0];
    fam.set(name, (fam.get(name) ?? 0) + 1);
    const v = Number(l.slice(l.lastIndexOf(" ") + 1));
    // A counter (or a histogram's parts) must never go down while the process lives.
    const key = l.slice(0, l.lastIndexOf(" "));
    if (counters.has(name) || counters.has(name.replace(/_(bucket|sum|count)$/, ""))) {
      const before = lastCounter.get(key);
      if (before !== undefined && v < before) backwards.push(`${key}: ${before} -> ${v}`);
      lastCounter.set(key, v);
      seenNow.add(key);
    }
    if (/^(xctl_events_total|xctl_active_processes|xctl_active_resources|xctl_error_nodes|process_resident_memory_bytes|xctl_diagnoses_total|process_open_fds|xctl_sse_clients|nodejs_heap_size_used_bytes|xctl_ingest_queue_bytes|process_cpu_seconds_total)$/.test(name)) pick[name] = v;
    if (name === "xctl_probe_restarts_total" || name === "xctl_graph_evictions_total" || name === "xctl_sse_dropped_total" || name === "xctl_kmsg_records_total") pick[l.slice(0, l.lastIndexOf(" "))] = v;
  }
  const s = {
    t: new Date().toISOString(),
    ...procStat(),
    series,
    expo_bytes: m.body.length,
    healthz_ms: h.ms,
    metrics_ms: m.ms,
    log_lines: logLines - lastLog,
    counters_backwards: backwards,
    counters_gone: [...lastCounter.keys()].filter((k) => !seenNow.has(k)),
    top_families: Object.fromEntries([...fam].sort((a, b) => b[1] - a[1]).slice(0, 6)),
    ...pick,
  };
  lastLog = logLines;
  appendFileSync(samplesPath, JSON.stringify(s) + "\n");
  console.log(JSON.stringify(s));
  return s;
}

await new Promise((r) => setTimeout(r, 5000));
first.push(await sample());
while (Date.now() + everyMs <= endAt && child.exitCode === null) {
  await new Promise((r) => setTimeout(r, everyMs));
  await sample();
}
for (const t of timers) clearInterval(t);
const last = await sample();
child.kill("SIGTERM");
await new Promise((r) => setTimeout(r, 1500));
const msgs = [...byMsg].sort((a, b) => b[1] - a[1]).slice(0, 25);
writeFileSync(join(out, "log-messages.json"), JSON.stringify(msgs, null, 1));
console.log("\n== start vs end ==");
for (const k of Object.keys(last)) if (typeof last[k] === "number") console.log(`${k.padEnd(60)} ${String(first[0][k]).padStart(12)} -> ${last[k]}`);
console.log("\n== log lines by message (whole run) ==");
for (const [k, v] of msgs) console.log(String(v).padStart(7), k);
console.log(`\nsamples: ${samplesPath}; log: ${logPath}; exists=${existsSync(logPath)}`);
process.exit(0);
