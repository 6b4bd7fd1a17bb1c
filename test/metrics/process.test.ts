// The runtime's process metrics mean what their names say, on Bun, Deno and Node alike.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { ProcessMetrics } from "../../src/metrics/process.ts";

async function read(registry: Registry, pm: ProcessMetrics): Promise<Map<string, number>> {
  pm.refresh();
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

describe("process metrics", () => {
  it("heap used stays within heap total, and the heap within resident memory, scrape after scrape", async () => {
    const registry = new Registry();
    const pm = new ProcessMetrics(registry);
    await new Promise((r) => setTimeout(r, 20)); // the engine's statistics module loads (Bun)
    const keep: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      // Allocate and drop between scrapes, so the heap moves.
      for (let k = 0; k < 50_000; k++) keep.push({ k, s: `v${k}` });
      if (i % 2 === 1) keep.length = 0;
      const m = await read(registry, pm);
      const used = m.get("nodejs_heap_size_used_bytes")!;
      const total = m.get("nodejs_heap_size_total_bytes")!;
      const rss = m.get("process_resident_memory_bytes")!;
      assert.ok(used > 0 && total > 0 && rss > 0, JSON.stringify([...m]));
      assert.ok(used <= total, `scrape ${i}: heap used ${used} > total ${total}`);
      assert.ok(total <= rss, `scrape ${i}: heap total ${total} > resident ${rss}`);
      const heap = m.get("process_heap_bytes");
      assert.ok(heap === undefined || heap <= rss, `scrape ${i}: process_heap_bytes ${heap} > resident ${rss}`);
    }
  });
});
