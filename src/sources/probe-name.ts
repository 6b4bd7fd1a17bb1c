// The `probe` label of a command probe: the basename of the program, or of the script when the
// program is an interpreter (`python3 -u /opt/probes/ib.py` is `ib.py`, not `python3`).

const INTERPRETER = /^(python[0-9.]*|pypy[0-9.]*|node|nodejs|bun|deno|tsx|bash|sh|dash|zsh|ksh|perl|ruby|php|lua)$/;
/** Flags after which the "script" is inline code, not a file: name the interpreter. */
const INLINE_CODE = new Set(["-c", "-e", "--eval", "-p", "--print", "-E"]);
const MAX_NAME = 64;

export function probeName(argv: readonly string[]): string {
  const program = _base(argv[0]);
  if (!INTERPRETER.test(program)) return _cut(program);
  for (const arg of argv.slice(1)) {
    if (INLINE_CODE.has(arg)) break;
    if (arg.startsWith("-")) continue;
    // `deno run x.ts`, `bun run x.ts`: a bare word is a sub-command, a script has a dot or slash.
    if (!arg.includes(".") && !arg.includes("/")) continue;
    const script = _base(arg);
    if (script !== "") return _cut(script);
  }
  return _cut(program);
}

/** `name`, `name-2`, `name-3`, ... : the first not yet in `taken`. */
export function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

function _base(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

function _cut(name: string): string {
  return name.length > MAX_NAME ? name.slice(0, MAX_NAME) : name || "probe";
}
