// Each metric family is declared once: src/metrics/names.ts holds its name, type, help and
// labels, and the registry serves exactly those families, registered from their entries.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { EXTRA_METRICS, FAMILIES, SEED_METRICS } from "../../src/metrics/names.ts";
import { Queries } from "../../src/query/queries.ts";
import { ROOT } from "../_helpers.ts";

function _files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? _files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("metric names", () => {
  it("no xctl_ metric name is written twice in src/", () => {
    const seen = new Map<string, string[]>();
    for (const file of _files(join(ROOT, "src"))) {
      for (const m of readFileSync(file, "utf8").matchAll(/["'`](xctl_[a-z0-9_]+)["'`]/g)) {
        const at = seen.get(m[1]) ?? [];
        at.push(relative(ROOT, file));
        seen.set(m[1], at);
      }
    }
    const twice = [...seen].filter(([, at]) => at.length > 1).map(([name, at]) => `${name}: ${at.join(", ")}`);
    assert.deepEqual(twice, []);
    // The scan found the table's names, not nothing.
    for (const f of Object.values(FAMILIES)) assert.deepEqual(seen.get(f.name), ["src/metrics/names.ts"], f.name);
  });

  it("the registry serves exactly the declared families, with their type and help", async () => {
    // As serve builds it (a rule source: the rule-reload families are serve's alone).
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, ruleSource: { defaults: true } });
    const page = await ex.metrics.render();
    const served = [...page.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(served.sort(), Object.values(FAMILIES).map((f) => `${f.name} ${f.type}`).sort());
    for (const f of Object.values(FAMILIES)) assert.ok(page.includes(`# HELP ${f.name} ${f.help}\n`), f.name);
    assert.deepEqual(Object.keys({ ...SEED_METRICS, ...EXTRA_METRICS }).sort(), Object.values(FAMILIES).map((f) => f.name).sort());
    assert.equal(Object.keys(SEED_METRICS).length, 11, "SPEC §5 has eleven seed families");
  });

  it("xctl_diagnoses_on_demand_total counts what its help says: the API's runs, not why", async () => {
    const ex = new Exporter({ log: createLogger("silent"), processMetrics: false, liveClock: false, ruleSource: { defaults: true } });
    const q = new Queries(ex, "0.1.0");
    const t = Date.now();
    ex.ingest.object({ ts: t, event_type: "process.state", entity_id: "host", pid: 7, job_id: "j", value: "start" }, "test");
    ex.ingest.object({ ts: t + 1, event_type: "compute.util", entity_id: "gpu-00", pid: 7, value: "2" }, "test");
    const count = async () => Number(/^xctl_diagnoses_on_demand_total (\d+)$/m.exec(await ex.metrics.render())![1]);
    assert.ok(q.why(7), "why answers for pid 7");
    assert.equal(await count(), 0, "why runs no on-demand diagnosis");
    q.runForPid(7);
    q.runNow();
    assert.equal(await count(), 2, "POST /api/v1/diagnoses (?pid=) runs count");
    assert.doesNotMatch(FAMILIES.diagnosesOnDemand.help, /\bwhy\b/, "the help names why, which it does not count");
    await ex.stop();
  });
});
