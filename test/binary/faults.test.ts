// Faults from probes, clients and the operator, each against the compiled binary: none may take
// the exporter down or lose the valid data around them. Runs only with XCTL_BINARY set
// (scripts/test.sh builds the binary and sets it). Probes are the sh scripts in
// test/fixtures/fault-probes/.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect, createServer, type Socket } from "node:net";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logged, ROOT, runCli, scrape, sleep, startExporter, type RunningExporter, type StartOptions } from "../_helpers.ts";
import { SEED_METRICS } from "../../src/metrics/names.ts";
import { cpuSeconds, isRunning, memoryBytes } from "./_proc.ts";

const BINARY = process.env.XCTL_BINARY;
const FAULTS = join(ROOT, "test/fixtures/fault-probes");
const MiB = 1024 * 1024;

/** Runs `body` against a fresh exporter and always stops it (and removes `dir`, if any). */
async function withExporter(args: string[], body: (ex: RunningExporter) => Promise<void>, opts: StartOptions = {}): Promise<void> {
  const ex = await startExporter(args, opts);
  try {
    await body(ex);
  } finally {
    await ex.stop(); // SIGTERM, so the probes are stopped too (SIGKILL after 5 s)
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "xctl-fault-"));
}

/** Polls at a gentle rate (a scrape costs CPU, and some tests measure CPU). */
async function until<T>(what: string, check: () => Promise<T | null | false>, timeoutMs = 15_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

async function metric(ex: RunningExporter, series: string): Promise<number> {
  const v = (await scrape(ex.url)).get(series);
  if (v === undefined) throw new Error(`${series} not served`);
  return v;
}

async function assertServing(ex: RunningExporter): Promise<void> {
  assert.equal((await fetch(`${ex.url}/healthz`)).status, 200);
  const res = await fetch(`${ex.url}/metrics`);
  assert.equal(res.status, 200);
  const page = await res.text();
  for (const name of Object.keys(SEED_METRICS)) assert.ok(page.includes(`# TYPE ${name} `), name);
}

describe("faults, through the compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("a crash-looping probe is restarted with backoff, counted, and costs little CPU", { timeout: 30_000 }, async () => {
    const started = performance.now();
    await withExporter(["--probe", join(FAULTS, "crash-loop.sh")], async (ex) => {
      const pid = ex.child.pid!;
      const series = 'xctl_probe_restarts_total{probe="crash-loop.sh"}';
      await until("a first restart", async () => (await metric(ex, series)) >= 1, 20_000, 250);
      // CPU of the exporter and of the probe runs it reaped, over a few seconds of crash loop.
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      await sleep(3000);
      const cpu = cpuSeconds(pid) - cpu0;
      const wall = (performance.now() - t0) / 1000;
      assert.ok(cpu < 0.25 * wall, `exporter used ${cpu.toFixed(2)} s of CPU in ${wall.toFixed(2)} s of crash loop`);
      await until("a second restart", async () => (await metric(ex, series)) >= 2, 20_000, 250);

      const restarts = await metric(ex, series);
      const elapsed = (performance.now() - started) / 1000;
      // Every restart waits at least the first backoff step (1 s); a loop without backoff
      // would have restarted hundreds of times by now.
      assert.ok(restarts <= elapsed + 1, `${restarts} restarts in ${elapsed.toFixed(1)} s`);
      assert.match(ex.stderr(), /restarting in 1s/);
      assert.match(ex.stderr(), /restarting in 2s/);
      assert.match(ex.stderr(), /probe exited with status 3/);
      // Each run printed one valid event before dying: none of them was lost.
      assert.ok((await metric(ex, "xctl_events_total")) >= restarts);
      await assertServing(ex);
    });
  });

  it("binary garbage and over-long lines are rejected by reason, valid lines kept, memory bounded", { timeout: 60_000 }, async () => {
    const dir = tempDir();
    try {
      await withExporter(["--probe", `${join(FAULTS, "garbage.sh")} ${dir}`], async (ex) => {
        const pid = ex.child.pid!;
        await scrape(ex.url);
        const before = memoryBytes(pid, "VmRSS");
        writeFileSync(join(dir, "go"), ""); // the probe starts writing now
        await until("the four valid events", async () => (await metric(ex, "xctl_events_total")) === 4, 45_000);
        const m = await until("the rejections", async () => {
          const m = await scrape(ex.url);
          return m.get('xctl_events_rejected_total{reason="too_long"}') === 3 ? m : null;
        });
        const peak = memoryBytes(pid, "VmHWM");
        assert.equal(m.get('xctl_events_by_type{event_type="compute.util"}'), 4);
        assert.equal(m.get('xctl_events_rejected_total{reason="invalid_utf8"}'), 1);
        assert.equal(m.get('xctl_events_rejected_total{reason="invalid_json"}'), 1);
        assert.equal(m.get('xctl_probe_up{probe="garbage.sh"}'), 1);
        assert.equal(m.get('xctl_probe_restarts_total{probe="garbage.sh"}'), 0);
        // The last long line is 128 MiB: holding it whole would cost at least that much.
        const growth = peak - before;
        assert.ok(growth < 64 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB while 148 MiB of over-long lines went by`);
        await assertServing(ex);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a probe that hangs silent stays up while its last-event time ages", { timeout: 20_000 }, async () => {
    await withExporter(["--probe", join(FAULTS, "hang.sh")], async (ex) => {
      const series = 'xctl_probe_last_event_timestamp_seconds{probe="hang.sh"}';
      const first = await until("the one event", async () => await metric(ex, series), 10_000, 100);
      await sleep(2500);
      const m = await scrape(ex.url);
      assert.equal(m.get(series), first, "no event since the first");
      assert.equal(m.get('xctl_probe_up{probe="hang.sh"}'), 1, "the probe still runs");
      assert.equal(m.get('xctl_probe_restarts_total{probe="hang.sh"}'), 0);
      // What an alert computes: time() - xctl_probe_last_event_timestamp_seconds.
      assert.ok(Date.now() / 1000 - first >= 2.4, `age ${Date.now() / 1000 - first}`);
      await assertServing(ex);
    });
  });

  it("a probe that cannot be started: down with the reason in status, no restarts, said once, exporter up", { timeout: 30_000 }, async () => {
    const probes = [
      { spec: "/nonexistent/xctl-probe", name: "xctl-probe", why: "cannot start: /nonexistent/xctl-probe: no such file" },
      { spec: "xctl-no-such-probe", name: "xctl-no-such-probe", why: "cannot start: xctl-no-such-probe: not found on PATH" },
      { spec: join(FAULTS, "not-executable.sh"), name: "not-executable.sh", why: `cannot start: ${join(FAULTS, "not-executable.sh")}: not executable (permission denied)` },
    ];
    // Beside them, one that starts and dies at once: it still counts restarts and crash-loops.
    const args = [...probes.flatMap((p) => ["--probe", p.spec]), "--probe", join(FAULTS, "crash-loop.sh"), "--log-level", "debug"];
    await withExporter(args, async (ex) => {
      // Two retries each (debug says each), so a reason repeated on every retry would show.
      await until("two retries of each probe", async () => {
        const tries = ex.stderr().split("\n").filter((l) => l.includes("start failed; next try in"));
        return probes.every((p) => tries.filter((l) => l.includes(`[${p.name}]`) || l.includes(`tag=${p.name}`) || l.includes(`"tag":"${p.name}"`)).length >= 3);
      });
      await until("the crash loop", async () => (await metric(ex, 'xctl_probe_restarts_total{probe="crash-loop.sh"}')) >= 2);
      const m = await scrape(ex.url);
      const lines = ex.stderr().split("\n");
      const cli = await runCli(["status", "--url", ex.url]);
      assert.equal(cli.code, 0, cli.stderr);
      const json = JSON.parse((await runCli(["status", "--url", ex.url, "--json"])).stdout) as { sources: { name: string; state: string; restarts: number; reason: string | null }[] };
      for (const p of probes) {
        assert.equal(m.get(`xctl_probe_up{probe="${p.name}"}`), 0, p.name);
        assert.equal(m.get(`xctl_probe_restarts_total{probe="${p.name}"}`), 0, p.name);
        const row = cli.stdout.split("\n").find((l) => l.trim().startsWith(`${p.name} `));
        assert.match(row ?? "", new RegExp(`^  ${p.name.replace(/\./g, "\\.")} +down +0 +never +${p.why.replace(/[.()/]/g, "\\$&")}$`), cli.stdout);
        assert.deepEqual(json.sources.filter((s) => s.name === p.name).map((s) => [s.state, s.restarts, s.reason]), [["down", 0, p.why]]);
        // The start summary's list of sources, the service's transition lines (source down) and
        // the debug retry lines name the source, not the cause: the cause is said once.
        const said = lines.filter((l) => l.includes(p.spec) && !/ (sources|source (down|up|crash-looping)): |start failed; next try in/.test(l));
        assert.equal(said.length, 1, `one line for ${p.spec}:\n${ex.stderr()}`);
        assert.match(said[0], /error/);
        assert.ok(said[0].includes(p.why), said[0]);
      }
      assert.match(cli.stdout, /^  crash-loop\.sh +crash-looping +[2-9] /m, cli.stdout);
      assert.doesNotMatch(ex.stderr(), /source crash-looping: (xctl-probe|xctl-no-such-probe|not-executable\.sh)/);
      await assertServing(ex);
    });
  });

  it("stdin closed at once: the stdin source is down, the exporter serves and takes pushes", { timeout: 20_000 }, async () => {
    await withExporter(
      ["--stdin"],
      async (ex) => {
        await until("stdin down", async () => (await metric(ex, 'xctl_probe_up{probe="stdin"}')) === 0, 10_000, 100);
        await logged(ex, /standard input closed/);
        const push = await fetch(`${ex.url}/api/v1/events`, {
          method: "POST",
          body: '{"event_type":"compute.util","entity_id":"gpu-0","value":"5"}\n',
        });
        assert.equal(push.status, 200, await push.clone().text());
        assert.equal(await metric(ex, "xctl_events_total"), 1);
        await sleep(500);
        assert.equal(ex.child.exitCode, null, "still running");
        await assertServing(ex);
      },
      { stdin: "ignore" }, // /dev/null: end of input before the first read
    );
  });

  it("stdin closed after a few lines: the lines count, the exporter carries on", { timeout: 20_000 }, async () => {
    await withExporter(
      ["--stdin"],
      async (ex) => {
        const ev = '{"event_type":"compute.mem","entity_id":"gpu-1","pid":3,"value":"70"}\n';
        ex.child.stdin!.end(ev + ev + ev.trimEnd()); // the last line has no newline
        await until("three events", async () => (await metric(ex, "xctl_events_total")) === 3, 10_000, 100);
        await until("stdin down", async () => (await metric(ex, 'xctl_probe_up{probe="stdin"}')) === 0, 10_000, 100);
        await sleep(500);
        assert.equal(ex.child.exitCode, null, "still running");
        await assertServing(ex);
      },
      { stdin: "pipe" },
    );
  });

  it("SIGTERM during heavy ingest exits 0 without hanging and reaps the probe and its children", { timeout: 30_000 }, async () => {
    const dir = tempDir();
    try {
      const ex = await startExporter(["--probe", `sh ${join(FAULTS, "flood.sh")} ${dir}`]);
      let push: ReturnType<typeof request> | undefined;
      try {
        await until("a flood of events", async () => (await metric(ex, "xctl_events_total")) > 100_000, 15_000);
        const pids = ["probe.pid", "writer.pid"].map((f) => Number(readFileSync(join(dir, f), "utf8")));
        for (const pid of pids) assert.ok(isRunning(pid), `probe process ${pid} runs`);

        // And a big push in flight: 4 MiB sent of a body that never ends.
        push = request(`${ex.url}/api/v1/events`, { method: "POST", headers: { "content-type": "application/x-ndjson" } });
        push.on("error", () => {}); // the exporter goes away mid-body
        const line = '{"event_type":"storage.iops","entity_id":"nvme0n1","pid":5,"value":"0.5"}\n';
        const chunk = line.repeat(Math.ceil(MiB / line.length));
        for (let i = 0; i < 4; i++) push.write(chunk);
        await until("the push being read", async () => (await metric(ex, 'xctl_events_by_type{event_type="storage.iops"}')) > 0, 10_000);

        // stop() sends SIGKILL after 5 s: a hang shows as exit code null, not 0.
        const code = await ex.stop("SIGTERM");
        assert.equal(code, 0, `exit status ${code}, signal ${ex.child.signalCode}\n${ex.stderr().slice(-2000)}`);
        for (const pid of pids) {
          await until(`probe process ${pid} gone`, async () => !isRunning(pid), 5_000, 50);
        }
      } finally {
        push?.destroy();
        await ex.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a port already in use: exit 1 with one line", { timeout: 20_000 }, async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await runCli(["--host", "127.0.0.1", "--port", String(port)], { timeoutMs: 10_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}: address already in use`));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
    // And against a running exporter, which must not share its port.
    await withExporter([], async (ex) => {
      const r = await runCli(["--host", "127.0.0.1", "--port", String(ex.port)], { timeoutMs: 10_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      await assertServing(ex);
    });
  });

  it("hundreds of connections that never finish or never read do not starve a normal client", { timeout: 40_000 }, async () => {
    await withExporter(["--probe", "builtin:demo?speed=10"], async (ex) => {
      const pid = ex.child.pid!;
      const fds = () => readdirSync(`/proc/${pid}/fd`).length;
      const fds0 = fds();
      const sockets: Socket[] = [];
      try {
        const opened = Array.from({ length: 300 }, (_, i) =>
          new Promise<void>((resolve, reject) => {
            const s = connect(ex.port, "127.0.0.1");
            sockets.push(s);
            s.on("error", () => {});
            s.once("error", reject);
            s.once("connect", () => {
              s.pause(); // never read what the exporter answers
              // Half stop in the middle of the headers; half ask for the page and never read it.
              s.write(i % 2 === 0 ? "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: te" : "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
              resolve();
            });
          }),
        );
        await Promise.all(opened);
        await until("the exporter holding the connections", async () => fds() >= fds0 + 250, 10_000, 100);
        // A normal client is served while they hang on.
        for (let i = 0; i < 3; i++) await assertServing(ex);
      } finally {
        for (const s of sockets) s.destroy();
      }
      // Closed by the clients, released by the exporter.
      await until("the connections released", async () => fds() < fds0 + 20, 10_000, 100);
      await assertServing(ex);
    });
  });

  it("a quiet event stream stays open past the server's idle timeout and gets heartbeats", { timeout: 40_000 }, async () => {
    // No source: nothing to send but the heartbeat comment every 15 s. Bun closes a connection
    // that moves no bytes for 10 s unless told otherwise for that request.
    await withExporter([], async (ex) => {
      const ac = new AbortController();
      try {
        const res = await fetch(`${ex.url}/api/v1/events/stream`, { signal: ac.signal });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        const dec = new TextDecoder();
        let text = "";
        const deadline = Date.now() + 30_000;
        while (!text.includes(": heartbeat") && Date.now() < deadline) {
          const { done, value } = await reader.read().catch((e) => assert.fail(`the stream was cut: ${e} after ${JSON.stringify(text)}`));
          if (done) assert.fail(`the stream ended after ${JSON.stringify(text)}`);
          text += dec.decode(value, { stream: true });
        }
        assert.match(text, /: heartbeat\n\n/);
        assert.equal(await metric(ex, "xctl_sse_clients"), 1);
      } finally {
        ac.abort();
      }
    });
  });

  it("event-stream clients over --max-sse-clients get 503 and are counted", { timeout: 20_000 }, async () => {
    await withExporter(["--max-sse-clients", "2", "--probe", "builtin:demo"], async (ex) => {
      const streams = [new AbortController(), new AbortController()];
      try {
        for (const ac of streams) {
          const res = await fetch(`${ex.url}/api/v1/events/stream`, { signal: ac.signal });
          assert.equal(res.status, 200);
          assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
          await res.body!.getReader().read(); // the stream is open
        }
        const over = await fetch(`${ex.url}/api/v1/events/stream`);
        assert.equal(over.status, 503);
        assert.deepEqual(await over.json(), { error: "too many event-stream clients" });
        const m = await scrape(ex.url);
        assert.equal(m.get('xctl_sse_dropped_total{reason="too_many_clients"}'), 1);
        assert.equal(m.get("xctl_sse_clients"), 2);

        // A client that leaves frees its place.
        streams[0].abort();
        await until("a place freed", async () => (await metric(ex, "xctl_sse_clients")) === 1, 10_000, 100);
        const again = new AbortController();
        streams.push(again);
        const res = await fetch(`${ex.url}/api/v1/events/stream`, { signal: again.signal });
        assert.equal(res.status, 200);
        await assertServing(ex);
      } finally {
        for (const ac of streams) ac.abort();
      }
    });
  });
});
