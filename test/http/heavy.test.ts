// Graph dumps are built one at a time: a client that left before its turn costs nothing, and
// the queue of dumps is bounded (a soak with clients that time out and ask again saw every
// later dump wait behind the ones nobody would read).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { heavy, HeavyAborted, HeavyBusy, heavyWaiting, MAX_HEAVY_WAITING } from "../../src/http/heavy.ts";
import { createLogger } from "../../src/log.ts";
import { Queries } from "../../src/query/queries.ts";
import { VERSION } from "../../src/version.ts";

describe("heavy answers", () => {
  it("skip the work of a request whose client left before its turn", async () => {
    let ran = 0;
    const gone = Array.from({ length: 8 }, () => new AbortController());
    const asked = gone.map((ac) => heavy(() => ++ran, ac.signal));
    const kept = heavy(() => ++ran, new AbortController().signal);
    for (const ac of gone) ac.abort();
    const settled = await Promise.allSettled(asked);
    assert.ok(settled.every((s) => s.status === "rejected" && s.reason instanceof HeavyAborted));
    assert.equal(await kept, 1);
    assert.equal(ran, 1);
    assert.equal(heavyWaiting(), 0);
  });

  it("keep at most MAX_HEAVY_WAITING waiting and refuse the rest", async () => {
    let ran = 0;
    const asked = Array.from({ length: MAX_HEAVY_WAITING + 10 }, () => heavy(() => ++ran));
    const settled = await Promise.allSettled(asked);
    assert.equal(settled.filter((s) => s.status === "rejected" && s.reason instanceof HeavyBusy).length, 10);
    assert.equal(ran, MAX_HEAVY_WAITING);
    // Once they ran, there is room again.
    assert.equal(await heavy(() => "again"), "again");
  });

  it("GET /api/v1/graph?format=dot builds nothing for a request already aborted, and 503s past the bound", async () => {
    const ex = new Exporter({ log: createLogger("silent"), liveClock: false, processMetrics: false });
    let built = 0;
    const queries = new (class extends Queries {
      override graphDot(limit?: number): string {
        built++;
        return super.graphDot(limit);
      }
    })(ex, VERSION);
    const app = createApp(ex, { queries });
    const get = (signal?: AbortSignal) => app.fetch(new Request("http://127.0.0.1/api/v1/graph?format=dot", { signal }), { remoteAddress: "127.0.0.1" });
    const ac = new AbortController();
    ac.abort();
    await get(ac.signal);
    assert.equal(built, 0);
    const ok = await get();
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^digraph/);
    assert.equal(built, 1);
    const many = await Promise.all(Array.from({ length: MAX_HEAVY_WAITING + 2 }, () => get()));
    const busy = many.filter((r) => r.status === 503);
    assert.equal(busy.length, 2);
    assert.equal(busy[0].headers.get("Retry-After"), "1");
    assert.match(((await busy[0].json()) as { error: string }).error, /^busy: /);
  });
});
