// The parts of a systemd service unit that decide what its process may do, read from the unit
// file and its drop-ins, so a test can start the binary as systemd would on a machine where
// systemd is not PID 1 (CI, containers): the same user kind (an unprivileged uid, as DynamicUser
// allocates), capabilities, no_new_privs, environment and command line, and the same system
// call filter, applied with strace's fault injection (each call the filter refuses fails with
// the unit's SystemCallErrorNumber, as the kernel's seccomp filter would make it fail).
import { spawnSync } from "node:child_process";

/** The unit as key -> values, drop-ins applied in order (keys that repeat accumulate). */
export function unitSettings(...texts: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const text of texts) {
    let section = "";
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
      const head = /^\[(.+)\]$/.exec(line);
      if (head) {
        section = head[1];
        continue;
      }
      if (section !== "Service") continue;
      const eq = line.indexOf("=");
      const key = line.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

/** Capability names as setpriv takes them: CAP_SYS_PTRACE -> sys_ptrace (union of every assignment). */
export function capabilities(settings: Map<string, string[]>, key: "AmbientCapabilities" | "CapabilityBoundingSet"): string[] {
  const caps = new Set<string>();
  for (const v of settings.get(key) ?? []) {
    assertPlain(v, key);
    for (const c of v.split(/\s+/).filter(Boolean)) caps.add(c.replace(/^CAP_/, "").toLowerCase());
  }
  return [...caps].sort();
}

function assertPlain(v: string, key: string): void {
  if (v.startsWith("~")) throw new Error(`${key}=${v}: inverted capability lists are not emulated`);
}

let _groups: Map<string, string[]> | undefined;

/** systemd's system call groups, from `systemd-analyze syscall-filter`. */
function _syscallGroups(): Map<string, string[]> {
  if (_groups) return _groups;
  const r = spawnSync("systemd-analyze", ["syscall-filter", "--no-pager"], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`systemd-analyze syscall-filter failed: ${r.error ?? r.stderr}`);
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of r.stdout.split("\n")) {
    if (/^@[a-z0-9-]+$/.test(line)) groups.set(line, (current = []));
    else if (/^\s+@?[a-z_0-9][a-z_0-9-]*$/.test(line) && current) current.push(line.trim());
  }
  return (_groups = groups);
}

function _expand(token: string, seen = new Set<string>()): string[] {
  if (!token.startsWith("@")) return [token];
  if (seen.has(token)) return [];
  seen.add(token);
  const members = _syscallGroups().get(token);
  if (!members) throw new Error(`unknown system call group ${token}`);
  return members.flatMap((m) => _expand(m, seen));
}

/**
 * The system calls the unit's SystemCallFilter= allows, as systemd combines the lines: the first
 * (an allow list here) sets the list, a later `~` line takes calls out, a later plain line adds
 * them back.
 */
export function allowedSyscalls(settings: Map<string, string[]>): Set<string> {
  const lines = settings.get("SystemCallFilter") ?? [];
  if (lines.length === 0 || lines[0].startsWith("~")) throw new Error("only an allow-list SystemCallFilter= is emulated");
  const allowed = new Set<string>();
  for (const line of lines) {
    const deny = line.startsWith("~");
    for (const token of line.replace(/^~/, "").split(/\s+/).filter(Boolean)) {
      for (const call of _expand(token)) deny ? allowed.delete(call) : allowed.add(call);
    }
  }
  return allowed;
}

/** The errno name strace injects for a refused call (SystemCallErrorNumber=, else the kill systemd would do). */
export function filterErrno(settings: Map<string, string[]>): string {
  const errno = settings.get("SystemCallErrorNumber")?.at(-1);
  if (!errno) throw new Error("SystemCallErrorNumber= unset: a refused call would kill the process; not emulated");
  return errno;
}

/**
 * The command line that runs `argv` the way the unit would: as uid/gid 65534 with no
 * supplementary groups, exactly the unit's capabilities (bounding set, and the ambient ones also
 * inheritable, as systemd sets them), no_new_privs, and every system call outside the filter
 * failing with its errno. strace traces (through its own seccomp filter) only those calls.
 */
export function unitCommand(settings: Map<string, string[]>, argv: string[]): string[] {
  const ambient = capabilities(settings, "AmbientCapabilities");
  const bounding = capabilities(settings, "CapabilityBoundingSet");
  const list = (caps: string[]) => ["-all", ...caps.map((c) => `+${c}`)].join(",");
  const setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", `--bounding-set=${list(bounding)}`, `--inh-caps=${list(ambient)}`];
  if (ambient.length > 0) setpriv.push(`--ambient-caps=${ambient.map((c) => `+${c}`).join(",")}`);
  if (settings.get("NoNewPrivileges")?.at(-1) === "yes") setpriv.push("--no-new-privs");
  const allowed = [...allowedSyscalls(settings)].sort().join("|");
  const refused = `!/^(${allowed})$`;
  const strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", `trace=${refused}`, "-e", `inject=${refused}:error=${filterErrno(settings)}`];
  return [...setpriv, ...strace, ...argv];
}

/** Environment= values of the unit (KEY=value, optionally quoted), in order. */
export function unitEnvironment(settings: Map<string, string[]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of settings.get("Environment") ?? []) {
    for (const m of e.matchAll(/"([^"=]+)=([^"]*)"|(\S+?)=(\S*)/g)) env[m[1] ?? m[3]] = m[2] ?? m[4];
  }
  return env;
}
