// `ps` as a table: what the BLOCKED_BY column shows for the error values real collectors write.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatProcessTable } from "../../src/cli/ps.ts";
import type { ProcessRow } from "../../src/query/processes.ts";

const row = (over: Partial<ProcessRow>): ProcessRow => ({
  pid: 4242, job_id: "7001", state: "running", resources: ["gpu-01"], consumes: ["gpu-01"], waits_on: [],
  blocked_by: [], blocked_by_errors: [], scenes: [], settling_scenes: [], updated_at: null, age_s: 3, ...over,
});

describe("ps table", () => {
  it("names a blocking error by its code and device, not by the kernel message builtin:kmsg keeps in the value", () => {
    const r = row({
      blocked_by: ["error-gpu-01", "error-mlx5_0"],
      blocked_by_errors: [
        { error: "error-gpu-01", entity: "gpu-01", error_type: "XID_79 NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus." },
        { error: "error-mlx5_0", entity: "mlx5_0", error_type: "LINK_DOWN port=1 state=DOWN phys_state=Disabled link_layer=InfiniBand" },
      ],
    });
    for (const wide of [false, true]) {
      const out = formatProcessTable([r], { wide });
      const cells = out.split("\n")[1].split(/\s{2,}/);
      assert.equal(cells[5], "XID_79@gpu-01,LINK_DOWN@mlx5_0", out);
    }
  });

  it("keeps a bare code as it is, and says error@entity when the type is empty", () => {
    const r = row({
      blocked_by: ["error-gpu-07", "error-nvme1n1"],
      blocked_by_errors: [
        { error: "error-gpu-07", entity: "gpu-07", error_type: "OOM" },
        { error: "error-nvme1n1", entity: "nvme1n1", error_type: "" },
      ],
    });
    const cells = formatProcessTable([r], { wide: true }).split("\n")[1].split(/\s{2,}/);
    assert.equal(cells[5], "OOM@gpu-07,error@nvme1n1");
  });
});
