// `ps` and `why` against a running exporter, as an operator runs them: real subprocesses, a
// real server, and nothing listening at all.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { Hono } from "hono";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { basicAuth } from "../../src/http/basic-auth.ts";
import type { AppEnv } from "../../src/http/env.ts";
import { createLogger } from "../../src/log.ts";
import { serve, type RunningServer } from "../../src/runtime/serve.ts";
import { spawn, spawnSync } from "node:child_process";
import { eventually, exporterCommand, freePort, runCli, startExporter, type RunningExporter } from "../_helpers.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, job_id: string | null = null, ts = T0): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

const SCENARIO = [
  line("process.state", "host", "start", 7, "job-a"),
  line("compute.util", "gpu-0", "85", 7, "job-a", T0 + 1),
  line("transport.bw", "mlx5_0", "IO_WAIT", 7, null, T0 + 2),
  line("compute.util", "gpu-1", "40", 42, null, T0 + 3),
  line("process.state", "host", "sleeping", 42, null, T0 + 4),
  line("error.hw", "gpu-0", "XID_79", null, null, T0 + 5),
  // A job id that tries to forge a row and to colour the terminal.
  line("process.state", "host", "start", 99, "evil\n1 fake running\u001b[31m", T0 + 6),
].join("\n");

/** The table with the AGE column (seconds since the last event, so it moves) made constant. */
function fixedAge(table: string): string {
  return table.replace(/ (\d+s|\d+m\d*s?)$/gm, " AGE");
}

const SLOW = { timeout: 60_000 }; // subprocesses: Deno starts slowly, Bun's default is 5 s

describe("ps and why against a running exporter", () => {
  let server: RunningExporter;
  before(async () => {
    server = await startExporter([]);
    const res = await fetch(`${server.url}/api/v1/events`, { method: "POST", body: SCENARIO });
    assert.deepEqual(await res.json(), { accepted: 7, rejected: [], rejected_total: 0 });
    // The automatic run after the debounce sets the active scenes (an on-demand run moves none).
    await eventually(
      async () => ((await (await fetch(`${server.url}/api/v1/diagnoses`)).json()) as { trigger: string }[]).some((r) => r.trigger === "auto"),
      10_000,
      "the automatic run",
    );
  }, SLOW);
  after(async () => {
    await server.stop();
  });

  it("ps prints PID, JOB, STATE, GPUS, WAITS_ON, BLOCKED_BY, SCENES, AGE; a forged job id stays in its cell", SLOW, async () => {
    const r = await runCli(["ps", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      fixedAge(r.stdout),
      [
        "PID  JOB                           STATE     GPUS   WAITS_ON  BLOCKED_BY    SCENES   AGE",
        "7    job-a                         running   gpu-0  mlx5_0    XID_79@gpu-0  gpu_xid  AGE",
        "42   -                             sleeping  gpu-1  -         -             -        AGE",
        "99   evil\\n1 fake running\\x1b[31m  running   -      -         -             -        AGE",
        "",
      ].join("\n"),
    );
    assert.ok(!r.stdout.includes("\u001b"), "no escape character reaches the terminal");
  });

  it("ps -o wide adds UPDATED, -o json is the API answer, --no-headers drops the header", SLOW, async () => {
    const wide = await runCli(["ps", "--url", server.url, "-o", "wide", "--no-headers"]);
    assert.equal(wide.code, 0, wide.stderr);
    const lines = wide.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^7 +job-a +running .* \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const json = await runCli(["ps", "--url", server.url, "-o", "json"]);
    assert.deepEqual((JSON.parse(json.stdout) as { pid: number }[]).map((x) => x.pid), [7, 42, 99]);
    const eq = await runCli(["ps", "--url", server.url, "-o=json"]); // kubectl's spelling
    assert.equal(eq.code, 0, eq.stderr);
    assert.deepEqual((JSON.parse(eq.stdout) as { pid: number }[]).map((x) => x.pid), [7, 42, 99]);
    const bad = await runCli(["ps", "--url", server.url, "-o", "yaml"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, `xctl-exporter: -o: "yaml" is not one of table, wide, json\n`);
  });

  it("ps --watch redraws (bounded here by --count) and exits 0", SLOW, async () => {
    const r = await runCli(["ps", "--url", server.url, "--watch", "--interval", "100ms", "--count", "2", "--no-headers"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/^Every 100ms: /gm) ?? []).length, 2);
    assert.equal((r.stdout.match(/^7 +job-a/gm) ?? []).length, 2);
  });

  it("piped, ps -o json --watch and status --json --watch print JSON documents and nothing else", SLOW, async () => {
    for (const args of [["ps", "-o", "json"], ["status", "--json"]]) {
      const r = await runCli([...args, "--url", server.url, "--watch", "--interval", "100ms", "--count", "2"]);
      assert.equal(r.code, 0, r.stderr);
      const docs: unknown[] = [];
      let rest = r.stdout.trim();
      while (rest !== "") {
        // Each document is pretty-printed: it ends at the first line that closes it.
        const end = rest.search(/^[\]}]$/m);
        assert.ok(end >= 0, `not JSON: ${rest.slice(0, 80)}`);
        docs.push(JSON.parse(rest.slice(0, end + 1)));
        rest = rest.slice(end + 1).trim();
      }
      assert.equal(docs.length, 2, args.join(" "));
    }
  });

  it("a bad XCTL_URL, XCTL_PORT or XCTL_HOST is named as the variable the user set (exit 2)", SLOW, async () => {
    for (const [env, message] of [
      [{ XCTL_URL: "ftp://x" }, /^xctl-exporter: XCTL_URL: "ftp:\/\/x" must be http:\/\/ or https:\/\/\n$/],
      [{ XCTL_URL: undefined, XCTL_PORT: "abc" }, /^xctl-exporter: XCTL_PORT: "abc" is not a port number \(0-65535\)\n$/],
      [{ XCTL_URL: undefined, XCTL_HOST: "bad^host" }, /^xctl-exporter: XCTL_HOST: "bad\^host" is not a host name or address\n$/],
    ] as const) {
      const r = await runCli(["status"], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it("a bad --count or --interval is refused with exit 2, with or without --watch", SLOW, async () => {
    for (const args of [["ps", "--count", "abc"], ["ps", "--count", "-1"], ["status", "--interval", "soon"], ["status", "--watch", "--interval", "10ms"]]) {
      const r = await runCli([...args, "--url", server.url]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^xctl-exporter: --(count|interval): "[^"]+" /, args.join(" "));
      assert.equal(r.stdout, "");
    }
  });

  it("--count or --interval without --watch is refused with exit 2, not one frame printed as if they did nothing", SLOW, async () => {
    for (const [args, flag] of [[["ps", "--count", "3"], "--count"], [["status", "--interval", "5s"], "--interval"], [["ps", "--json", "--count", "2", "--interval", "1s"], "--count"]] as const) {
      const r = await runCli([...args, "--url", server.url]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, `xctl-exporter: ${flag} redraws only with --watch (-w): add -w, or leave ${flag} out\n`);
      assert.equal(r.stdout, "");
    }
  });

  it("ps --watch stops on Ctrl-C (SIGINT) with exit 0", SLOW, async () => {
    const [cmd, ...pre] = exporterCommand();
    const child = spawn(cmd, [...pre, "ps", "--url", server.url, "--watch", "--interval", "100ms"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await eventually(() => (out.match(/^Every 100ms: /gm) ?? []).length >= 2, 30_000, "two frames");
    process.kill(child.pid!, "SIGINT");
    assert.equal(await exited, 0);
  });

  it("ps and status find the service from its own XCTL_HOST and XCTL_PORT", SLOW, async () => {
    const r = await runCli(["ps", "--no-headers"], { env: { XCTL_URL: undefined, XCTL_HOST: "0.0.0.0", XCTL_PORT: String(server.port) } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^42 /m);
  });

  it("status says what is wrong now: scenes, sources and counts", SLOW, async () => {
    const r = await runCli(["status", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^xctl-exporter \d+\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+: ready$/m);
    assert.match(r.stdout, /^No source configured/m);
    assert.match(r.stdout, /^Graph: 3 processes \(3 running\), 3 resources, 1 error; edges 2 consumes, 1 waits_on, 1 blocked_by$/m);
    const json = await runCli(["status", "--url", server.url, "--json"]);
    assert.equal((JSON.parse(json.stdout) as { counts: { events_accepted: number } }).counts.events_accepted, 7);
  });

  it("ps reads XCTL_URL, and --json prints the API answer", SLOW, async () => {
    const r = await runCli(["ps", "--json"], { env: { XCTL_URL: server.url } });
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { pid: number; blocked_by: string[] }[];
    assert.deepEqual(
      rows.map((x) => [x.pid, x.blocked_by]),
      [
        [7, ["error-gpu-0"]],
        [42, []],
        [99, []],
      ],
    );
  });

  it("why prints root causes, what it waits on and consumes, and scenes", SLOW, async () => {
    const r = await runCli(["why", "7", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    // Scenes come from the diagnosis: one line per scene the API names, or "none matching".
    const api = (await (await fetch(`${server.url}/api/v1/why/7`)).json()) as { scenes: { scene?: string }[] };
    const sceneLines = r.stdout.split("scenes:\n")[1].trimEnd().split("\n");
    if (api.scenes.length === 0) assert.deepEqual(sceneLines, ["  none matching"]);
    else assert.deepEqual(sceneLines.filter((l) => !l.startsWith("    ")).map((l) => l.trim().split(" ")[0]), api.scenes.map((s) => s.scene));
    assert.equal(
      r.stdout.split("scenes:\n")[0] + "scenes:\n",
      [
        "pid 7  job job-a  state running",
        "",
        "root causes:",
        `  XID_79 on gpu-0 (error-gpu-0, since ${new Date(T0 + 5).toISOString()})`,
        "waits on:",
        "  mlx5_0  bw=IO_WAIT",
        "consumes:",
        "  gpu-0  util=85",
        "scenes:",
        "",
      ].join("\n"),
    );
  });

  it("why of an unknown pid is one clear line and exit 1, which says the graph is not every process of the host", SLOW, async () => {
    // A process that runs (this test's own), as an SRE asks about a job they see in `ps aux`.
    const pid = process.pid;
    const r = await runCli(["why", String(pid), "--url", server.url]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      `xctl-exporter: no process with pid ${pid} at ${server.url}: no probe reported it, or it ended longer ago than --error-window ` +
        "(the graph holds the processes that probes, pushes and the nvidia-smi and npu-smi collectors report, not every process of the host: xctl-exporter ps lists them)\n",
    );
  });

  it("why of a pid that has left the graph says it ended and prints its last answer, with the scene that named it", SLOW, async () => {
    const ex = await startExporter(["--diagnosis-interval", "50ms"]);
    try {
      const now = Date.now() - 5_000;
      const body = [
        line("process.state", "host", "start", 4242, "job-oom", now),
        line("compute.util", "gpu-0", "90", 4242, "job-oom", now + 1),
        // The kernel's OOM killer, as builtin:kmsg reports it; the process leaves a second later.
        line("process.state", "memory", "oom_killed", 4242, null, now + 2),
        line("compute.util", "gpu-1", "50", 4243, "job-other", now + 2_500),
      ].join("\n");
      await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
      const gone = async () => ((await (await fetch(`${ex.url}/api/v1/processes`)).json()) as { pid: number }[]).every((p) => p.pid !== 4242);
      await eventually(gone, 20_000, "the killed process to leave the graph");
      const api = (await (await fetch(`${ex.url}/api/v1/why/4242`)).json()) as { ended: boolean; left_because: string; state: string; scenes: { scene: string }[] };
      assert.deepEqual([api.ended, api.left_because, api.state, api.scenes.map((x) => x.scene)], [true, "ended", "oom_killed", ["host_oom_kill"]]);
      const r = await runCli(["why", "4242", "--url", ex.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^pid 4242 {2}job job-oom {2}state oom_killed\nended: this process has ended and left the graph at \S+ \(removed after it ended; its last event \S+\)\.\nThis is its last answer, as it stood just before it left; kept until \S+\.\n/, r.stdout);
      assert.match(r.stdout, /^scenes:\n {2}host_oom_kill \(/m, r.stdout);
    } finally {
      await ex.stop();
    }
  });

  it("ps says so on stderr when the API cut the list (more than 10,000 processes)", SLOW, async () => {
    const ex = await startExporter([]);
    try {
      const now = Date.now();
      const body = Array.from({ length: 10_005 }, (_, i) => line("compute.util", `gpu-${i % 8}`, "50", 100_000 + i, null, now)).join("\n");
      const res = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
      assert.equal(((await res.json()) as { accepted: number }).accepted, 10_005);
      const r = await runCli(["ps", "--url", ex.url, "--no-headers"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trimEnd().split("\n").length, 10_000);
      assert.equal(r.stderr, "xctl-exporter: ps: showing the first 10000 of 10005 processes (by pid), the API's limit\n");
    } finally {
      await ex.stop();
    }
  });

  it("bad usage is exit 2", SLOW, async () => {
    for (const args of [["why", "abc"], ["ps", "extra"], ["ps", "--url", "not a url"], ["ps", "--nope"]]) {
      const r = await runCli([...args, ...(args.includes("--url") ? [] : ["--url", server.url])]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

describe("when nothing listens", () => {
  it("ps and why say so in one line and exit 1", SLOW, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    for (const args of [["ps"], ["why", "7"]]) {
      const r = await runCli([...args, "--url", url]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `xctl-exporter: cannot reach the exporter at ${url}: connection refused (is it running?)\n`);
    }
  });
});

describe("behind basic auth", () => {
  // The real app behind the real basic-auth middleware, served by the real runtime edge.
  let server: RunningServer;
  let url: string;
  before(async () => {
    const exporter = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    await ingestLine(exporter, line("compute.util", "gpu-0", "1", 5, "job-z"), "test");
    const app = new Hono<AppEnv>();
    app.use(basicAuth(new Map([["ops", bcrypt.hashSync("p@ss:word", 4)]])));
    app.route("/", createApp(exporter));
    server = await serve({ port: 0, hostname: "127.0.0.1", fetch: (req, env) => app.fetch(req, env) });
    url = `http://127.0.0.1:${server.port}`;
  }, SLOW);
  after(async () => {
    await server.close();
  });

  it("sends credentials from --user/--password or from the URL", SLOW, async () => {
    const viaFlags = await runCli(["ps", "--url", url, "--user", "ops", "--password", "p@ss:word"]);
    assert.equal(viaFlags.code, 0, viaFlags.stderr);
    assert.match(viaFlags.stdout, /^5 +job-z +running +gpu-0 +- +- +- +\d+s$/m);
    const viaUrl = await runCli(["ps", "--url", `http://ops:${encodeURIComponent("p@ss:word")}@127.0.0.1:${server.port}`]);
    assert.equal(viaUrl.code, 0, viaUrl.stderr);
    assert.equal(fixedAge(viaUrl.stdout), fixedAge(viaFlags.stdout));
  });

  it("a refusal is one line naming the fix, exit 1; a wrong password is not called missing", SLOW, async () => {
    const none = await runCli(["why", "5", "--url", url]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, `xctl-exporter: the exporter at ${url} wants credentials (401): give --user and --password, or put them in the URL\n`);
    const wrong = await runCli(["why", "5", "--url", url, "--user", "ops", "--password", "wrong"]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, `xctl-exporter: the exporter at ${url} refused the credentials of user "ops" (401): check the user and password\n`);
  });

  const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
  it("--user without --password asks on the terminal, without echo", { ...SLOW, skip: !hasScript && "script (util-linux) not installed" }, async () => {
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const cmd = [...exporterCommand(), "ps", "--url", url, "--user", "ops", "--no-headers"].map(quote).join(" ");
    // script(1) gives the command a terminal; the password is typed once it is asked for.
    const child = spawn("script", ["-qec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
    const r = { stdout: "", stderr: "", code: null as number | null };
    child.stdout!.on("data", (d) => (r.stdout += d));
    child.stderr!.on("data", (d) => (r.stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await eventually(() => r.stdout.includes("Password for ops: "), 30_000, "the prompt");
    child.stdin!.write("p@ss:word\r");
    r.code = await exited;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Password for ops: /);
    assert.ok(!r.stdout.includes("p@ss:word"), "the password is not echoed");
    assert.match(r.stdout, /^5 +job-z +running/m);
  });

  it("--user without --password and no terminal to ask on: exit 2, one line", SLOW, async () => {
    const r = await runCli(["ps", "--url", url, "--user", "ops"], { input: "" });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "xctl-exporter: --user: give --password (or XCTL_PASSWORD) too; there is no terminal to ask on\n");
  });
});
