// The kernel log's clock against the wall clock (src/sources/kmsg/clock.ts): the drift is the
// smallest lag of records read live, over the last two periods; nonsense is not drift.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KmsgClock } from "../../src/sources/kmsg/clock.ts";

const T = 1_796_000_000_000;

describe("KmsgClock", () => {
  it("knows no drift before a sample, and never stamps past now", () => {
    const c = new KmsgClock();
    assert.equal(c.driftMs, 0);
    assert.equal(c.stamp(T - 500, T), T - 500);
    assert.equal(c.stamp(T + 9000, T), T, "a record stamped ahead of now is now");
  });

  it("takes the smallest lag: a record that waited in the ring says less than one read at once", () => {
    const c = new KmsgClock();
    c.sample(T - 120_400, T); // waited 400 ms before it was read
    c.sample(T + 1000 - 120_010, T + 1000);
    c.sample(T + 2000 - 121_900, T + 2000); // a burst read late
    assert.equal(c.driftMs, 120_010);
    assert.equal(c.stamp(T + 3000 - 120_010, T + 3000), T + 3000);
    // A record from the ring's backlog keeps its distance from the others.
    assert.equal(c.stamp(T - 60_000 - 120_010, T + 3000), T - 60_000);
  });

  it("a clock ahead of the wall clock gives a negative drift", () => {
    const c = new KmsgClock();
    c.sample(T + 7000, T);
    assert.equal(c.driftMs, -7000);
    assert.equal(c.stamp(T + 7000 - 60_000, T), T - 60_000);
  });

  it("follows a drift that changes: samples older than two periods (10 min each) no longer count", () => {
    const c = new KmsgClock();
    c.sample(T - 2000, T);
    assert.equal(c.driftMs, 2000);
    c.sample(T + 11 * 60_000 - 5000, T + 11 * 60_000);
    assert.equal(c.driftMs, 2000, "the last period still counts");
    c.sample(T + 22 * 60_000 - 5000, T + 22 * 60_000);
    assert.equal(c.driftMs, 5000);
  });

  it("ignores lags of more than an hour (a record file of another boot), and NaN", () => {
    const c = new KmsgClock();
    c.sample(T - 15 * 3600_000, T);
    c.sample(Number.NaN, T);
    assert.equal(c.driftMs, 0);
  });
});
