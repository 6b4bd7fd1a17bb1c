// A host collector listed in --collectors whose source is not on the host shows `down` in
// `status`, GET /api/v1/status and /readyz with why, as a missing nvidia-smi does: an operator
// reading `status` on a host without RDMA, without a readable diskstats or kernel log must not
// be left with a bare `down`. One that --collectors auto skipped (no nvidia-smi on the service's
// PATH, on a GPU host: "why are there no GPU events?") is named with why in `status` and the
// landing page too, not in the start log alone.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, ROOT, startExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;

interface Src {
  name: string;
  state: string;
  reason: string | null;
}

describe("a listed collector whose source is missing", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("is down with its reason in status, the status API and /readyz", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-down-"));
    mkdirSync(join(dir, "proc"));
    mkdirSync(join(dir, "sys"));
    const kmsg = join(dir, "no-kmsg");
    const ex = await startExporter([
      "--collectors", "infiniband,diskstats",
      "--path.procfs", join(dir, "proc"),
      "--path.sysfs", join(dir, "sys"),
      "--probe", `builtin:kmsg?path=${kmsg}`,
    ]);
    try {
      const want: Record<string, string> = {
        diskstats: `cannot read ${join(dir, "proc", "diskstats")}: no such file`,
        infiniband: `no ${join(dir, "sys", "class", "infiniband")}`,
        kmsg: `cannot read ${kmsg}: no such file`,
      };
      const sources = await eventually(async () => {
        const s = ((await (await fetch(`${ex.url}/api/v1/status`)).json()) as { sources: Src[] }).sources;
        return s.length === 3 && s.every((x) => x.state === "down" && x.reason !== null) ? s : undefined;
      }, 10_000, "three sources down with a reason");
      for (const s of sources) assert.ok(s.reason!.startsWith(want[s.name]), `${s.name}: ${s.reason}`);

      const ready = (await (await fetch(`${ex.url}/readyz`)).json()) as { sources: Src[] };
      assert.deepEqual(ready.sources.map((s) => [s.name, s.reason]), sources.map((s) => [s.name, s.reason]));

      const text = execFileSync(BINARY!, ["status", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
      for (const s of sources) {
        const line = text.split("\n").find((l) => l.trimStart().startsWith(`${s.name} `));
        assert.ok(line?.includes(want[s.name]), `${s.name} has no reason in status:\n${text}`);
      }
    } finally {
      assert.equal(await ex.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("auto: the collectors it skipped, with why, in status, the status API and the landing page", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xctl-skip-"));
    mkdirSync(join(dir, "proc"));
    mkdirSync(join(dir, "sys"));
    mkdirSync(join(dir, "bin"));
    const ex = await startExporter(["--path.procfs", join(dir, "proc"), "--path.sysfs", join(dir, "sys"), "--probe", `builtin:kmsg?path=${join(dir, "kmsg")}`], {
      env: { XCTL_COLLECTORS: "auto", PATH: join(dir, "bin") },
    });
    try {
      const want = [
        { name: "nvidia-smi", reason: "nvidia-smi not on PATH" },
        { name: "npu-smi", reason: "npu-smi not on PATH" },
        { name: "infiniband", reason: `no ${join(dir, "sys", "class", "infiniband")}` },
        { name: "diskstats", reason: `no ${join(dir, "proc", "diskstats")}` },
      ];
      const st = (await (await fetch(`${ex.url}/api/v1/status`)).json()) as { collectors_skipped?: { name: string; reason: string }[] };
      assert.deepEqual(st.collectors_skipped, want);
      const text = execFileSync(BINARY!, ["status", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
      assert.match(text, new RegExp(`^Collectors skipped: nvidia-smi \\(nvidia-smi not on PATH\\), npu-smi \\(npu-smi not on PATH\\), infiniband \\(no [^)]*\\), diskstats \\(no [^)]*\\)$`, "m"), text);
      const page = await (await fetch(`${ex.url}/`)).text();
      assert.match(page, /Collectors skipped[^<]*<\/[a-z]+>[^]*nvidia-smi not on PATH/, "landing page");
    } finally {
      assert.equal(await ex.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a probe that keeps exiting", { skip: BINARY ? false : "XCTL_BINARY not set (scripts/test.sh sets it)" }, () => {
  it("is crash-looping with how its last run ended in status, the status API and the landing page", { timeout: 30_000 }, async () => {
    const ex = await startExporter(["--probe", join(ROOT, "test/fixtures/fault-probes/crash-loop.sh")]);
    try {
      const src = await eventually(async () => {
        const s = ((await (await fetch(`${ex.url}/api/v1/status`)).json()) as { sources: (Src & { last_exit?: string | null })[] }).sources;
        return s[0]?.state === "crash-looping" ? s[0] : undefined;
      }, 15_000, "crash-looping");
      assert.equal(src.reason, null, "it starts: no reason it cannot");
      assert.equal(src.last_exit, "exited with status 3");
      const text = execFileSync(BINARY!, ["status", "--url", ex.url], { encoding: "utf8", timeout: 10_000 });
      assert.match(text, /^ {2}crash-loop\.sh +crash-looping +\d+ +\S.* +last run exited with status 3$/m, text);
      assert.match(await (await fetch(`${ex.url}/`)).text(), /crash-looping<br><span class="muted">last run exited with status 3<\/span>/);
    } finally {
      assert.equal(await ex.stop(), 0);
    }
  });
});
