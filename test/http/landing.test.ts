// GET / through the real app: what is wrong now, and every text from events escaped.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/log.ts";
import { CommandProbe } from "../../src/sources/probe.ts";
import { eventually } from "../_helpers.ts";
import { ingestLine } from "../_ingest.ts";

const T0 = 1_732_500_000_000;
const LOCAL = { remoteAddress: "127.0.0.1" };
const line = (event_type: string, entity_id: string, value: string, pid: number | null = null, ts = T0, job_id: string | null = null) =>
  JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });

describe("landing page", () => {
  it("says no scene is active, and warns that nothing feeds the graph", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const html = await (await createApp(ex).fetch(new Request("http://x/"), LOCAL)).text();
    assert.match(html, /No scene is active\./);
    assert.match(html, /No source is configured/);
    assert.match(html, /href="metrics"/);
  });

  it("shows an active scene with its root cause and job, escaping what events said", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    const job = `<img src=x onerror="alert(1)">&"'`;
    await ingestLine(ex, line("process.state", "host", "start", 5, T0, job), "t");
    await ingestLine(ex, line("compute.mem", "gpu-0", "98", 5, T0 + 1), "t");
    await ingestLine(ex, line("error.hw", "gpu-0", "OOM", null, T0 + 2), "t");
    ex.engine.runNow("auto"); // an automatic run: on-demand runs move no scene
    const res = await createApp(ex, { metricsPath: "/m" }).fetch(new Request("http://x/"), LOCAL);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    assert.match(html, /<strong class="bad">gpu_oom<\/strong>/);
    assert.match(html, /Root cause: [^<]*\(OOM on gpu-0\)/);
    assert.ok(html.includes("&#60;img src=x onerror=&#34;alert(1)&#34;&#62;&#38;&#34;&#39;"), html);
    assert.ok(!html.includes("<img"));
    assert.match(html, /href="m"/);
    assert.match(html, /<title>xctl-exporter \(1 active\)<\/title>/);
    // One of each is said in the singular.
    assert.match(html, /<p>1 process \(1 running\), 1 resource, 1 error in the window;/);
    assert.match(html, /; 1 diagnosis run over 19 rules\./);
  });

  it("shows a probe that cannot be started as down, with the reason, escaped", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false });
    ex.addSource(new CommandProbe(["/nonexistent/<b>probe"], { backoff: { initialMs: 60_000 } }));
    ex.start();
    try {
      await eventually(() => ex.probes.get("<b>probe")!.reason != null, 5000, "the failed start");
      const html = await (await createApp(ex).fetch(new Request("http://x/"), LOCAL)).text();
      assert.ok(html.includes('<td class="bad">down<br><span class="muted">cannot start: /nonexistent/&#60;b&#62;probe: no such file</span></td><td>0</td>'), html);
    } finally {
      await ex.stop();
    }
  });
});
