import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LineFramer, type BytesHandler } from "../../src/events/lines.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = new TextDecoder();

// Every case runs three ways: decoded by blocks (no bytes handler), with a bytes handler that
// declines every line, and with one that takes the lines of ASCII digits (CRLF or LF) it finds
// at the start of what it is offered. The lines seen must not depend on which.
const modes: [string, ((into: string[], max: number) => BytesHandler) | undefined][] = [
  ["blocks", undefined],
  ["bytes, declined", () => (_buf, from) => from],
  [
    "bytes, digits taken",
    (into, max) => (buf, from, to) => {
      let at = from;
      for (;;) {
        let i = at;
        while (i < to && buf[i] >= 48 && buf[i] <= 57) i++;
        const end = buf[i] === 13 ? i + 1 : i;
        if (i === at || end >= to || buf[end] !== 10 || i - at > max) return at;
        into.push(dec.decode(buf.subarray(at, i)));
        at = end + 1;
        if (at >= to) return at;
      }
    },
  ],
];

for (const [mode, handler] of modes) {
  function collect(max = 64) {
    const lines: string[] = [];
    const rejects: string[] = [];
    const f = new LineFramer(max, (l) => lines.push(l), (r) => rejects.push(r), handler?.(lines, max));
    return { f, lines, rejects };
  }

  describe(`LineFramer (${mode})`, () => {
    it("ends a line at a lone CR as at a newline, and takes CRLF as one line end", () => {
      const { f, lines, rejects } = collect();
      f.push(enc('{"a":1}\r{"b":2}\r\n{"c":3}\r'));
      f.push(enc("\n12\r34\n"));
      f.end();
      assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}', "12", "34"]);
      assert.deepEqual(rejects, []);
    });

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

    it("sees the same lines, in order, whichever handler takes them", () => {
      const { f, lines, rejects } = collect(16);
      f.push(enc("12\r\nab\n34"));
      f.push(enc("5\n\n67\n\r\n8\n" + "9".repeat(17) + "\n0"));
      f.end();
      assert.deepEqual(lines, ["12", "ab", "345", "67", "8", "0"]);
      assert.deepEqual(rejects, ["too_long"]);
    });
  });
}
