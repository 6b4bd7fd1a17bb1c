// Warnings for rule patterns that load but most likely never match what their author meant
// (SPEC §4 patterns know only `*` and `|`): regular-expression or shell-glob syntax, which
// matches literally here, and graph patterns that no node id of that end can take (a process
// is `pid-<pid>`, the target of a `blocked_by` edge is `error-<entity>`). `rules check` prints
// them; `--strict` makes them errors.

/** Where a pattern is used: an id (matched whole) or an event value (matched by containment). */
export type PatternUse = "id" | "value";

// `[0-3]` and `[ab]`, `.*` and `.+`, `\d`; in ids also `?`, anchors and groups. Values are
// free text ("[N/A]", "SXid (PCI:...)"), so there only the unmistakable regular expressions.
const _REGEX_VALUE = /\.[*+]|\\[dswDSW.*+?|()[\]]|\[[^\]]*-[^\]]*\]/;
const _REGEX_ID = /\.[*+]|\\|\[[^\]]*\]|\?|^\^|\$$|\([^)]*\|[^)]*\)|[{}]/;

/**
 * Why `text` most likely does not say what its author meant, or undefined: regular-expression or
 * shell-glob syntax, or spaces around `|` (`gpu-* | npu-*`), which belong to the alternatives.
 */
export function foreignSyntax(text: string, use: PatternUse): string | undefined {
  const spaced = use === "id" ? text.split("|").some((a) => a.trim() !== a) : /\s\||\|\s/.test(text);
  if (spaced) {
    return (
      `"${text}" has spaces around | , which belong to the alternatives (${JSON.stringify(text.split("|")[0])} ...)` +
      (use === "id" ? ": no id has them, so this may never match" : ": write a|b unless the spaces are meant")
    );
  }
  const hit = (use === "id" ? _REGEX_ID : _REGEX_VALUE).exec(text);
  if (hit === null) return undefined;
  return (
    `"${text}" looks like a regular expression or a shell glob (${JSON.stringify(hit[0])}): patterns know only * (any run of characters) ` +
    `and | (alternatives), and match everything else literally, so this may never match`
  );
}

/** The node ids each end of a graph edge can have. */
const _PROCESS = { prefix: "pid-", tail: (c: string) => c >= "0" && c <= "9", example: "pid-4242" };
const _ERROR = { prefix: "error-", tail: (_c: string) => true, example: "error-gpu-03" };

/**
 * Why a graph condition's `from_pattern` / `to_pattern` can match no node at that end of an
 * `edge` edge, or undefined. Processes are `pid-<pid>`; a `blocked_by` edge ends at an error
 * node `error-<entity>`, the others at a resource (any id, but not an error node's).
 */
export function edgeEndProblem(text: string, end: "from" | "to", edge: string): string | undefined {
  const alts = text.split("|");
  if (end === "from") return processIdProblem(text, "the edge starts at a process, whose");
  if (edge === "blocked_by") {
    if (alts.some((a) => _globMeets(a, _ERROR))) return undefined;
    return `"${text}" matches no error node: a blocked_by edge ends at error-<entity> (${_ERROR.example}, error-gpu-*)`;
  }
  if (alts.every((a) => a.startsWith("error-"))) {
    return `"${text}" names error nodes, which only blocked_by edges reach: a ${edge} edge ends at a resource (gpu-03, mlx5_*)`;
  }
  return undefined;
}

/** Why `text` matches no process id (`pid-<pid>`), or undefined; `whose` leads the explanation. */
export function processIdProblem(text: string, whose = "a process's"): string | undefined {
  if (text.split("|").some((a) => _globMeets(a, _PROCESS))) return undefined;
  return `"${text}" matches no process: ${whose} id is pid-<pid> (${_PROCESS.example}, pid-*)`;
}

/**
 * Whether the glob `alt` (`*` any run) matches some id `prefix` + one or more tail characters:
 * the glob walked over that language's automaton (states 0..prefix.length, the last one the
 * tail, accepting once a tail character was read).
 */
function _globMeets(alt: string, lang: { prefix: string; tail: (c: string) => boolean }): boolean {
  const p = lang.prefix;
  const tail = p.length; // in the tail, nothing read there yet
  const done = p.length + 1; // in the tail, one character or more read
  let states = new Set<number>([0]);
  for (const ch of alt) {
    const next = new Set<number>();
    for (const s of states) {
      if (ch === "*") {
        // Any run: every state from here on (the prefix can be completed by any string).
        for (let t = s; t <= done; t++) next.add(t);
      } else if (s < tail) {
        if (p[s] === ch) next.add(s + 1);
      } else if (lang.tail(ch)) next.add(done);
    }
    if (next.size === 0) return false;
    states = next;
  }
  return states.has(done);
}
