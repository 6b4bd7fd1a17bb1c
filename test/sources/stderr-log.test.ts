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

describe("StderrLog over days", () => {
  it("logs a probe that writes a line a second for an hour in a bounded number of lines, and counts the rest", () => {
    const out: string[] = [];
    const clock = { now: 1_800_000_000_000 };
    const s = new StderrLog((l) => out.push(l), { now: () => clock.now });
    for (let i = 0; i < 3600; i++) {
      s.push(enc.encode(`persistent fault: cannot reach device ${i}\n`));
      clock.now += 1000;
    }
    s.end();
    // Before the long window: all 3600 lines (one a second is under 20 per 5 s), for as long as it lasts.
    const perLong = s.linesPerLongWindow + 1;
    assert.ok(out.length <= (3600_000 / s.longWindowMs) * perLong, `${out.length} lines logged for 3600`);
    // Nothing is lost from the account: each line is logged or counted in a summary.
    let shown = 0;
    for (const l of out) {
      const m = /^\((\d+) more stderr lines? not logged since (\S+): more than 120 lines in 10m, the probe keeps writing\)$/.exec(l);
      if (m !== null) {
        shown += Number(m[1]);
        assert.ok(Date.parse(m[2]) >= 1_800_000_000_000);
      } else {
        assert.match(l, /^persistent fault: cannot reach device \d+$/);
        shown++;
      }
    }
    assert.equal(shown, 3600);
    // The fault still shows in every long window.
    assert.equal(out.filter((l) => l.startsWith("persistent")).length, (3600_000 / s.longWindowMs) * s.linesPerLongWindow);
  });

  it("gives a flood its short-window summaries within the long budget, then only the long window's line", () => {
    const out: string[] = [];
    const clock = { now: 0 };
    const s = new StderrLog((l) => out.push(l), { now: () => clock.now, linesPerWindow: 2, windowMs: 1000, linesPerLongWindow: 6, longWindowMs: 60_000 });
    for (let i = 0; i < 601; i++) {
      s.push(enc.encode(`x${i}\n`));
      clock.now += 100; // ten a second
    }
    // 0 s: x0 x1; 1 s: the first second's count, x10 x11; 2 s: the second's count, and the six
    // lines of the minute are spent: x20 to x599 are only counted, said when the minute ends.
    assert.deepEqual(out, [
      "x0",
      "x1",
      "(8 more stderr lines not logged)",
      "x10",
      "x11",
      "(8 more stderr lines not logged)",
      "(580 more stderr lines not logged since 1970-01-01T00:00:00.000Z: more than 6 lines in 1m, the probe keeps writing)",
      "x600",
    ]);
  });

  it("goes on after the wall clock steps back an hour, not an hour later", () => {
    const out: string[] = [];
    const clock = { now: 1_800_000_000_000 };
    const s = new StderrLog((l) => out.push(l), { now: () => clock.now, linesPerWindow: 2, windowMs: 1000, linesPerLongWindow: 4, longWindowMs: 60_000 });
    for (let i = 0; i < 10; i++) s.push(enc.encode(`a${i}\n`));
    assert.deepEqual(out, ["a0", "a1"]);
    clock.now -= 3_600_000;
    s.push(enc.encode("b0\n"));
    // The step back ends both windows: the counts are said, and the line is logged.
    assert.deepEqual(out.slice(2), ["(8 more stderr lines not logged)", "b0"]);
  });
});
