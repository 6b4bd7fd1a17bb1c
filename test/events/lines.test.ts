import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LineFramer, type BytesHandler } from "../../src/events/lines.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = new TextDecoder();

// Every case runs three ways: decoded by blocks (no bytes handler), line by line with a bytes
// handler that declines every line, and with one that takes the lines it can read as ASCII
// digits. The lines seen must not depend on which.
const modes: [string, ((into: string[]) => BytesHandler) | undefined][] = [
  ["blocks", undefined],
  ["bytes, declined", () => () => false],
  [
    "bytes, digits taken",
    (into) => (buf, from, to) => {
      for (let i = from; i < to; i++) if (buf[i] < 48 || buf[i] > 57) return false;
      into.push(dec.decode(buf.subarray(from, to)));
      return true;
    },
  ],
];

for (const [mode, handler] of modes) {
  function collect(max = 64) {
    const lines: string[] = [];
    const rejects: string[] = [];
    const f = new LineFramer(max, (l) => lines.push(l), (r) => rejects.push(r), handler?.(lines));
    return { f, lines, rejects };
  }

  describe(`LineFramer (${mode})`, () => {
    it("joins a line split across reads, at every split point", () => {
      const text = '{"a":1}\n{"b":"héllo"}\n';
      const bytes = enc(text);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const { f, lines, rejects } = collect();
        f.push(bytes.subarray(0, cut));
        f.push(bytes.subarray(cut));
        f.end();
        assert.deepEqual(lines, ['{"a":1}', '{"b":"héllo"}'], `cut at ${cut}`);
        assert.deepEqual(rejects, []);
      }
    });

    it("handles CRLF, blank lines and a last line without newline", () => {
      const { f, lines } = collect();
      f.push(enc('one\r\n\r\n   \n\ttwo\r\nthree'));
      assert.deepEqual(lines, ["one", "\ttwo"]);
      f.end();
      assert.deepEqual(lines, ["one", "\ttwo", "three"]);
    });

    it("rejects invalid UTF-8 on its own line and keeps the neighbours", () => {
      const { f, lines, rejects } = collect();
      const bad = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
      f.push(new Uint8Array([...enc("a\n"), ...bad, 10, ...enc("b\n")]));
      f.end();
      assert.deepEqual(lines, ["a", "b"]);
      assert.deepEqual(rejects, ["invalid_utf8"]);
    });

    it("rejects an over-long line once, without holding it, and goes on", () => {
      const { f, lines, rejects } = collect(16);
      f.push(enc("ok1\n" + "x".repeat(10)));
      for (let i = 0; i < 1000; i++) f.push(enc("y".repeat(100))); // 100 KB of one line
      f.push(enc("z\nok2\n"));
      f.end();
      assert.deepEqual(lines, ["ok1", "ok2"]);
      assert.deepEqual(rejects, ["too_long"]);
    });

    it("rejects a long line that arrives inside one chunk", () => {
      const { f, lines, rejects } = collect(16);
      f.push(enc("short\n" + "é".repeat(9) + "\n" + "q".repeat(17) + "\nend\n"));
      assert.deepEqual(lines, ["short", "end"]);
      assert.deepEqual(rejects, ["too_long", "too_long"]); // 18 bytes of é, 17 of q
    });

    it("counts the limit in bytes, not characters", () => {
      const { f, lines, rejects } = collect(16);
      f.push(enc("é".repeat(8) + "\n")); // 16 bytes: fits
      f.end();
      assert.equal(lines.length, 1);
      assert.deepEqual(rejects, []);
    });

    it("hands digits-only lines to the bytes handler and the rest to the line handler, in order", () => {
      const { f, lines, rejects } = collect(16);
      f.push(enc("12\r\nab\n34"));
      f.push(enc("5\n\n"));
      f.end();
      assert.deepEqual(lines, ["12", "ab", "345"]);
      assert.deepEqual(rejects, []);
    });
  });
}
