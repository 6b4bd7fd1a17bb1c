// The compiled binary as a GPU host runs it: no node, bun or deno anywhere on PATH.
// Runs only with XCTL_BINARY set (scripts/test.sh builds the binary and sets it).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, existsSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startExporter, type RunningExporter } from "../_helpers.ts";
import { SEED_METRICS } from "../../src/metrics/names.ts";

const BINARY = process.env.XCTL_BINARY;

describe("compiled binary", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  let ex: RunningExporter;
  // A PATH with curl only: proves the binary needs no runtime on the host.
  const bin = mkdtempSync(join(tmpdir(), "xctl-path-"));
  after(async () => {
    await ex?.stop();
    rmSync(bin, { recursive: true, force: true });
  });
  const curl = execFileSync("sh", ["-c", "command -v curl"]).toString().trim();
  symlinkSync(curl, join(bin, "curl"));

  it("finds no JavaScript runtime on its PATH", () => {
    for (const rt of ["node", "bun", "deno"]) {
      const r = spawnSync("sh", ["-c", `command -v ${rt}`], { env: { PATH: bin } });
      assert.notEqual(r.status, 0, `${rt} is reachable`);
    }
    assert.ok(existsSync(BINARY!));
  });

  it("starts with an empty environment and serves every seed metric to curl", async () => {
    ex = await startExporter([], { cleanEnv: true, env: { PATH: bin } });
    const page = execFileSync(join(bin, "curl"), ["-sf", `${ex.url}/metrics`], { env: { PATH: bin } }).toString();
    for (const [name, type] of Object.entries(SEED_METRICS)) {
      assert.ok(page.includes(`# TYPE ${name} ${type}\n`), `# TYPE ${name} ${type}`);
    }
    assert.match(page, /xctl_build_info\{version="[^"]+",runtime="bun"\} 1/);
  });

  it("answers /healthz with 200", () => {
    const code = execFileSync(join(bin, "curl"), ["-s", "-o", "/dev/null", "-w", "%{http_code}", `${ex.url}/healthz`]).toString();
    assert.equal(code, "200");
  });

  it("exits 0 on SIGTERM", async () => {
    assert.equal(await ex.stop("SIGTERM"), 0);
  });

  it("prints its version and refuses a bad flag with exit 2", () => {
    const v = spawnSync(BINARY!, ["--version"], { env: {} });
    assert.equal(v.status, 0);
    assert.match(v.stdout.toString(), /^\d+\.\d+\.\d+/);
    const bad = spawnSync(BINARY!, ["--port", "70000"], { env: {} });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.toString().trim().split("\n").length, 1);
  });

  it("ends quietly with status 0 when the reader of its output leaves (| head)", async () => {
    // Standard output's read end is closed before the binary has even started: its first
    // write fails with EPIPE, which a command ends on without a word, as `| head` expects.
    const child = spawn(BINARY!, ["rules", "list", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    assert.equal(stderr, "");
    assert.equal(status, 0);
  });
});
