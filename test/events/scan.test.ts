import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventScanner } from "../../src/events/scan.ts";
import { InternTable } from "../../src/events/intern.ts";
import { parseLine } from "../../src/events/parse.ts";
import { EVENT_TYPES, eventTypeIndex } from "../../src/events/schema.ts";

const enc = new TextEncoder();
const NOW = 1_700_000_000_123;

/**
 * 3000 lines from `make` under one seed, through a scanner with a small intern table (slots
 * shared and replaced): every line it takes must equal the full path's answer. Returns how
 * many it took.
 */
function agreesWithFullPath(
  seed: number,
  make: (rand: () => number, pick: <T>(xs: readonly T[]) => T, i: number) => string,
): number {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const sc = new EventScanner(16);
  let taken = 0;
  for (let i = 0; i < 3000; i++) {
    const line = make(rand, pick, i);
    const fast = scan(sc, line);
    if (fast === undefined) continue;
    taken++;
    assert.deepEqual(fast, parseLine(line, NOW), `seed ${seed}: ${line}`);
  }
  return taken;
}

/** One line (no newline in it) through the scanner, as the framer offers it: ending in a newline. */
function scan(sc: EventScanner, line: string) {
  const b = enc.encode(line + "\n");
  return sc.scanLine(b, 0, b.length, 1 << 20, NOW);
}

// A seeded generator, so a failure names a line that can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

describe("EventScanner", () => {
  it("reads the lines probes print, as the full path does", () => {
    const sc = new EventScanner();
    const lines = [
      '{"ts":1732500000000,"event_type":"compute.util","entity_id":"gpu-03","job_id":"job-567","pid":1234,"value":"85"}',
      '{"ts": 1732500000000, "event_type": "compute.util", "entity_id": "gpu-03", "job_id": "job-567", "pid": 1234, "value": "85"}',
      '{"event_type":"error.hw","entity_id":"gpu-03","value":"XID_79"}',
      '{"value":85,"pid":null,"job_id":null,"entity_id":"mlx5_0","event_type":"transport.bw","ts":null}',
      '{"ts":0,"event_type":"process.state","entity_id":"pid-1","pid":2147483647,"value":null,"host":"a","n":12,"x":null}',
      ' \t{"event_type":"intent.run","entity_id":"e","value":""}\t ',
      // An empty job id is no job, on both paths.
      '{"ts":1732500000000,"event_type":"compute.mem","entity_id":"gpu-0","job_id":"","pid":7,"value":"80"}',
      '{"value":"80","pid":7,"job_id":"","entity_id":"gpu-0","event_type":"compute.mem"}',
    ];
    for (const line of lines) {
      const fast = scan(sc, line);
      assert.ok(fast !== undefined, `fast path declined ${line}`);
      assert.deepEqual(fast, parseLine(line, NOW), line);
      if (line.includes('"job_id":""')) assert.equal(fast.job_id, null, line);
    }
  });

  it("declines what only the full path can judge, and every rejection", () => {
    const sc = new EventScanner();
    const lines = [
      '{"event_type":"compute.util","entity_id":"g\\u0041"}', // escape
      '{"event_type":"compute.util","entity_id":"gpü"}', // non-ASCII
      '{"event_type":"compute.util","entity_id":"g","value":1.5}', // fraction
      '{"event_type":"compute.util","entity_id":"g","value":1e3}', // exponent
      '{"event_type":"compute.util","entity_id":"g","value":-1}', // sign
      '{"event_type":"compute.util","entity_id":"g","pid":012}', // leading zero
      '{"event_type":"compute.util","entity_id":"g","ts":99999999999999999}', // unsafe integer
      '{"event_type":"compute.util","entity_id":"g","pid":2147483648}', // pid too big
      '{"event_type":"compute.util","entity_id":"g","entity_id":"h"}', // repeated key
      '{"event_type":"compute.util","entity_id":"g","x":{"a":1}}', // nested
      '{"event_type":"compute.util","entity_id":"g","x":true}',
      '{"event_type":"compute.utilx","entity_id":"g"}', // unknown type
      '{"event_type":"compute.util","entity_id":""}', // empty entity
      `{"event_type":"compute.util","entity_id":"${"e".repeat(257)}"}`, // entity too long
      '{"event_type":"compute.util"}', // missing entity
      '{"entity_id":"g"}', // missing type
      '{"event_type":"compute.util","entity_id":"g","pid":"1"}', // pid as string
      '{"event_type":"compute.util","entity_id":"g","ts":"1"}',
      '{"event_type":"compute.util","entity_id":"g"} x', // trailing garbage
      '{"event_type":"compute.util","entity_id":"g",}', // trailing comma
      '{"event_type":"compute.util" "entity_id":"g"}',
      '{"event_type":"compute.util","entity_id":"g"',
      "[]",
      "{}",
      "",
      "   ",
    ];
    for (const line of lines) assert.equal(scan(sc, line), undefined, line);
  });

  it("agrees with the full path on every line it takes among mutated and shuffled ones (seeded)", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const taken = agreesWithFullPath(seed, (rand, pick, i) => {
        const fields: [string, string][] = [
          ["ts", pick(["1732500000000", "0", "null", "17", `"5"`, "1.0", "-3"])],
          ["event_type", JSON.stringify(pick([...EVENT_TYPES, "compute", "x.y"]))],
          ["entity_id", JSON.stringify(pick(["gpu-00", "gpu-01", "nvme0n1", "mlx5_3", "", "é", `g${i % 50}`]))],
          ["job_id", pick(["null", `"job-${i % 7}"`, "3"])],
          ["pid", pick(["null", String(i % 2000), "2147483647", "2147483648", "07", "\"9\""])],
          ["value", pick(["null", `"${i % 300}"`, String(i % 1000), `"OOM"`, `"IO_WAIT"`, "0.5", "true", `"a\\"b"`])],
          ["extra", pick(["1", `"x"`, "null", "[1]"])],
        ];
        const keep = fields.filter(() => rand() < 0.9);
        keep.sort(() => rand() - 0.5);
        const sep = () => pick(["", " ", "\t"]);
        let line = "{" + keep.map(([k, v]) => `${sep()}"${k}"${sep()}:${sep()}${v}${sep()}`).join(",") + "}";
        if (rand() < 0.2) {
          const b = [...line];
          b.splice(Math.floor(rand() * b.length), 1, pick(['"', "}", ",", ":", "\\", " ", "x", "9"]));
          line = b.join("");
        }
        return line;
      });
      // The test means something only if the fast path took a good share of the lines.
      assert.ok(taken > 100, `seed ${seed}: only ${taken} lines took the fast path`);
    }
  });

  it("agrees with the full path on lines in the layout probes print, mutated byte by byte (seeded)", () => {
    // SPEC §2's order without spaces: the scanner's quickest path, so near-misses of it matter.
    for (const seed of [11, 12, 13]) {
      const taken = agreesWithFullPath(seed, (rand, pick, i) => {
        // Mostly what a probe prints, sometimes what only the full path may judge.
        const field = (good: string[], bad: string[]) => (rand() < 0.9 ? pick(good) : pick(bad));
        const ts = field(["1732500000000", "0", "null"], ["07", "1.5", "9007199254740993", "1e3", `"1"`]);
        const type = JSON.stringify(field([...EVENT_TYPES], ["compute", ""]));
        const entity = field([`"gpu-00"`, `"nvme${i % 9}n1"`], [`""`, JSON.stringify("x".repeat(257)), `"é"`, `"a\\"b"`, "null"]);
        const job = field(["null", `"job-${i % 7}"`], ["3", `"j\\n"`]);
        const pid = field(["null", String(i % 5000), "2147483647"], ["2147483648", "00", "-1", `"9"`]);
        const value = field(["null", `"${i % 300}"`, String(i % 1000), `"OOM"`], ["0.5", "10e2", "true", "[]", "-2"]);
        let line = `{"ts":${ts},"event_type":${type},"entity_id":${entity},"job_id":${job},"pid":${pid},"value":${value}}`;
        if (rand() < 0.3) {
          const b = [...line];
          b.splice(Math.floor(rand() * b.length), pick([0, 1]), pick(['"', "}", ",", ":", "\\", " ", "x", "9", "n"]));
          line = b.join("");
        }
        return line;
      });
      assert.ok(taken > 300, `seed ${seed}: only ${taken} lines took the fast path`);
    }
  });
});

describe("EventScanner.scanLine", () => {
  it("takes one line up to its newline, CRLF too, and says where the next starts", () => {
    const sc = new EventScanner();
    const a = '{"event_type":"compute.util","entity_id":"g0","value":"1"}';
    const b = '{"event_type":"compute.mem","entity_id":"g1","value":"2"} ';
    const buf = enc.encode(`${a}\n${b}\r\n{bad\n`);
    const first = sc.scanLine(buf, 0, buf.length, 1000, NOW);
    assert.deepEqual(first, parseLine(a, NOW));
    assert.equal(sc.next, a.length + 1);
    const second = sc.scanLine(buf, sc.next, buf.length, 1000, NOW);
    assert.deepEqual(second, parseLine(b, NOW));
    assert.equal(buf[sc.next], "{".charCodeAt(0));
    assert.equal(sc.scanLine(buf, sc.next, buf.length, 1000, NOW), undefined);
  });

  it("declines a line without its newline, and one over the limit (the framer rejects it)", () => {
    const sc = new EventScanner();
    const a = '{"event_type":"compute.util","entity_id":"g0"}';
    const noNewline = enc.encode(a);
    assert.equal(sc.scanLine(noNewline, 0, noNewline.length, 1000, NOW), undefined);
    const crOnly = enc.encode(a + "\r");
    assert.equal(sc.scanLine(crOnly, 0, crOnly.length, 1000, NOW), undefined);
    const line = enc.encode(a + "\r\n");
    assert.ok(sc.scanLine(line, 0, line.length, a.length, NOW) !== undefined, "at the limit, the CR not counted");
    assert.equal(sc.scanLine(line, 0, line.length, a.length - 1, NOW), undefined);
  });
});

describe("InternTable", () => {
  it("gives back the right string when many strings share few slots", () => {
    const t = new InternTable(4); // far fewer slots than strings: clashes on every call
    for (let i = 0; i < 2000; i++) {
      const s = `v${i % 37}-${"x".repeat(i % 70)}`;
      const b = enc.encode(s);
      assert.equal(t.get(b, 0, b.length), s);
    }
  });

  it("keeps a string that repeats while values that never repeat pass through its slot", () => {
    const t = new InternTable(1); // one slot: every string clashes with every other
    const get = (s: string) => {
      const b = enc.encode(s);
      return t.get(b, 0, b.length);
    };
    get("85");
    get("85");
    for (let i = 0; i < 100; i++) {
      assert.equal(get(String(100_000 + i)), String(100_000 + i));
      assert.equal(get("85"), "85");
    }
    // "85" came in once; each one-off value was made once and never took its place.
    assert.equal(t.misses, 1 + 100);
  });
});

describe("eventTypeIndex", () => {
  it("gives each event type its index in EVENT_TYPES", () => {
    EVENT_TYPES.forEach((t, i) => assert.equal(eventTypeIndex(t), i, t));
  });
});
