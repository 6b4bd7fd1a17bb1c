// A reload that removes the rule of an active scene: the scene leaves the active set, but the
// fault it saw has not gone. The service log says so at warn (not the info line of a recovery),
// and the scene change carries `unloaded` (the event stream's `reason: "rule_removed"`).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { Exporter } from "../../src/exporter.ts";
import { Queries } from "../../src/query/queries.ts";
import type { SceneChange } from "../../src/query/scene-watch.ts";
import { startServiceLog } from "../../src/cli/service-log.ts";
import { eventually } from "../_helpers.ts";
import { ingestLine } from "../_ingest.ts";

const TMP = mkdtempSync(join(tmpdir(), "xctl-reload-log-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

const RULE = `name: Site Xid
scene: site_xid
priority: 80
conditions:
  - {type: event, event_type: error.hw, value_pattern: XID_79}
solution_steps: [{step: 1, action: drain, manual: true}]
`;

describe("an active scene whose rule a reload removes", () => {
  it("is said as removed, at warn, not as cleared", async () => {
    writeFileSync(join(TMP, "a.yaml"), RULE);
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const log = createConsola({
      level: 5,
      reporters: [{ log: (o: LogObject) => void lines.push({ level: o.type, msg: String(o.args[0]), fields: (o.args[1] ?? {}) as Record<string, unknown> }) }],
    });
    const ex = new Exporter({ log, processMetrics: false, liveClock: false, ruleSource: { dir: TMP, defaults: false }, rules: [] });
    assert.equal((await ex.reloadRules()).ok, true);
    const q = new Queries(ex, "t");
    const changes: SceneChange[] = [];
    const unwatch = q.onSceneChange((c) => changes.push(c));
    const serviceLog = startServiceLog(q, log);
    try {
      await ingestLine(ex, JSON.stringify({ ts: 1_732_500_000_000, event_type: "error.hw", entity_id: "gpu-1", value: "XID_79" }), "t");
      ex.engine.runNow("auto");
      await eventually(() => lines.some((l) => l.msg.startsWith("scene active: site_xid")), 5000, "the active line");

      rmSync(join(TMP, "a.yaml"));
      assert.equal((await ex.reloadRules()).ok, true);
      const line = lines.find((l) => l.msg.startsWith("scene cleared: site_xid"));
      assert.equal(line?.level, "warn", JSON.stringify(lines));
      assert.equal(line?.msg, "scene cleared: site_xid: its rule was removed by a rule reload (not resolved: what it saw may still hold)");
      assert.equal(line?.fields.reason, "rule_removed");
      assert.deepEqual(
        changes.map((c) => [c.scene, c.active, c.unloaded ?? false]),
        [
          ["site_xid", true, false],
          ["site_xid", false, true],
        ],
      );
    } finally {
      unwatch();
      serviceLog.stop();
      ex.engine.stop();
    }
  });
});
