// Telling a failed start from a crash when a launcher stands in front of the probe's program:
// the messages setpriv, env (GNU and busybox) and the shells (dash, bash) print when they cannot
// execute what they were given, and the exits that are the program's own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { launcherFailure, launchers } from "../../src/sources/start-failure.ts";

describe("launchers", () => {
  it("are the setpriv wrapper, env, and a shell given -c; a plain program or script has none", () => {
    assert.deepEqual(launchers(["/opt/p"], true, undefined), ["setpriv"]);
    assert.deepEqual(launchers(["env", "A=1", "p"], false, "/usr/bin/env"), ["env"]);
    assert.deepEqual(launchers(["sh", "-c", "p | q"], false, "/bin/sh"), ["sh"]);
    assert.deepEqual(launchers(["bash", "/opt/p.sh"], false, "/bin/bash"), []);
    assert.deepEqual(launchers(["/opt/p"], false, undefined), []);
  });
});

describe("a launcher's exit 126/127", () => {
  const cases: [string, number, string[], string[], string | null][] = [
    ["/opt/p", 127, ["setpriv: failed to execute /opt/p: No such file or directory"], ["setpriv"], "cannot start: /opt/p: no such file"],
    ["/opt/p", 126, ["setpriv: failed to execute /opt/p: Permission denied"], ["setpriv"], "cannot start: /opt/p: not executable (permission denied)"],
    ["./ib.py", 127, ["/usr/bin/env: ‘python9’: No such file or directory"], ["env"], "cannot start: ./ib.py: /usr/bin/env: ‘python9’: No such file or directory (exit status 127)"],
    ["env", 127, ["env: can't execute 'p': No such file or directory"], ["env"], "cannot start: env: env: can't execute 'p': No such file or directory (exit status 127)"],
    ["sh", 127, ["sh: 1: p: not found"], ["sh"], "cannot start: sh: sh: 1: p: not found (exit status 127)"],
    ["bash", 126, ["bash: line 1: /opt/p: Permission denied"], ["bash"], "cannot start: bash: bash: line 1: /opt/p: Permission denied (exit status 126)"],
  ];
  for (const [argv0, code, said, names, want] of cases) {
    it(`${said[0]} (${code}) is a failed start`, () => {
      assert.equal(launcherFailure(argv0, code, 0, said, names), want);
    });
  }

  it("is the program's own when it wrote to stdout, said nothing as the launcher, or exited otherwise", () => {
    const said = ["sh: 1: p: not found"];
    assert.equal(launcherFailure("sh", 127, 12, said, ["sh"]), null, "it printed events first");
    assert.equal(launcherFailure("sh", 1, 0, said, ["sh"]), null, "another status");
    assert.equal(launcherFailure("sh", null, 0, said, ["sh"]), null, "killed by a signal");
    // A script that ran and ended on a missing command of its own: it crashed.
    assert.equal(launcherFailure("/opt/p.sh", 127, 0, ["/opt/p.sh: 3: nvidia-smi: not found"], ["setpriv"]), null);
    assert.equal(launcherFailure("/opt/p", 127, 0, ["setpriv: failed to execute /opt/p: No such file or directory"], []), null, "no launcher");
  });
});
