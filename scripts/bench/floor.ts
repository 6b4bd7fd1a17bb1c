// The ingest floor: the least any NDJSON consumer must do. Reads the file in 1 MiB chunks
// (as replay does), splits lines and JSON.parses each; nothing else. Runs as-is under Bun,
// Deno and Node. Prints `{"events":N,"seconds":S}` on stdout.
//
//   bun scripts/bench/floor.ts FILE
import { closeSync, openSync, readSync } from "node:fs";

const file = process.argv[process.argv.length - 1];
const t0 = performance.now();
const fd = openSync(file, "r");
const buf = new Uint8Array(1024 * 1024);
const decoder = new TextDecoder();
let tail = "";
let events = 0;
let sink = 0;
for (;;) {
  const n = readSync(fd, buf, 0, buf.length, null);
  if (n === 0) break;
  const text = tail + decoder.decode(buf.subarray(0, n), { stream: true });
  let from = 0;
  for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", from)) {
    if (nl > from) {
      // Touch the result so no engine can drop the parse.
      sink += JSON.parse(text.slice(from, nl)).ts & 1;
      events++;
    }
    from = nl + 1;
  }
  tail = text.slice(from);
}
if (tail.length > 0) {
  sink += JSON.parse(tail).ts & 1;
  events++;
}
closeSync(fd);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ events, seconds, sink }) + "\n");
