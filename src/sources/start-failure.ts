// Why a command probe could not be started, in words an operator can act on. A probe is run
// without a shell, so a program that cannot be executed (missing, not executable, a directory,
// a `#!` interpreter that is missing) fails the exec itself: Node, Bun and Deno all report that
// as the child's 'error' event with the errno (ENOENT, EACCES) and no pid, never as a throw or an
// exit status. A launcher in front of the program reports the same failure as its exit status
// instead, 127 (not found) or 126 (found, cannot be executed), with its own message on stderr:
// the `setpriv` wrapper the exporter adds, `env` (as the command, or on a `#!/usr/bin/env NAME`
// line), or a shell given `-c`. Either way the probe's program never ran: it is down, not restarted.
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";

/** The shells whose `-c` form is a launcher: their 126/127 means the command could not run. */
const _SHELLS = new Set(["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"]);

/** Why the exec of `argv0` failed, from the spawn error: `cannot start: /x/probe: no such file`. */
export function spawnFailure(argv0: string, e: NodeJS.ErrnoException): string {
  return `cannot start: ${argv0}: ${_errnoWhy(argv0, e)}`;
}

function _errnoWhy(cmd: string, e: NodeJS.ErrnoException): string {
  const path = cmd.includes("/");
  if (e.code === "ENOENT") {
    if (!path) return "not found on PATH";
    if (!existsSync(cmd)) return "no such file";
    const interpreter = shebangInterpreter(cmd);
    return interpreter === null ? "no such file (or its loader is missing)" : `its #! interpreter ${interpreter} was not found`;
  }
  if (e.code === "EACCES") {
    if (!path) return "found on PATH but not executable (permission denied)";
    return _isDirectory(cmd) ? "is a directory" : "not executable (permission denied)";
  }
  if (e.code === "ENOEXEC") return "not a program this host can run (exec format error)";
  return e.message;
}

/**
 * The launchers in front of the probe's program, by the name they sign their messages with:
 * `setpriv` when the exporter wraps the probe in it, `env` or a shell given `-c` as the command,
 * `env` on the script's `#!` line. Empty: the probe's exit status is its own.
 */
export function launchers(argv: readonly string[], wrapped: boolean, script: string | undefined): string[] {
  const out: string[] = [];
  if (wrapped) out.push("setpriv");
  const program = _base(argv[0]);
  if (program === "env") out.push("env");
  else if (_SHELLS.has(program) && argv.includes("-c")) out.push(program);
  const interpreter = script === undefined ? null : shebangInterpreter(script);
  if (interpreter !== null && _base(interpreter) === "env") out.push("env");
  return out;
}

/**
 * A stderr line in which one of `names` says it could not run something: `setpriv: failed to
 * execute /x: ...`, `env: ‘python9’: No such file or directory`, `/usr/bin/env: ...`,
 * `sh: 1: probe: not found`, `bash: line 1: probe: command not found`.
 */
export function isLauncherLine(line: string, names: readonly string[]): boolean {
  const colon = line.indexOf(": ");
  if (colon <= 0) return false;
  return names.includes(_base(line.slice(0, colon)));
}

/**
 * Why a run that exited with `code` never got to run the probe's program, or null when the exit
 * is the program's own. Only 126 and 127, only before a byte reached stdout, and only when the
 * launcher said so on stderr (its last line): a probe script that itself ends with status 127
 * ("command not found" inside it) ran, and crashed.
 */
export function launcherFailure(argv0: string, code: number | null, stdoutBytes: number, said: readonly string[], names: readonly string[]): string | null {
  if ((code !== 126 && code !== 127) || stdoutBytes > 0 || names.length === 0) return null;
  const line = [...said].reverse().find((l) => isLauncherLine(l, names));
  if (line === undefined) return null;
  const setpriv = /^\S*setpriv: failed to execute .*?: (.+)$/.exec(line);
  if (setpriv !== null) return `cannot start: ${argv0}: ${_strerror(setpriv[1])}`;
  return `cannot start: ${argv0}: ${line.trim()} (exit status ${code})`;
}

/** The interpreter a `#!` line names, or null (no script, unreadable). */
export function shebangInterpreter(file: string): string | null {
  let head = "";
  try {
    const fd = openSync(file, "r");
    try {
      const buf = new Uint8Array(256);
      head = new TextDecoder("latin1").decode(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  if (!head.startsWith("#!")) return null;
  const interpreter = head.slice(2).split("\n")[0].trim().split(/\s+/)[0];
  return interpreter || null;
}

function _strerror(text: string): string {
  if (/^No such file or directory$/i.test(text)) return "no such file";
  if (/^Permission denied$/i.test(text)) return "not executable (permission denied)";
  return text;
}

function _isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function _base(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
