// The README's first command, `npm start`, as a user runs it: npm, then Node with tsx's loader on
// src/main.ts serving the built-in demo. The rest of the Node run starts the exporter from tsc's
// JavaScript output of the same source (XCTL_NODE_JS, test/_helpers.ts); this is the one place
// the tsx way is started, so it runs under Node only (Bun and Deno start src/main.ts directly).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, freePort, ROOT, scrape, waitFor } from "../_helpers.ts";

declare const Bun: unknown;
declare const Deno: unknown;

const skip =
  typeof Bun !== "undefined" || typeof Deno !== "undefined"
    ? "npm start runs Node: tested in the Node run"
    : process.env.XCTL_BINARY
      ? "tests the source, not the binary"
      : process.platform === "win32" && "process groups";

describe("npm start", { skip }, () => {
  it("serves the demo through tsx, counts its events, and stops on SIGTERM", { timeout: 60_000 }, async () => {
    const start = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
    assert.match(start, /^node --import tsx src\/main\.ts .*--probe builtin:demo/, "the README says npm start is Node + tsx serving the demo");
    const port = await freePort();
    // Its own process group: npm runs a shell that runs node, and the signal goes to all three.
    const child = spawn("npm", ["start", "--silent", "--", "--host", "127.0.0.1", "--port", String(port)], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor(`${url}/healthz`, exited, 40_000);
      const m = await eventually(async () => {
        const s = await scrape(url);
        return (s.get("xctl_events_total") ?? 0) > 0 ? s : undefined;
      }, 20_000, `demo events counted\n${stderr}`);
      assert.equal(m.get('xctl_events_rejected_total{reason="invalid_json"}') ?? 0, 0);
      assert.ok([...m.keys()].some((k) => /^xctl_build_info\{.*runtime="node"/.test(k)), "xctl_build_info says Node");
      const status = (await (await fetch(`${url}/api/v1/status`)).json()) as { counts: { processes: number }; sources: { name: string; up: boolean }[] };
      assert.ok(status.counts.processes > 0, "the demo's processes are in the graph");
      assert.deepEqual(status.sources.map((s) => [s.name, s.up]), [["demo", true]]);
      process.kill(-child.pid!, "SIGTERM");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
      assert.notEqual(code, "still running", stderr);
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone already
      }
    }
  });
});
