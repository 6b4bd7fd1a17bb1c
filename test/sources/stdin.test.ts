// --stdin on a real exporter process: events piped in are counted, and the exporter keeps
// serving after standard input closes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventually, scrape, startExporter } from "../_helpers.ts";

const line = (i: number) => JSON.stringify({ event_type: "compute.util", entity_id: `gpu-0${i % 8}`, pid: 100 + i, value: String(i) });

describe("--stdin", () => {
  it("counts piped events and keeps serving once stdin closes", async () => {
    const ex = await startExporter(["--stdin"], { stdin: "pipe" });
    try {
      const stdin = ex.child.stdin!;
      let m = await scrape(ex.url);
      assert.equal(m.get('xctl_probe_up{probe="stdin"}'), 1);
      // One line split across writes, one bad line, and a last line without newline.
      stdin.write(line(0) + "\n" + line(1).slice(0, 20));
      stdin.write(line(1).slice(20) + "\nnot json\n");
      for (let i = 2; i < 50; i++) stdin.write(line(i) + "\n");
      stdin.write(line(50));
      m = (await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get("xctl_events_total") === 50 ? s : undefined;
      }, 8000, "50 events"))!;
      assert.equal(m.get('xctl_events_rejected_total{reason="invalid_json"}'), 1);
      stdin.end();
      m = (await eventually(async () => {
        const s = await scrape(ex.url);
        return s.get('xctl_probe_up{probe="stdin"}') === 0 ? s : undefined;
      }, 8000, "stdin marked down"))!;
      assert.equal(m.get("xctl_events_total"), 51);
      assert.equal(m.get("xctl_consumes_edges"), 51);
      assert.equal((await fetch(`${ex.url}/healthz`)).status, 200);
      assert.equal(ex.stderr().match(/standard input closed/g)?.length, 1, ex.stderr());
    } finally {
      await ex.stop("SIGKILL");
    }
  });
});
