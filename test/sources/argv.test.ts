// --probe CMD split into argv the way a POSIX shell splits words (no expansion of any kind).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../../src/cli/errors.ts";
import { splitCommand } from "../../src/sources/argv.ts";

const CASES: [string, string[]][] = [
  ["probe", ["probe"]],
  ["  /opt/p  --interval 1s ", ["/opt/p", "--interval", "1s"]],
  ["a\tb\nc", ["a", "b", "c"]],
  ["", []],
  ["   ", []],
  ["p 'two words'", ["p", "two words"]],
  ["p 'it''s'", ["p", "its"]],
  [`p 'a "b" \\c'`, ["p", 'a "b" \\c']],
  [`p "two words"`, ["p", "two words"]],
  [`p "say \\"hi\\""`, ["p", 'say "hi"']],
  [`p "back\\\\slash"`, ["p", "back\\slash"]],
  [`p "keep \\n and \\t"`, ["p", "keep \\n and \\t"]],
  [`p "\\$HOME \\\`x\\\`"`, ["p", "$HOME `x`"]],
  [`p "$HOME" *.txt ~ a|b >out`, ["p", "$HOME", "*.txt", "~", "a|b", ">out"]],
  ["p a\\ b", ["p", "a b"]],
  ["p \\'q\\'", ["p", "'q'"]],
  ["p \\\\", ["p", "\\"]],
  ["p trailing\\", ["p", "trailing\\"]],
  ["p a\\\nb", ["p", "ab"]],
  [`p "a\\\nb"`, ["p", "ab"]],
  ["p '' \"\"", ["p", "", ""]],
  [`p x'y'"z"w`, ["p", "xyzw"]],
  [`python3 -c 'print("{}")'`, ["python3", "-c", 'print("{}")']],
  ["p é 'ü ß'", ["p", "é", "ü ß"]],
];

describe("splitCommand", () => {
  for (const [input, want] of CASES) {
    it(`splits ${JSON.stringify(input)}`, () => {
      assert.deepEqual(splitCommand(input), want);
    });
  }

  for (const bad of [`p 'open`, `p "open`, `p "a\\"`, `p 'a'"b`]) {
    it(`refuses the unclosed quote in ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => splitCommand(bad),
        (e: unknown) => e instanceof UsageError && /--probe/.test(e.message) && /unclosed/.test(e.message),
      );
    });
  }
});
