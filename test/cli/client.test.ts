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
import { freePort, runCli, startExporter, type RunningExporter } from "../_helpers.ts";
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
].join("\n");

const SLOW = { timeout: 60_000 }; // subprocesses: Deno starts slowly, Bun's default is 5 s

describe("ps and why against a running exporter", () => {
  let server: RunningExporter;
  before(async () => {
    server = await startExporter([]);
    const res = await fetch(`${server.url}/api/v1/events`, { method: "POST", body: SCENARIO });
    assert.deepEqual(await res.json(), { accepted: 6, rejected: [], rejected_total: 0 });
  }, SLOW);
  after(async () => {
    await server.stop();
  });

  it("ps prints PID, JOB_ID, RESOURCES, STATE as a table", SLOW, async () => {
    const r = await runCli(["ps", "--url", server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      ["PID  JOB_ID  RESOURCES     STATE", "7    job-a   gpu-0,mlx5_0  running", "42   -       gpu-1         sleeping", ""].join("\n"),
    );
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

  it("why of an unknown pid is one clear line and exit 1", SLOW, async () => {
    const r = await runCli(["why", "999", "--url", server.url]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `xctl-exporter: no process with pid 999 at ${server.url}\n`);
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
    assert.match(viaFlags.stdout, /^5 +job-z +gpu-0 +running$/m);
    const viaUrl = await runCli(["ps", "--url", `http://ops:${encodeURIComponent("p@ss:word")}@127.0.0.1:${server.port}`]);
    assert.equal(viaUrl.code, 0, viaUrl.stderr);
    assert.equal(viaUrl.stdout, viaFlags.stdout);
  });

  it("a refusal is one line naming the fix, exit 1", SLOW, async () => {
    for (const extra of [[], ["--user", "ops", "--password", "wrong"]]) {
      const r = await runCli(["why", "5", "--url", url, ...extra]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `xctl-exporter: the exporter at ${url} wants credentials (401): give --user and --password, or put them in the URL\n`);
    }
  });
});
