// A refused rule reload is said where a human looks, not only in /metrics and one log line:
// `status` (text and --json, through GET /api/v1/status) and the landing page name when it
// failed and why, and that the rules loaded before stay in force; a good reload clears it.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatStatus } from "../../src/cli/status.ts";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/log.ts";
import { Queries, type Status } from "../../src/query/queries.ts";

const LOCAL = { remoteAddress: "127.0.0.1" };
const TMP = mkdtempSync(join(tmpdir(), "xctl-reload-status-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

const RULE = `name: Site
scene: site_a
priority: 50
conditions:
  - {type: event, event_type: error.hw}
solution_steps: [{step: 1, action: look, manual: true}]
`;

/** When the last refused reload was, as status says it (read apart: the asserts above narrow the field). */
const failedAt = (st: Status): string => st.rules?.last_failure?.at ?? "";

describe("a refused rule reload, as status and the landing page say it", () => {
  it("names when and why until a reload succeeds; --json keeps the last failure", async () => {
    writeFileSync(join(TMP, "a.yaml"), RULE);
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, ruleSource: { dir: TMP, defaults: false } });
    const app = createApp(ex);
    const get = async (path: string) => (await app.fetch(new Request(`http://x${path}`), LOCAL)).text();
    assert.equal((await ex.reloadRules()).ok, true);

    let st = JSON.parse(await get("/api/v1/status")) as Status;
    assert.equal(st.rules?.last_reload_successful, true);
    assert.equal(st.rules?.last_failure, null);
    assert.deepEqual(st.rules?.reloads, { success: 1, failure: 0 });
    assert.doesNotMatch(formatStatus(st, "http://h"), /RELOAD FAILED/);
    assert.doesNotMatch(await get("/"), /rule reload failed/);

    writeFileSync(join(TMP, "a.yaml"), RULE.replace("priority: 50", "priority: high"));
    const res = await app.fetch(new Request("http://x/-/reload", { method: "POST" }), LOCAL);
    assert.equal(res.status, 500);
    st = JSON.parse(await get("/api/v1/status")) as Status;
    const why = `${join(TMP, "a.yaml")}:3: priority: must be an integer (got "high")`;
    assert.equal(st.rules?.last_reload_successful, false);
    assert.equal(st.rules?.last_failure?.error, why);
    assert.ok(Date.parse(failedAt(st)) > 0);
    assert.equal(st.rules?.loaded, 1);
    const text = formatStatus(st, "http://h");
    assert.ok(text.includes(`RULE RELOAD FAILED at ${failedAt(st)}: ${why}\n`), text);
    assert.match(text, /^ {2}the 1 rule loaded at \S+ stay in force/m);
    const html = await get("/");
    assert.ok(html.includes(`The last rule reload failed at ${failedAt(st)}: ${why.replace(/"/g, "&#34;")}`), html);

    writeFileSync(join(TMP, "a.yaml"), RULE);
    assert.equal((await ex.reloadRules()).ok, true);
    st = JSON.parse(await get("/api/v1/status")) as Status;
    assert.equal(st.rules?.last_reload_successful, true);
    assert.equal(st.rules?.last_failure?.error, why, "the last failure stays on record");
    assert.deepEqual(st.rules?.reloads, { success: 2, failure: 1 });
    assert.doesNotMatch(formatStatus(st, "http://h"), /RELOAD FAILED/);
    assert.doesNotMatch(await get("/"), /rule reload failed/);
  });

  it("says nothing of rules to an exporter's status that has no such field (an older exporter)", () => {
    const q = new Queries(new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false }), "0.1.0");
    const { rules: _rules, ...old } = q.status();
    assert.doesNotMatch(formatStatus(old, "http://h"), /RULE/);
  });
});
