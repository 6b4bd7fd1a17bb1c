// `rules` help says what the command takes: check (files and directories, --strict) and list.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../_helpers.ts";

describe("rules help", () => {
  it("names both sub-commands and their flags, from every way of asking", { timeout: 60_000 }, async () => {
    for (const args of [["help", "rules"], ["rules", "check", "--help"], ["rules", "list", "--help"]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);
      // Which flags go with which sub-command: the flag list below is the two together.
      assert.ok(
        r.stdout.startsWith(
          "Usage: xctl-exporter rules check PATH... [--strict]\n       xctl-exporter rules list [--rules DIR] [--no-default-rules] [--json]\n       xctl-exporter rules show SCENE [--rules DIR] [--no-default-rules]\n",
        ),
        r.stdout,
      );
      for (const flag of ["--strict", "--rules DIR", "--no-default-rules", "--json"]) assert.ok(r.stdout.includes(flag), `${args.join(" ")}: ${flag}\n${r.stdout}`);
      assert.doesNotMatch(r.stdout, /rules check DIR\b/);
    }
    const root = await runCli(["--help"]);
    assert.match(root.stdout, /^ {2}rules {6}Diagnosis rules: `rules check PATH\.\.\.`/m, root.stdout);
  });
});
