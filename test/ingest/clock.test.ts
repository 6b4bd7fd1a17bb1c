import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClockGuard, MIN_TS } from "../../src/ingest/clock.ts";

const WALL = 1_764_000_000_000; // 2025-11

describe("ClockGuard", () => {
  it("trusts ts from 2001 up to the wall clock plus the skew", () => {
    const c = new ClockGuard({ maxSkewMs: 60_000 });
    assert.equal(c.check(MIN_TS, WALL), undefined);
    assert.equal(c.check(WALL + 60_000, WALL), undefined);
    assert.equal(c.check(WALL + 60_001, WALL), "future_ts");
    assert.equal(c.check(MIN_TS - 1, WALL), "bad_ts");
  });

  it("says which unit a rejected ts looks like", () => {
    const c = new ClockGuard();
    assert.match(c.explain("future_ts", WALL * 1000, WALL), /more than 5m ahead .* looks like microseconds/);
    assert.match(c.explain("future_ts", WALL * 1_000_000, WALL), /looks like nanoseconds/);
    assert.doesNotMatch(c.explain("future_ts", Number.MAX_SAFE_INTEGER, WALL), /looks like/);
    assert.match(c.explain("bad_ts", Math.floor(WALL / 1000), WALL), /before 2001; it looks like seconds/);
    assert.doesNotMatch(c.explain("bad_ts", 17, WALL), /looks like/);
  });
});
