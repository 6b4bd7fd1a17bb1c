// --probe through the real CLI: several probes with unique names, and SIGTERM takes them down.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, scrape, startExporter } from "../_helpers.ts";
import { alive, PROBES } from "./_probe-kit.ts";

/** Pids whose parent is `pid`, from /proc. */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("serve --probe", () => {
  it("runs each probe under its own name and stops them all on SIGTERM", async () => {
    const garbage = join(PROBES, "garbage.sh");
    const ex = await startExporter(["--probe", `'${garbage}'`, "--probe", garbage, "--probe", "builtin:demo?speed=5&rate=50"]);
    try {
      const m = (await eventually(async () => {
        const s = await scrape(ex.url);
        const ups = ["garbage.sh", "garbage.sh-2", "demo"].map((p) => s.get(`xctl_probe_up{probe="${p}"}`));
        return ups.every((u) => u === 1) && (s.get('xctl_events_rejected_total{reason="invalid_json"}') ?? 0) >= 2 ? s : undefined;
      }, 8000, "three probes up"))!;
      assert.equal(m.get('xctl_probe_restarts_total{probe="garbage.sh"}'), 0);
      const probes = children(ex.child.pid!);
      assert.ok(probes.length >= 2 && probes.every(alive), `children: ${probes}`);
      await ex.stop();
      await eventually(() => probes.every((p) => !alive(p)), 2000, "probes gone");
    } finally {
      await ex.stop("SIGKILL");
    }
  });
});
