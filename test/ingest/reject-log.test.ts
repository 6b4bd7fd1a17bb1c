import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REJECT_FULL_LINES, REJECT_REPEAT_MS, RejectLog } from "../../src/ingest/reject-log.ts";

// The clock is a variable the test moves: no wall-clock time passes.
function setup() {
  const lines: string[] = [];
  const clock = { now: 1_800_000_000_000 };
  const log = new RejectLog({ warn: (m: string) => void lines.push(m) } as never, () => clock.now);
  return { lines, clock, log };
}

const _LEFT = /\(and (\d+) more like it in the last (\d+)s, not logged\)$/;

describe("RejectLog", () => {
  it("logs a fault that persists for an hour once a minute, not once a second", () => {
    const { lines, clock, log } = setup();
    for (let i = 0; i < 3600; i++) {
      log.note("unknown_event_type", '{"event_type":"bogus.type"}', "old-probe");
      clock.now += 1000;
    }
    // Before the bound: 3600 lines, one per rejection, for as long as the fault lasted.
    assert.ok(lines.length <= REJECT_FULL_LINES + 3600_000 / REJECT_REPEAT_MS + 1, `${lines.length} lines for 3600 rejections`);
    assert.ok(lines.length >= 3600_000 / REJECT_REPEAT_MS - 1, `${lines.length} lines: the fault must still show every minute`);
    // Every rejection is either a line or counted on the next line of the same pair.
    let shown = 0;
    for (const l of lines) {
      assert.match(l, /^rejected event from old-probe: unknown_event_type/);
      shown += 1 + Number(_LEFT.exec(l)?.[1] ?? 0);
    }
    const leftSinceLast = 3600 - shown;
    assert.ok(leftSinceLast >= 0 && leftSinceLast < 60, `${leftSinceLast} not yet accounted for`);
    // The last line in full says what follows.
    assert.match(lines[REJECT_FULL_LINES - 1], /\(more like it: one line a minute, with their count, while it goes on; all in xctl_events_rejected_total\)$/);
    assert.doesNotMatch(lines[REJECT_FULL_LINES - 2], /more like it/);
    const repeat = lines[REJECT_FULL_LINES + 1];
    assert.match(repeat, _LEFT);
    assert.equal(Number(_LEFT.exec(repeat)![2]), 60);
  });

  it("keeps each source and reason apart, and starts over after a quiet minute", () => {
    const { lines, clock, log } = setup();
    for (let i = 0; i < 20; i++) {
      log.note("invalid_json", "{x", "http");
      log.note("missing_field", "{}", "http", "missing_field: entity_id");
      log.note("invalid_json", "{y", "stdin");
      clock.now += 1000;
    }
    const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    assert.equal(count(/^rejected event from http: invalid_json/), REJECT_FULL_LINES);
    assert.equal(count(/^rejected event from http: missing_field: entity_id/), REJECT_FULL_LINES);
    assert.equal(count(/^rejected event from stdin: invalid_json/), REJECT_FULL_LINES);
    // Quiet for a minute: the next one is news again, and owns up to the 15 left out before.
    clock.now += REJECT_REPEAT_MS;
    lines.length = 0;
    log.note("invalid_json", "{z", "http");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^rejected event from http: invalid_json.*: \{z \(and 15 more like it in the last \d+s, not logged\)$/);
    for (let i = 0; i < REJECT_FULL_LINES - 1; i++) log.note("invalid_json", "{z", "http");
    assert.equal(lines.length, REJECT_FULL_LINES);
  });

  it("still caps a burst of many kinds at five lines a second and says how many were left out", () => {
    const { lines, clock, log } = setup();
    const reasons = ["invalid_json", "not_object", "missing_field", "bad_type", "bad_value", "too_long", "bad_ts"] as const;
    for (let i = 0; i < 70; i++) log.note(reasons[i % reasons.length], "x", "http");
    assert.equal(lines.length, 5);
    clock.now += 1000;
    log.note("invalid_json", "x", "stdin");
    assert.equal(lines[5], "65 more rejected events not logged");
  });

  it("goes on logging after the wall clock steps back an hour, not an hour later", () => {
    const { lines, clock, log } = setup();
    for (let i = 0; i < 30; i++) {
      log.note("invalid_json", "{x", "http");
      clock.now += 1000;
    }
    assert.equal(lines.length, REJECT_FULL_LINES);
    clock.now -= 3_600_000; // an NTP step back, or a VM restored from a snapshot
    log.note("invalid_json", "{x", "http");
    assert.equal(lines.length, REJECT_FULL_LINES + 1);
    assert.match(lines.at(-1)!, /\(and 25 more like it in the last 0s, not logged\)$/);
  });
});
