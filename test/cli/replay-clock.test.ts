// `replay` and SPEC §2's clock rule for it: no single event moves the graph past the stream's
// own clock plus --max-clock-skew. A lone jump in a recording (microseconds, nanoseconds, or a
// plain wrong date still behind the wall clock) is rejected and changes nothing else; a real
// quiet gap longer than the skew loses nothing, across read chunks too; a jump left at the end
// of the file is rejected, the warning saying nothing confirmed it.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseExposition, runCli } from "../_helpers.ts";

const SLOW = { timeout: 60_000 }; // subprocesses: Deno starts slowly, Bun's default is 5 s
const T0 = Date.UTC(2025, 5, 1); // a recording from June 2025
const JAN_2026 = Date.UTC(2026, 0, 1); // one event in 2026: ahead of the recording, behind the wall clock
const MIN = 60_000;
/** replay reads files in chunks of this size (src/cli/replay-input.ts). */
const CHUNK = 1024 * 1024;

function ev(ts: number, event_type: string, entity_id: string, value: string, pid: number | null = null, job_id: string | null = null): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

/** A job on gpu-0 that hits Xid 79: the gpu_xid scene, one error node. */
function xidJob(t: number): string[] {
  return [
    ev(t, "process.state", "host", "start", 4242, "job-1"),
    ev(t + 10, "compute.util", "gpu-0", "97", 4242),
    ev(t + 20, "error.hw", "gpu-0", "XID_79"),
  ];
}

/** The xctl_* samples that follow from the events, less the rejection counters. */
function samples(stdout: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of parseExposition(stdout)) {
    if (k.startsWith("xctl_") && !/^xctl_(build_info|diagnosis_latency|events_rejected_total)/.test(k)) out.set(k, v);
  }
  return out;
}

describe("replay's clock: the stream's own clock plus the skew", () => {
  const dir = mkdtempSync(join(tmpdir(), "xctl-replay-clock-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a lone jump (µs, ns, or a wrong date behind the wall clock, first line included) is rejected and changes nothing else", SLOW, async () => {
    const good = [...xidJob(T0), ev(T0 + 1000, "compute.util", "gpu-0", "96", 4242), ev(T0 + 2000, "compute.util", "gpu-0", "95", 4242), ev(T0 + 3000, "compute.util", "gpu-0", "94", 4242)];
    const micros = ev(Date.now() * 1000, "action.exec", "x", "noop");
    const nanos = ev(Date.now() * 1_000_000, "action.exec", "x", "noop");
    const lone = ev(JAN_2026, "action.exec", "x", "noop");
    const lead = ev(JAN_2026 + 7, "action.exec", "x", "lead");
    // Lines 1, 5, 7 and 9 are the bad ones; the stream carries on near its clock after each.
    const withJumps = [lead, ...good.slice(0, 3), micros, good[3], nanos, good[4], lone, good[5]];
    writeFileSync(join(dir, "jumps.ndjson"), withJumps.join("\n") + "\n");
    writeFileSync(join(dir, "clean.ndjson"), good.join("\n") + "\n");

    const [r, clean] = await Promise.all([runCli(["replay", join(dir, "jumps.ndjson")]), runCli(["replay", join(dir, "clean.ndjson")])]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(clean.code, 0, clean.stderr);
    const m = parseExposition(r.stdout);
    // Nanoseconds since the epoch are past 2^53, no exact integer, and still future_ts (SPEC §2).
    assert.equal(m.get('xctl_events_rejected_total{reason="future_ts"}'), 4, r.stderr);
    assert.equal(m.get('xctl_events_rejected_total{reason="bad_value"}'), 0, r.stderr);
    assert.equal(m.get("xctl_error_nodes"), 1, "the Xid is still there: no jump moved the graph's clock");
    assert.match(r.stderr, /final: gpu_xid/);
    assert.match(r.stderr, /^replay: 6 events accepted, 4 rejected \(future_ts 4\)/m);
    // Everything else is what the same recording without the four lines gives.
    assert.deepEqual(samples(r.stdout), samples(clean.stdout));
    assert.ok(samples(clean.stdout).size > 10, "the comparison covers the event metrics");
    assert.match(clean.stderr, /final: gpu_xid/);

    assert.match(r.stderr, /jumps\.ndjson:5: rejected: future_ts: ts \d+ is more than 5m ahead of the clock; it looks like microseconds/);
    assert.match(r.stderr, /jumps\.ndjson:7: rejected: future_ts: ts \d+ is more than 5m ahead of the clock; it looks like nanoseconds/);
    assert.match(
      r.stderr,
      /jumps\.ndjson:1: rejected: future_ts: ts 1767225600007 = 2026-01-01T00:00:00\.007Z is the stream's first event and more than 5m ahead of the next one \(ts 1748736000000 = 2025-06-01T00:00:00\.000Z\), which did not confirm the jump: \{/,
    );
    assert.match(
      r.stderr,
      /jumps\.ndjson:9: rejected: future_ts: ts 1767225600000 = 2026-01-01T00:00:00\.000Z is more than 5m ahead of the stream's clock \(ts 1748736002000 = 2025-06-01T00:00:02\.000Z\), and the next event \(ts 1748736003000 = [^)]*\) did not confirm the jump: \{/,
    );
  });

  it("a quiet gap longer than the skew loses nothing, across read chunks; a lone jump there and one at the end are rejected on their own lines", SLOW, async () => {
    // Busy for just under one chunk, then a six-minute gap whose first event is the last whole
    // line of the first chunk: the event confirming it is read with the second chunk.
    const lines: string[] = [...xidJob(T0)];
    let bytes = lines.reduce((n, l) => n + l.length + 1, 0);
    let t = T0 + 100;
    const filler = (ts: number, i: number) => ev(ts, "compute.util", `gpu-${i % 8}`, String(i % 100), 4242);
    const gapLine = (ts: number) => ev(ts, "compute.util", "gpu-0", "gap", 4242);
    for (let i = 0; bytes + filler(t, i).length + 1 + gapLine(t + 6 * MIN).length + 1 <= CHUNK; i++, t += 1) {
      lines.push(filler(t, i));
      bytes += lines.at(-1)!.length + 1;
    }
    t += 6 * MIN;
    lines.push(gapLine(t));
    const gapAt = lines.length; // 1-based line of the held-then-confirmed event
    bytes += lines.at(-1)!.length + 1;
    // Then busy again to just under the second chunk's end, where a lone jump ends the chunk.
    const loneLine = ev(JAN_2026, "action.exec", "x", "noop");
    for (let i = 0; bytes + filler(t, i).length + 1 + loneLine.length + 1 <= 2 * CHUNK; i++, t += 1) {
      lines.push(filler(t + 1, i));
      bytes += lines.at(-1)!.length + 1;
    }
    lines.push(loneLine);
    const loneAt = lines.length;
    for (let i = 0; i < 50; i++) lines.push(filler(t + 2 + i, i));
    // A broken line in the last chunk: replay starts counting lines there, before the tail.
    lines.push('{"ts": 1, "event_type": ');
    const brokenAt = lines.length;
    for (let i = 0; i < 50; i++) lines.push(filler(t + 60 + i, i));
    lines.push(ev(JAN_2026, "action.exec", "x", "tail"));
    const tailAt = lines.length;
    const file = join(dir, "gap.ndjson");
    writeFileSync(file, lines.join("\n") + "\n");

    const r = await runCli(["replay", "--json", "--error-window", "30m", file]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { accepted: number; rejected: Record<string, number>; lines: number; final_scene: string | null };
    assert.equal(s.accepted, lines.length - 3, "every event but the two lone jumps and the broken line, the gap's included");
    assert.deepEqual(s.rejected, { invalid_json: 1, future_ts: 2 });
    assert.equal(s.lines, lines.length);
    assert.equal(s.final_scene, "gpu_xid", "the Xid outlived the gap (30m window) and no jump expired it");
    const warned = r.stderr.split("\n").filter((l) => l.includes("rejected:"));
    assert.equal(warned.length, 3, r.stderr);
    assert.match(warned[0], new RegExp(`gap\\.ndjson:${loneAt}: rejected: future_ts: ts 1767225600000 = 2026-01-01T00:00:00\\.000Z is more than 5m ahead of the stream's clock .* did not confirm the jump`));
    assert.match(warned[1], new RegExp(`gap\\.ndjson:${brokenAt}: rejected: invalid_json`));
    assert.match(warned[2], new RegExp(`gap\\.ndjson:${tailAt}: rejected: future_ts: .* and the stream ended before any event confirmed the jump: \\{.*"value":"tail"`));
    assert.ok(gapAt > 1000, "the gap sits at the end of the first chunk");
  });
});
