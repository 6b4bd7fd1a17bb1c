// Who an error concerns (SPEC §3). A *device* fault hits every process using the device at
// that moment (it consumes or waits on it): a GPU fallen off the bus, an uncorrectable ECC
// error, a link down, a disk's I/O error. A *process* fault concerns only the pid its event
// names: a CUDA out-of-memory, the application Xids, a process the kernel signals for a page of
// host memory gone bad. An error event without a pid is always a
// device fault; a kind the table does not know is a device fault too (the safe side: a fault
// of unknown reach is shown to everyone on the device rather than hidden).
//
// The table is a list of patterns over the error's value (`error_type`), first match wins:
// globs where `*` matches any run of characters and `|` separates alternatives, matched against
// the value's first word, then the whole value, ignoring case: `XID_13` takes both `XID_13` and
// the value `builtin:kmsg` writes, `XID_13 NVRM: Xid (PCI:...): 13, pid=...` (but not `XID_130`);
// an entry that takes the first word decides before any that takes only the whole value (a rule
// file's entries before the defaults all the same). Rule
// files may put entries in front (`fault_scope:` in a rule, see src/diagnosis/rules-check.ts);
// the graph uses the merged table for `blocked_by`, and the diagnosis the same table for which
// events concern a process.

export type FaultScope = "device" | "process";
export const FAULT_SCOPES: readonly FaultScope[] = ["device", "process"];

export interface FaultScopeEntry {
  /** Glob over the value's first word, else the whole value, case-insensitive, `|` between alternatives. */
  pattern: string;
  scope: FaultScope;
  /** Where the entry comes from: "default" or a rule file. */
  source?: string;
}

/**
 * The built-in table. Xid meanings from NVIDIA's Xid catalogue: 13, 31, 43 and 45 are faults of
 * the application that caused them (graphics exception, memory page fault, channel stopped,
 * preemptive cleanup), and 94 a contained uncorrectable ECC error: the GPU contained it to the
 * contexts that touched the bad memory, whose pid the driver names (`94, pid=7062, Contained:
 * ...`), and the other applications on the GPU run on (NVIDIA's GPU memory error management);
 * every other Xid (48 DBE, 63/64 row remapping, 74 NVLink, 79 fallen off the bus, 92 SBE rate,
 * 95 uncontained ECC, ...) is the GPU's.
 */
export const DEFAULT_FAULT_SCOPE: readonly FaultScopeEntry[] = [
  { pattern: "XID_13|XID_31|XID_43|XID_45|XID_94", scope: "process" },
  { pattern: "*OOM*|*out of memory*|*CUDA_ERROR_OUT_OF_MEMORY*", scope: "process" },
  // What a process's own CUDA call raises for its own bad access (the driver logs Xid 13 or 31
  // with its pid for the same fault): an application's probe reporting it names its pid.
  { pattern: "*ILLEGAL_ADDRESS*|*IllegalAddress*|*illegal memory access*|*MISALIGNED_ADDRESS*|*misaligned address*|*ILLEGAL_INSTRUCTION*|*illegal instruction*", scope: "process" },
  // builtin:kmsg's "Memory failure: ...: Sending SIGBUS to python3:4242 due to hardware memory
  // corruption": the kernel names each process that mapped the bad page, one line each.
  { pattern: "HW_MEMORY_CORRUPTION|*hardware memory corruption*", scope: "process" },
  { pattern: "XID_*|SXID_*", scope: "device" },
  { pattern: "*ECC*|*uncorrectable*|*memory error*", scope: "device" },
  { pattern: "*link down*|*LINK_DOWN*|down|*link_flap*", scope: "device" },
  { pattern: "IO_ERROR|*I/O error*|*IO error*|*io_error*|*EIO*|*read error*|*write error*", scope: "device" },
  { pattern: "NFS_NOT_RESPONDING|*not responding*", scope: "device" },
  { pattern: "*ECN*|*CNP*|*PFC*|*congestion*", scope: "device" },
].map((e) => ({ ...e, scope: e.scope as FaultScope, source: "default" }));

/** Why a fault-scope pattern is unusable, or undefined. */
export function faultPatternProblem(text: string): string | undefined {
  if (text.length === 0) return "empty pattern";
  if (text.length > 256) return "pattern longer than 256 characters";
  if (text.split("|").some((alt) => alt.length === 0)) return `empty alternative in "${text}"`;
  return undefined;
}

export class FaultScopeTable {
  readonly entries: readonly FaultScopeEntry[];
  private readonly _res: RegExp[];
  /** Error values repeat (a flapping Xid): answers are kept, bounded, starting over when full. */
  private readonly _cache = new Map<string, FaultScope>();

  /** `overrides` come before the built-in table, so they win. */
  constructor(overrides: readonly FaultScopeEntry[] = []) {
    this.entries = [...overrides, ...DEFAULT_FAULT_SCOPE];
    this._res = this.entries.map((e) => _glob(e.pattern));
  }

  /** The scope of an error value, as SPEC §3 reads it for an event with a pid. */
  of(value: string): FaultScope {
    let s = this._cache.get(value);
    if (s !== undefined) return s;
    s = "device";
    // The first word first (a collector's code: `XID_48 NVRM: ...`), then the whole value: the
    // driver's message after the code holds the process's name (`name=bloom-serve`), which must
    // not make a GPU's double-bit error one process's "OOM".
    // A rule file's entries still come before every default one.
    const sp = value.indexOf(" ");
    const word = sp === -1 ? undefined : value.slice(0, sp);
    const n = this.entries.length - DEFAULT_FAULT_SCOPE.length;
    const j = _find(this._res, 0, n, value, word) ?? _find(this._res, n, this._res.length, value, word);
    if (j !== undefined) s = this.entries[j].scope;
    if (this._cache.size >= 4096) this._cache.clear();
    this._cache.set(value, s);
    return s;
  }

  /** The scope of one error event: without a pid it is a device fault whatever its kind. */
  ofEvent(value: string, pid: number | null): FaultScope {
    return pid === null ? "device" : this.of(value);
  }
}

/** The first of `res[from..to)` that takes `word`, else the first that takes the whole `value`. */
function _find(res: readonly RegExp[], from: number, to: number, value: string, word: string | undefined): number | undefined {
  if (word !== undefined) for (let i = from; i < to; i++) if (res[i].test(word)) return i;
  for (let i = from; i < to; i++) if (res[i].test(value)) return i;
  return undefined;
}

function _glob(text: string): RegExp {
  const alts = text.split("|").map((alt) =>
    alt
      .split("*")
      .map((s) => s.replace(/[.+?^${}()[\]\\/-]/g, "\\$&"))
      .join(".*"),
  );
  return new RegExp(`^(?:${alts.join("|")})$`, "is");
}
