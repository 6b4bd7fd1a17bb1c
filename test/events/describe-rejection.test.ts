// A rejection's detail names the field and what was expected, under the same reason code
// (the metric's label) that validateEvent gives.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeRejection, parseLine, validateEvent } from "../../src/events/parse.ts";

const cases: [unknown, string][] = [
  [[1, 2], "not_object: an event is a JSON object, got an array"],
  [{ entity_id: "gpu-0" }, "missing_field: event_type"],
  [{ event_type: 7, entity_id: "gpu-0" }, "bad_type: event_type must be a string, got the number 7"],
  [{ event_type: "compute.util" }, "missing_field: entity_id"],
  [{ event_type: "compute.util", entity_id: 3 }, "bad_type: entity_id must be a string, got the number 3"],
  [{ event_type: "compute.util", entity_id: "" }, "bad_value: entity_id must be 1 to 256 characters, got 0"],
  [{ event_type: "compute.util", entity_id: "g", ts: "now" }, "bad_type: ts must be milliseconds since the epoch (an integer), got a string"],
  [{ event_type: "compute.util", entity_id: "g", ts: -5 }, "bad_value: ts must be a non-negative integer of milliseconds, got -5"],
  [{ event_type: "compute.util", entity_id: "g", job_id: 12 }, "bad_type: job_id must be a string or null, got the number 12"],
  [{ event_type: "compute.util", entity_id: "g", pid: "12" }, "bad_type: pid must be an integer 0..2147483647 or null, got a string"],
  [{ event_type: "compute.util", entity_id: "g", pid: 2 ** 31 }, "bad_value: pid must be an integer 0..2147483647, got 2147483648"],
  [{ event_type: "compute.util", entity_id: "g", value: { a: 1 } }, "bad_type: value must be a string or a number, got an object"],
];

describe("describeRejection", () => {
  it("names the field and what was expected, under validateEvent's own reason", () => {
    for (const [input, detail] of cases) {
      const reason = validateEvent(input, 0);
      assert.equal(typeof reason, "string", JSON.stringify(input));
      assert.equal(describeRejection(reason as never, input), detail);
      assert.equal(describeRejection(reason as never, JSON.stringify(input)), detail, "from the line too");
      assert.ok(detail.startsWith(`${reason}:`));
    }
  });

  it("lists the known types for an unknown one, and says where JSON broke", () => {
    const unknown = describeRejection("unknown_event_type", '{"event_type":"error.gpu","entity_id":"g"}');
    assert.match(unknown, /^unknown_event_type: "error\.gpu" \(known: compute\.util, .*action\.exec\)$/);
    const line = '{"event_type": compute.util}';
    assert.equal(parseLine(line, 0), "invalid_json");
    assert.match(describeRejection("invalid_json", line), /^invalid_json: \S/);
    // A body or probe output that ended mid-line: the push answer says what happened to it.
    assert.match(describeRejection("truncated", '{"event_type":"compute.util","entity_id":"gpu-0","val'), /^truncated: the input ended inside this line /);
  });

  it("keeps the bare reason when the sample does not show it (a cut or foreign sample)", () => {
    assert.equal(describeRejection("too_long", '{"event_type":"compute.util","entity_id":"g"}'), "too_long");
    assert.equal(describeRejection("bad_type", '{"event_type":"compute.util","ent'), "bad_type");
  });
});
