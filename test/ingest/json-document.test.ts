import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { splitJsonDocument } from "../../src/ingest/json-document.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function split(text: string): [string, number][] | undefined {
  const b = enc.encode(text);
  return splitJsonDocument(b)?.map((e) => [dec.decode(b.subarray(e.from, e.to)), e.depth]);
}

describe("splitJsonDocument", () => {
  it("splits an array into its elements with each element's depth, strings and escapes skipped", () => {
    assert.deepEqual(split(' [ {"a":"x,]\\"}"} , 5,[[1]] ,{"b":{"c":[]}} ]\n'), [
      ['{"a":"x,]\\"}"}', 1],
      ["5", 0],
      ["[[1]]", 2],
      ['{"b":{"c":[]}}', 3],
    ]);
    assert.deepEqual(split("[]"), []);
    assert.deepEqual(split("[1,]"), [["1", 0], ["", 0]]);
    assert.deepEqual(split(""), []);
  });

  it("takes one object whole", () => {
    assert.deepEqual(split('{"a": {"b": 1}}'), [['{"a": {"b": 1}}', 2]]);
  });

  it("says when the body is not one array or object", () => {
    for (const text of ["{} {}", "{}\n{}", "[1", "[}", "{]", "nope", '["\\"]', "[1]]", "5"]) {
      assert.equal(split(text), undefined, text);
    }
  });

  it("measures nesting without recursion, however deep", () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    assert.deepEqual(split(`[1,${deep}]`)!.map(([, d]) => d), [0, 200_000]);
  });
});
