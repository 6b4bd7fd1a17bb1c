// A probe's stderr is logged by line, with long lines cut and floods summarised.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StderrLog } from "../../src/sources/stderr-log.ts";

const enc = new TextEncoder();

describe("StderrLog", () => {
  it("joins lines split across reads and logs a last line without newline at the end", () => {
    const out: string[] = [];
    const s = new StderrLog((l) => out.push(l));
    s.push(enc.encode("Traceback (most"));
    s.push(enc.encode(" recent call last):\r\n  File \"x.py\"\n\n   \nValueErr"));
    assert.deepEqual(out, ["Traceback (most recent call last):", '  File "x.py"']);
    s.push(enc.encode("or: bad"));
    s.end();
    assert.deepEqual(out.slice(2), ["ValueError: bad"]);
  });

  it("decodes a character split between reads", () => {
    const out: string[] = [];
    const s = new StderrLog((l) => out.push(l));
    const bytes = enc.encode("température élevée\n");
    s.push(bytes.subarray(0, 6));
    s.push(bytes.subarray(6));
    assert.deepEqual(out, ["température élevée"]);
  });

  it("cuts a long line, holds no more than the limit, and drops the rest of that line", () => {
    const out: string[] = [];
    const s = new StderrLog((l) => out.push(l), { maxLineChars: 10 });
    s.push(enc.encode("0123456789abcdef"));
    for (let i = 0; i < 100; i++) s.push(enc.encode("x".repeat(1000)));
    s.push(enc.encode("tail\nnext\n"));
    assert.deepEqual(out, ["0123456789 …(truncated)", "next"]);
  });

  it("logs a bounded number of lines per window and says how many it left out", () => {
    const out: string[] = [];
    const s = new StderrLog((l) => out.push(l), { linesPerWindow: 3, windowMs: 60_000 });
    for (let i = 0; i < 10; i++) s.push(enc.encode(`line ${i}\n`));
    assert.deepEqual(out, ["line 0", "line 1", "line 2"]);
    s.end();
    assert.deepEqual(out.slice(3), ["(7 more stderr lines not logged)"]);
  });
});
