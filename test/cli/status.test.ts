// `status` as text: the counts line reads as English for one and for many.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatStatus } from "../../src/cli/status.ts";
import type { Status } from "../../src/query/queries.ts";

const status = (n: number): Status => ({
  version: "0.1.0",
  ready: true,
  scenes: [],
  sources: [],
  counts: {
    processes: n, active_processes: n, resources: n, errors: n,
    edges: { consumes: n, waits_on: 0, blocked_by: n },
    events_accepted: n, events_rejected: 0, diagnosis_runs: n, rules: n,
  },
});

describe("status text", () => {
  it("says 1 process, 1 resource, 1 error, 1 diagnosis run over 1 rule", () => {
    const out = formatStatus(status(1), "http://127.0.0.1:9091");
    assert.match(out, /^Graph: 1 process \(1 running\), 1 resource, 1 error; edges 1 consumes, 0 waits_on, 1 blocked_by$/m, out);
    assert.match(out, /^Events: 1 accepted, 0 rejected; 1 diagnosis run over 1 rule$/m, out);
  });

  it("keeps the plural for none and for many", () => {
    const out = formatStatus(status(0), "http://127.0.0.1:9091") + formatStatus(status(2), "http://127.0.0.1:9091");
    assert.match(out, /^Graph: 0 processes \(0 running\), 0 resources, 0 errors;/m, out);
    assert.match(out, /^Events: 2 accepted, 0 rejected; 2 diagnosis runs over 2 rules$/m, out);
  });
});
