// The console sessions of docs/rules.md whose inputs the page shows whole (the quick rule, the
// NVLink rule and its event file) print what the exporter prints: each example is run as the
// page runs it, in a directory of its own, and its output compared line by line.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exporterCommand, ROOT } from "../_helpers.ts";

const doc = readFileSync(join(ROOT, "docs/rules.md"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "xctl-rules-doc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The body of the first fenced block of `lang` whose text includes `marker`. */
function _block(lang: string, marker: string): string {
  for (const m of doc.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    if (m[1] === lang && m[2].includes(marker)) return m[2];
  }
  throw new Error(`docs/rules.md has no \`\`\`${lang} block with ${marker}`);
}

/** Runs the exporter's CLI in `dir` as the page's `xctl-exporter ARGS`. */
function _cli(args: string[]): Promise<{ code: number | null; out: string[]; err: string[] }> {
  // Node's `--import tsx` is resolved from the working directory: name it by its URL.
  const [cmd, ...pre] = exporterCommand().map((a) => (a === "tsx" ? import.meta.resolve("tsx") : a));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(t);
      const lines = (s: string) => s.split("\n").filter((l) => l !== "");
      resolve({ code, out: lines(out), err: lines(err) });
    });
  });
}

/** The session's commands (`$ ...`) with the lines each printed and the status `echo $?` said. */
function _session(text: string): { args: string[]; printed: string[]; status: number | undefined }[] {
  const steps: { args: string[]; printed: string[]; status: number | undefined }[] = [];
  const lines = text.split("\n").filter((l) => l !== "");
  for (let i = 0; i < lines.length; i++) {
    const cmd = /^\$ xctl-exporter (.*)$/.exec(lines[i]);
    if (cmd) {
      steps.push({ args: cmd[1].split(" "), printed: [], status: undefined });
    } else if (lines[i] === "$ echo $?") {
      steps[steps.length - 1].status = Number(lines[++i]);
    } else {
      steps[steps.length - 1].printed.push(lines[i]);
    }
  }
  return steps;
}

describe("docs/rules.md examples", () => {
  it("the quick rule's check, with and without --strict, prints what the page shows", async () => {
    mkdirSync(join(dir, "site"));
    writeFileSync(join(dir, "site/nvlink_down.yaml"), _block("yaml", "scene: nvlink_down"));
    const steps = _session(_block("console", "rules check ./site"));
    assert.equal(steps.length, 2);
    for (const step of steps) {
      const { code, out, err } = await _cli(step.args);
      assert.deepEqual([...err, ...out], step.printed, `xctl-exporter ${step.args.join(" ")}`);
      assert.equal(code, step.status ?? 0, `xctl-exporter ${step.args.join(" ")}: exit status`);
    }
  });

  it("the NVLink rule's replay prints the series and the summary the page shows", async () => {
    mkdirSync(join(dir, "my-rules"));
    writeFileSync(join(dir, "my-rules/nvlink_error.yaml"), _block("yaml", "scene: nvlink_error"));
    const script = _block("sh", "cat > nvlink.ndjson");
    writeFileSync(join(dir, "nvlink.ndjson"), /<<'EOF'\n([\s\S]*?)^EOF$/m.exec(script)![1]);
    const command = /^xctl-exporter (replay .*?) \| grep '(.*)'$/m.exec(script)!;
    const { code, out, err } = await _cli(command[1].split(" "));
    assert.equal(code, 0);
    const series = out.filter((l) => l.includes(command[2]));
    assert.deepEqual(series, _block("console", `xctl_scene_active{scene="nvlink_error"}`).trim().split("\n"));
    // The summary's second line ends with the time taken, which differs from run to run.
    const summary = _block("console", "replay: ").trim().split("\n");
    assert.equal(err.length, summary.length, err.join("\n"));
    assert.equal(err[0], summary[0]);
    assert.equal(err[1].replace(/ in .*$/, ""), summary[1].replace(/ in .*$/, ""));
  });
});
