// docs/rules.md's "Testing a rule" walkthrough run as written, with the binary as
// `xctl-exporter`: the example rule and event file from the document, the commands from its
// shell blocks (only the port is this machine's), and `why 4242` answering what the document
// shows.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, freePort, waitFor } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const DOC = readFileSync(join(ROOT, "docs/rules.md"), "utf8");

/** The body of each fenced block of a language, in order. */
function _blocks(lang: string): string[] {
  return [...DOC.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm"))].map((m) => m[1]);
}

describe("docs/rules.md, Testing a rule", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  const dir = BINARY ? mkdtempSync(join(tmpdir(), "xctl-walk-")) : "";
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("feeds the event file to a running exporter with the example rule, and why 4242 names XID_74 and nvlink_error", async () => {
    mkdirSync(join(dir, "my-rules"));
    writeFileSync(join(dir, "my-rules/nvlink_error.yaml"), _blocks("yaml")[0]);
    const sh = _blocks("sh");
    const file = sh.find((b) => b.startsWith("cat > nvlink.ndjson <<'EOF'\n"));
    assert.ok(file, "the event file's block");
    writeFileSync(join(dir, "nvlink.ndjson"), /<<'EOF'\n([\s\S]*?)^EOF$/m.exec(file)![1]);
    const block = sh.find((b) => /--stdin < nvlink\.ndjson &/.test(b));
    assert.ok(block, "the block that runs the exporter");
    const lines = block.trim().split("\n");
    const serve = lines.find((l) => l.startsWith("xctl-exporter --port 9091 "))!;
    assert.ok(serve, block);
    assert.equal(lines.at(-1), "xctl-exporter why 4242");

    const port = await freePort();
    const cmd = serve.replace(/^xctl-exporter /, `${JSON.stringify(BINARY)} `).replace("--port 9091", `--port ${port}`).replace(/ &$/, "");
    const child = spawn("sh", ["-c", `exec ${cmd}`], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise((r) => child.once("exit", r));
    try {
      await waitFor(`http://127.0.0.1:${port}/healthz`, exited);
      // `sleep 1` in the document: the file is read by then.
      await new Promise((r) => setTimeout(r, 1000));
      const why = spawnSync(BINARY!, ["why", "4242"], { cwd: dir, encoding: "utf8", env: { ...process.env, XCTL_PORT: String(port) }, timeout: 10_000 });
      assert.equal(why.status, 0, `${why.stdout}${why.stderr}\n${err}`);
      assert.match(why.stdout, /^pid 4242 {2}job job-7 {2}state running$/m);
      assert.match(why.stdout, /^ {2}XID_74 on gpu-02 \(error-gpu-02,/m);
      assert.match(why.stdout, /^ {2}nvlink_error \(NVLink error\), critical, confidence 1\.00$/m);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
