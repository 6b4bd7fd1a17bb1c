// Standard output written straight to its descriptor (src/stdio.ts): whole, and each byte once,
// even through a pipe that another process left non-blocking and that fills before its reader
// reads (Deno's writeSync throws EAGAIN after writing part, without saying how much).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, run } from "../_helpers.ts";

declare const Bun: unknown;
declare const Deno: unknown;

/** argv that runs a TypeScript file under the runtime running this test. */
function _runtime(script: string): string[] {
  if (typeof Bun !== "undefined") return [process.execPath, script];
  if (typeof Deno !== "undefined") return [process.execPath, "run", "-A", script];
  return [process.execPath, "--import", "tsx", script];
}

describe("standard output", () => {
  it("writes 1 MiB whole, each byte once, through a full non-blocking pipe", async () => {
    const fixtures = join(ROOT, "test/fixtures/stdio");
    const r = await run("python3", [join(fixtures, "nonblocking-pipe.py"), ..._runtime(join(fixtures, "write-mib.ts"))], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${(1 << 20) + 1} bytes, 0 not x`);
  });
});
