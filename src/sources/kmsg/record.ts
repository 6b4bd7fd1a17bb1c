// The /dev/kmsg record format (Documentation/ABI/testing/dev-kmsg), parsed from strings:
//
//   prio,seq,usec,flags[,more...];message text
//    KEY=value            <- dictionary lines, each starting with one space
//
// `prio` is facility * 8 + level; `usec` the time since boot in microseconds; `flags` is `-`,
// or `c` for a continued fragment. The kernel escapes non-printable bytes of the text, the
// record's own newlines included, as `\xNN`, so a record is one line plus its dictionary.

export interface KmsgRecord {
  /** Syslog facility: 0 is the kernel; 1 (user) and above are written by user space. */
  facility: number;
  level: number;
  seq: number;
  /** Microseconds since boot. */
  usec: number;
  /** The text, `\xNN` escapes decoded (it may hold newlines). */
  message: string;
  /** Dictionary lines as key → value (`SUBSYSTEM` → `pci`, `DEVICE` → `+pci:0000:3b:00.0`). */
  dict: Map<string, string>;
}

const _HEADER = /^(\d{1,4}),(\d{1,20}),(\d{1,20}),([^,;]*)(?:,[^;]*)?;/;

/**
 * One record from its header line and the dictionary lines that follow (joined by `\n`);
 * null when the first line is not a record header.
 */
export function parseRecord(block: string): KmsgRecord | null {
  const nl = block.indexOf("\n");
  const first = nl === -1 ? block : block.slice(0, nl);
  const m = _HEADER.exec(first);
  if (m === null) return null;
  const prio = Number(m[1]);
  const seq = Number(m[2]);
  const usec = Number(m[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(usec)) return null;
  const raw = first.slice(m[0].length);
  const dict = new Map<string, string>();
  if (nl !== -1) {
    for (const line of block.slice(nl + 1).split("\n")) {
      if (line.length < 2 || line.charCodeAt(0) !== 32) continue;
      const eq = line.indexOf("=");
      if (eq > 1) dict.set(line.slice(1, eq), unescapeKmsg(line.slice(eq + 1)));
    }
  }
  return { facility: prio >> 3, level: prio & 7, seq, usec, message: unescapeKmsg(raw), dict };
}

const _UTF8 = new TextDecoder("utf-8");

/**
 * Decodes the kernel's `\xNN` escapes (a backslash itself is written `\x5c`). The kernel escapes
 * every byte from 127 up, so UTF-8 text (a command name, a path) comes as a run of escapes, one
 * per byte: a run is decoded as UTF-8 bytes (a byte that is none reads U+FFFD), not byte by byte.
 */
export function unescapeKmsg(s: string): string {
  if (s.indexOf("\\x") === -1) return s;
  return s.replace(/(?:\\x[0-9a-fA-F]{2})+/g, (run: string) => {
    const bytes = new Uint8Array(run.length / 4);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 4 + 2, i * 4 + 4), 16);
    return _UTF8.decode(bytes);
  });
}

/**
 * Groups a text stream of records (a file in the /dev/kmsg format) into record blocks: a
 * header line and the dictionary lines after it. A block is complete when the next header
 * arrives, or at `flush()` (the reader calls it when it has caught up with the file).
 * Lines longer than `maxLine` characters are cut there; dictionary lines past
 * `maxDictLines` are dropped, so nothing the file holds can grow memory without bound.
 */
export class RecordSplitter {
  private _held = "";
  private _block: string[] = [];
  private _skipRest = false;

  constructor(
    private readonly _onBlock: (block: string) => void,
    private readonly _maxLine = 16 * 1024,
    private readonly _maxDictLines = 64,
  ) {}

  push(text: string): void {
    this._held += text;
    let from = 0;
    for (let nl = this._held.indexOf("\n", from); nl !== -1; nl = this._held.indexOf("\n", from)) {
      this._line(this._held.slice(from, nl));
      from = nl + 1;
    }
    this._held = this._held.slice(from);
    if (this._held.length > this._maxLine) {
      this._line(this._held.slice(0, this._maxLine));
      this._held = "";
      this._skipRest = true;
    }
  }

  /** Ends the block being gathered (a partial last line stays held until its newline). */
  flush(): void {
    if (this._block.length > 0) this._onBlock(this._block.join("\n"));
    this._block = [];
  }

  /** Forgets everything held: the file was truncated or replaced. */
  reset(): void {
    this._held = "";
    this._block = [];
    this._skipRest = false;
  }

  private _line(line: string): void {
    if (this._skipRest) {
      // The rest of a line cut at maxLine: not a line of its own.
      this._skipRest = false;
      return;
    }
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text.charCodeAt(0) === 32) {
      if (this._block.length > 0 && this._block.length <= this._maxDictLines) this._block.push(text);
      return;
    }
    this.flush();
    if (text !== "") this._block.push(text);
  }
}
