// The benchmark's account of JIT work (scripts/bench/ingest.ts `jitWork`): JavaScriptCore's
// compile report, as `BUN_JSC_reportCompileTimes=1` prints it on stderr among a replay's own
// lines, summed per tier.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { jitWork } from "../../scripts/bench/ingest.ts";

// Lines as Bun 1.4 prints them (the compiler threads write the DFG/B3 split of an FTL compile
// as a line of its own at times).
const REPORT = [
  "Optimized <name not materialized>#DVSAwO:[0x4faec774800->0x4faec746980, LLIntFunctionCall, 58 (StrictMode)] using Baseline with Baseline into 1408 bytes in 0.542608 ms.",
  "Optimized call#AKbRuK:[0x4faec775440->0x4faec400948, LLIntFunctionCall, 71 (StrictMode)] using Baseline with Baseline into 1664 bytes in 0.139368 ms.",
  "replay: 1,000,000 events accepted, 0 rejected in 1.087 s: 920,269 events/s",
  "Optimized _link#DUXiga:[0x56d27d07ba0->0x56d27d05ec0->0x56d234b7380, NoneFunctionCall, 332 (StrictMode)] using DFG with DFG into 5120 bytes in 2.5 ms.",
  "Optimized Fn#CIBQXO:[0x4cb6021d6e0->0x4cb5da4fc80->0x4cb5da3f980, NoneFunctionCall, 119 (DidTryToEnterInLoop) (StrictMode)] using FTL with FTL into 672 bytes in 2.059135 ms",
  " (DFG: 1.505621, B3: 0.553514).",
  "Optimized /x/floor.ts#B9q0XM:[0x543015f8560->0x543015f88e0->0x54300e233c8, NoneModule, 731 (DidTryToEnterInLoop) (StrictMode)] using FTLForOSREntry with FTL into 3168 bytes in 4.815006 ms (DFG: 2.409596, B3: 2.405410).",
  ".",
].join("\n");

describe("jitWork", () => {
  it("counts each compile once, by tier, with its time", () => {
    const w = jitWork(REPORT);
    assert.equal(w.compiles, 5);
    assert.deepEqual(Object.keys(w.tiers).sort(), ["Baseline", "DFG", "FTL", "FTLForOSREntry"]);
    assert.equal(w.tiers.Baseline.compiles, 2);
    assert.ok(Math.abs(w.tiers.Baseline.ms - 0.681976) < 1e-9);
    assert.equal(w.tiers.FTL.compiles, 1);
    assert.ok(Math.abs(w.tiers.FTL.ms - 2.059135) < 1e-9);
    assert.ok(Math.abs(w.ms - (0.542608 + 0.139368 + 2.5 + 2.059135 + 4.815006)) < 1e-9);
  });

  it("finds nothing in output without a report (a V8 runtime, or the variable unset)", () => {
    assert.deepEqual(jitWork("replay: 10 events accepted, 0 rejected in 0.010 s: 1,000 events/s\n"), { compiles: 0, ms: 0, tiers: {} });
  });
});
