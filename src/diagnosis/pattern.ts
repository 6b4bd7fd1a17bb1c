// Rule patterns (SPEC §4): globs where `*` matches any run of characters and `|` separates
// alternatives. Ids are matched whole and case-sensitively; values by containment, ignoring
// case, because probes spell the same fault as "OOM", "oom" or "Out of memory".

/** Why a pattern text is unusable, or undefined when it is fine. */
export function patternProblem(text: string): string | undefined {
  if (text.length === 0) return "empty pattern";
  if (text.length > 1024) return "pattern longer than 1024 characters";
  if (text.split("|").some((alt) => alt.length === 0)) return `empty alternative in "${text}"`;
  return undefined;
}

function _source(text: string): string {
  return text
    .split("|")
    .map((alt) => alt.split("*").map(_escape).join(".*"))
    .join("|");
}

function _escape(s: string): string {
  return s.replace(/[.+?^${}()[\]\\/-]/g, "\\$&");
}

/**
 * Matches node and entity ids against a glob. Ids repeat (every event names one), so results
 * are cached per id; the cache is bounded and starts over when full.
 */
export class IdPattern {
  readonly text: string;
  private readonly _re: RegExp;
  private readonly _cache = new Map<string, boolean>();
  private readonly _max: number;

  constructor(text: string, maxCached = 8192) {
    this.text = text;
    this._re = new RegExp(`^(?:${_source(text)})$`, "s");
    this._max = maxCached;
  }

  test(id: string): boolean {
    let hit = this._cache.get(id);
    if (hit === undefined) {
      hit = this._re.test(id);
      if (this._cache.size >= this._max) this._cache.clear();
      this._cache.set(id, hit);
    }
    return hit;
  }
}

/** True when the value contains one of the alternatives (each may hold `*`), ignoring case. */
export class ValuePattern {
  readonly text: string;
  private readonly _re: RegExp;

  constructor(text: string) {
    this.text = text;
    this._re = new RegExp(_source(text), "is");
  }

  test(value: string): boolean {
    return this._re.test(value);
  }
}
