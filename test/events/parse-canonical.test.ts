// The JSON.parse-free reading of canonical lines must agree with JSON.parse + validateEvent on
// every line it accepts, and leave every other line to them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseCanonical, parseLine, validateEvent } from "../../src/events/parse.ts";
import { EVENT_TYPES } from "../../src/events/schema.ts";

const NOW = 1_732_500_000_000;

function slow(line: string) {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return "invalid_json";
  }
  return validateEvent(obj, NOW);
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

describe("parseCanonical", () => {
  it("reads the line probes print, with the schema's own event type string", () => {
    const line = '{"ts":1732500000000,"event_type":"compute.util","entity_id":"gpu-03","job_id":"job-567","pid":1234,"value":"85"}';
    const ev = parseCanonical(line);
    assert.deepEqual(ev, { ts: 1732500000000, event_type: "compute.util", entity_id: "gpu-03", job_id: "job-567", pid: 1234, value: "85" });
    assert.equal(ev!.event_type, EVENT_TYPES[0]);
    assert.deepEqual(parseLine(line, NOW), ev);
    assert.deepEqual(parseCanonical('{"ts":0,"event_type":"error.hw","entity_id":"g","job_id":null,"pid":null,"value":""}'), {
      ts: 0,
      event_type: "error.hw",
      entity_id: "g",
      job_id: null,
      pid: null,
      value: "",
    });
  });

  const declined = [
    '{"ts": 1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // whitespace
    '{"event_type":"compute.util","ts":1,"entity_id":"g","job_id":null,"pid":1,"value":"1"}', // order
    '{"ts":1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":1}', // numeric value
    '{"ts":1,"event_type":"compute.util","entity_id":"g\\u0041","job_id":null,"pid":1,"value":"1"}', // escape
    '{"ts":1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1","x":2}', // extra field
    '{"ts":01,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // leading zero
    '{"ts":1.0,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // fraction
    '{"ts":1e3,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // exponent
    '{"ts":-1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // negative
    '{"ts":1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":2147483648,"value":"1"}', // pid range
    '{"ts":1,"event_type":"compute.fan","entity_id":"g","job_id":null,"pid":1,"value":"1"}', // unknown type
    '{"ts":1,"event_type":"compute.util","entity_id":"","job_id":null,"pid":1,"value":"1"}', // empty entity
    `{"ts":1,"event_type":"compute.util","entity_id":"${"g".repeat(257)}","job_id":null,"pid":1,"value":"1"}`, // long entity
    '{"ts":1,"event_type":"compute.util","entity_id":"g\tx","job_id":null,"pid":1,"value":"1"}', // control character
    '{"ts":1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"} ', // trailing space
    '{"ts":1,"event_type":"compute.util","entity_id":"g","job_id":null,"pid":1,"value":"1"}}', // trailing brace
  ];
  for (const line of declined) {
    it(`leaves ${line.slice(0, 40)}… to JSON.parse, which decides the same as before`, () => {
      assert.equal(parseCanonical(line), undefined);
      assert.deepEqual(parseLine(line, NOW), slow(line));
    });
  }

  for (const seed of [11, 12, 13]) {
    it(`agrees with JSON.parse + validateEvent on 20,000 near-canonical lines (seed ${seed})`, () => {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
      const str = () => pick(["gpu-03", "", "a\\\"b", "é", "\u2028", "x\ty", "mlx5_0", "\\n", "g".repeat(256), "g".repeat(257), "null", "0"]);
      const num = () => pick(["0", "7", "-1", "01", "1.5", "1e3", "2147483647", "2147483648", "9007199254740991", "123456789012345", "1234567890123456", "null", '"5"', "true"]);
      // Mostly well-formed fields, now and then an odd one or one of the other kind.
      const field = (v: string, kind: "s" | "n") => (rand() < 0.1 ? (kind === "s" ? num() : `"${str()}"`) : v);
      const good = (odd: () => string, usual: string) => (rand() < 0.3 ? odd() : usual);
      let fast = 0;
      for (let i = 0; i < 20_000; i++) {
        const type = rand() < 0.9 ? pick(EVENT_TYPES) : pick(["compute.fan", "", "COMPUTE.UTIL"]);
        let line =
          `{"ts":${field(good(num, "1732500000123"), "n")},"event_type":"${type}","entity_id":${field(`"${good(str, "gpu-07")}"`, "s")},` +
          `"job_id":${rand() < 0.3 ? "null" : field(`"${good(str, "job-1")}"`, "s")},"pid":${field(good(num, "4242"), "n")},` +
          `"value":${field(`"${good(str, "85")}"`, "s")}}`;
        if (rand() < 0.2) {
          const at = Math.floor(rand() * line.length);
          line = line.slice(0, at) + pick(["", " ", '"', ",", "}", "\\", "0"]) + line.slice(at + 1);
        }
        const f = parseCanonical(line);
        const s = slow(line);
        if (f !== undefined) {
          fast++;
          assert.deepEqual(f, s, line);
        }
        assert.deepEqual(parseLine(line, NOW), s, line);
      }
      assert.ok(fast > 1000, `the fast path took ${fast} lines`);
    });
  }
});
