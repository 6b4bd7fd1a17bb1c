// What `npu-smi` prints, as text in, plain records out. Two shapes:
// - `npu-smi info`: a box-drawn table. Per NPU (card) a row `| id name | Health | Power Temp
//   Hugepages |`, then one row per chip `| chip [device] | Bus-Id | AICore(%) Memory-Usage
//   [HBM-Usage] |` (910A/910B/910C have HBM; 310/310P only Memory-Usage), then a process table
//   `| npu chip | pid | name | memory |` or `No running processes found in NPU n`. Newer
//   releases put the id and the name in separate cells; both are read.
// - `npu-smi info -t health|ecc|hccs -i N [-c C]`: `Key : value` lines, one block per chip where
//   a card has several (a block ends with its `Chip ID : c` line, as ecc/usages print it).

export interface NpuChip {
  npu: number;
  chip: number;
  busId?: string;
  /** The card's Health column: OK, Warning, Alarm, Critical, ... */
  health?: string;
  /** Degrees C. */
  temp?: number;
  /** AICore (or NPU Util) percent. */
  util?: number;
  /** HBM (or, without HBM, device memory) used and total, MB. */
  memUsed?: number;
  memTotal?: number;
}

export interface NpuProcess {
  npu: number;
  chip: number;
  pid: number;
  name?: string;
  /** MB. */
  memory?: number;
}

export interface NpuInfo {
  chips: NpuChip[];
  processes: NpuProcess[];
}

const BUS_ID = /^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$/;
const INT = /^\d+$/;
const MAX_PID = 2 ** 31 - 1;

/**
 * The `npu-smi info` table; rows it does not recognise (headers, borders, titles) are skipped.
 * Rows are told apart by their shape, so a faulty chip whose cells read `NA` keeps its place:
 * the header says which column holds Health (and, a row below, Bus-Id); a card row starts with
 * the NPU id and a name and has a word there; a chip row starts with ids only (nothing where
 * the NPU id has a cell of its own) and has its Bus-Id there, or, right after its card row,
 * whatever the driver could not read (`NA`).
 */
export function parseInfo(text: string): NpuInfo {
  const chips: NpuChip[] = [];
  const processes: NpuProcess[] = [];
  let card: { npu: number; health?: string; temp?: number } | null = null;
  let col = 1;
  let afterCard = false;
  let inProcesses = false;
  let pidCol = 1;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("|")) continue;
    const cells = line.replace(/\|$/, "").slice(1).split("|").map((c) => c.trim());
    // The process header names the pid's column (the ids before it, whatever cells they take).
    const pc = cells.findIndex((c) => /^Process id$/i.test(c));
    if (pc > 0) {
      inProcesses = true;
      pidCol = pc;
      continue;
    }
    if (inProcesses) {
      const p = _processRow(cells, pidCol);
      if (p) processes.push(p);
      continue;
    }
    const h = cells.findIndex((c) => /^Health$/i.test(c));
    if (h > 0) {
      col = h;
      continue;
    }
    if (cells.length <= col) continue;
    const lead = cells.slice(0, col).join(" ").split(/\s+/).filter(Boolean);
    const at = cells[col]!;
    const kind = _rowKind(lead, at, afterCard);
    afterCard = kind === "card";
    if (kind === "card") {
      card = { npu: Number(lead[0]) };
      if (at !== "") card.health = at;
      _set(card, "temp", _figures(cells[col + 1] ?? "").values[1]);
      continue;
    }
    if (kind !== "chip" || card === null) continue;
    const chip: NpuChip = { npu: card.npu, chip: lead.length > 0 ? Number(lead[0]) : 0 };
    if (BUS_ID.test(at)) chip.busId = at.toLowerCase();
    _set(chip, "health", card.health);
    _set(chip, "temp", card.temp);
    const figures = _figures(cells[col + 1] ?? "");
    _set(chip, "util", figures.values[0]);
    const mem = figures.pairs.length >= 2 ? figures.pairs[1] : figures.pairs[0];
    if (mem) {
      _set(chip, "memUsed", mem[0]);
      _set(chip, "memTotal", mem[1]);
    }
    chips.push(chip);
  }
  return { chips, processes };
}

/** A data row of the chip table by its leading cells and the Health / Bus-Id cell. */
function _rowKind(lead: string[], at: string, afterCard: boolean): "card" | "chip" | null {
  if (lead.length === 0) return BUS_ID.test(at) ? "chip" : null;
  if (!INT.test(lead[0]!)) return null;
  const ids = lead.every((t) => INT.test(t));
  if (BUS_ID.test(at)) return ids ? "chip" : null;
  // Ids only, and a Bus-Id the driver could not read: a chip (a card's Health is a word).
  if (ids && (afterCard || /^(NA|N\/A|-)?$/i.test(at))) return "chip";
  return lead.length >= 2 && /^[A-Za-z][\w-]*$/.test(at) ? "card" : null;
}

/**
 * `Key : value` lines to a map per chip (chip 0 when no `Chip ID` line says otherwise). A line
 * with no colon right below a key continues its value (`Error Information` prints one line per
 * alarm), joined with `; `.
 */
export function parseKeyValues(text: string): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  let block = new Map<string, string>();
  let any = false;
  let last: string | null = null;
  for (const raw of text.split("\n")) {
    const colon = raw.indexOf(":");
    if (colon === -1) {
      const more = raw.trim();
      if (more === "") last = null;
      else if (last !== null) block.set(last, `${block.get(last)}; ${more}`);
      continue;
    }
    const key = raw.slice(0, colon).trim().toLowerCase();
    const value = raw.slice(colon + 1).trim();
    last = null;
    if (key === "") continue;
    if (key === "chip id" && INT.test(value)) {
      out.set(Number(value), _merge(out.get(Number(value)), block));
      block = new Map();
      any = false;
      continue;
    }
    block.set(key, value);
    last = key;
    any = true;
  }
  if (any) out.set(0, _merge(out.get(0), block));
  return out;
}

export interface NpuHealth {
  status: string;
  /** Error codes, `NA` dropped. */
  codes: string[];
  info?: string;
}

/** `npu-smi info -t health -i N -c C`, or null when it says no health status. */
export function parseHealth(text: string): NpuHealth | null {
  const kv = parseKeyValues(text).get(0);
  const status = kv?.get("health status") ?? kv?.get("health");
  if (!kv || status === undefined) return null;
  const codes = (kv.get("error code") ?? "").split(/[\s,]+/).filter((c) => c !== "" && c.toUpperCase() !== "NA");
  const health: NpuHealth = { status, codes };
  const info = kv.get("error information");
  if (info !== undefined && info.toUpperCase() !== "NA" && info !== "") health.info = info;
  return health;
}

export interface NpuEcc {
  /** Uncorrectable (double-bit) errors counted by the driver, HBM and DDR. */
  hbmDoubleBit?: number;
  ddrDoubleBit?: number;
  /** Where npu-smi names no memory (`Double-bit Error Count`, as the 200I A2 prints it). */
  doubleBit?: number;
}

/** `npu-smi info -t ecc -i N`, per chip. */
export function parseEcc(text: string): Map<number, NpuEcc> {
  const out = new Map<number, NpuEcc>();
  for (const [chip, raw] of parseKeyValues(text)) {
    // `Double Bit` and `Double-bit` alike.
    const kv = new Map([...raw].map(([k, v]) => [k.replace(/-/g, " "), v]));
    const ecc: NpuEcc = {};
    _set(ecc, "hbmDoubleBit", _num(kv.get("hbm double bit error count")));
    _set(ecc, "ddrDoubleBit", _num(kv.get("ddr double bit error count")));
    _set(ecc, "doubleBit", _num(kv.get("double bit error count")));
    if (Object.keys(ecc).length > 0) out.set(chip, ecc);
  }
  return out;
}

export interface NpuHccs {
  /** `OK` on a healthy chip, `NOK` otherwise. */
  health?: string;
  /** Per link, the lanes up as `1` digits: `1111` all four, `1101` one down. */
  lanes: string[];
  errors?: number;
  retries?: number;
}

/** `npu-smi info -t hccs -i N -c C`, or null when it prints no hccs field. */
export function parseHccs(text: string): NpuHccs | null {
  const kv = parseKeyValues(text).get(0);
  if (!kv || ![...kv.keys()].some((k) => k.startsWith("hccs"))) return null;
  const hccs: NpuHccs = { lanes: _list(kv.get("hccs link lane list")) };
  _set(hccs, "health", kv.get("hccs health status"));
  _set(hccs, "errors", _sum(kv.get("hccs error count")));
  _set(hccs, "retries", _sum(kv.get("hccs retry count")));
  return hccs;
}

function _processRow(cells: string[], pidCol: number): NpuProcess | null {
  if (cells.length < pidCol + 2) return null;
  const ids = cells.slice(0, pidCol).join(" ").split(/\s+/).filter(Boolean);
  const pid = cells[pidCol]!;
  if (ids.length === 0 || !ids.every((t) => INT.test(t)) || !INT.test(pid)) return null;
  const n = Number(pid);
  if (n > MAX_PID) return null;
  const p: NpuProcess = { npu: Number(ids[0]), chip: ids.length > 1 ? Number(ids[1]) : 0, pid: n };
  _set(p, "name", cells[pidCol + 1] || undefined);
  _set(p, "memory", _num(cells[pidCol + 2]));
  return p;
}

/** `0   1197 / 13553   1365 / 32768` to single values and used/total pairs, NA as undefined. */
function _figures(cell: string): { values: (number | undefined)[]; pairs: [number | undefined, number | undefined][] } {
  const tokens = cell.replace(/\s*\/\s*/g, "/").split(/\s+/).filter(Boolean);
  const values: (number | undefined)[] = [];
  const pairs: [number | undefined, number | undefined][] = [];
  for (const t of tokens) {
    const slash = t.indexOf("/");
    if (slash === -1) values.push(_num(t));
    else pairs.push([_num(t.slice(0, slash)), _num(t.slice(slash + 1))]);
  }
  return { values, pairs };
}

function _num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^-?\d+(\.\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/** `[1111 1101 1111]` to its entries. */
function _list(s: string | undefined): string[] {
  if (s === undefined) return [];
  return s.replace(/^\[|\]$/g, "").split(/[\s,]+/).filter(Boolean);
}

function _sum(s: string | undefined): number | undefined {
  const items = _list(s).map(_num);
  if (items.length === 0 || items.some((n) => n === undefined)) return undefined;
  return items.reduce<number>((a, n) => a + n!, 0);
}

function _merge(a: Map<string, string> | undefined, b: Map<string, string>): Map<string, string> {
  if (a === undefined) return b;
  for (const [k, v] of b) a.set(k, v);
  return a;
}

function _set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}
