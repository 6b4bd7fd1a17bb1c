// The field checks a rule file's checker is built from: presence, type, lists, mappings, one
// of a set of values. A failed check records its problem and throws `Stop`, which the rule
// checker catches at the next field, so one run names every problem of a file.
import { suggest } from "../suggest.ts";

/** One problem of one rule file. A warning does not stop the rule from loading. */
export interface RuleProblem {
  file: string;
  /** Dotted field path, or "" for the whole file. */
  field: string;
  reason: string;
  warning: boolean;
  /** 1-based line of the field (or of the deepest part of its path the file has), when known. */
  line?: number;
}

export type Obj = Record<string, unknown>;

/** Thrown by a failed check to leave the field being checked; the problem is already recorded. */
export class Stop {}

export class FieldChecker {
  readonly problems: RuleProblem[] = [];
  constructor(protected readonly file: string) {}

  /** Runs one check; a failure is recorded and the rest of the rule is still checked. */
  protected _try<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof Stop) return undefined;
      throw e;
    }
  }

  /** A string field that must be one of `values`. */
  protected _choice(o: Obj, key: string, path: string, values: readonly string[], what = key): string {
    const v = this._str(o, key, path);
    if (!values.includes(v)) this._fail(joinPath(path, key), `unknown ${what} "${v}" (one of ${values.join(", ")})`);
    return v;
  }

  protected _need(o: Obj, key: string, path: string): unknown {
    const v = o[key];
    if (v === undefined || v === null) this._fail(joinPath(path, key), "missing");
    return v;
  }

  protected _str(o: Obj, key: string, path: string): string {
    const v = this._need(o, key, path);
    if (typeof v !== "string") this._fail(joinPath(path, key), `must be a string (got ${kindOf(v)})`);
    if ((v as string).trim() === "") this._fail(joinPath(path, key), "must not be empty");
    return v as string;
  }

  protected _strings(o: Obj, key: string, path: string): string[] {
    return this._list(o, key, path, false).map((v, i) => {
      if (typeof v !== "string" || v.trim() === "") this._fail(`${joinPath(path, key)}[${i}]`, `must be a non-empty string (got ${kindOf(v)})`);
      return v as string;
    });
  }

  protected _int(o: Obj, key: string, path: string): number {
    const v = this._need(o, key, path);
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this._fail(joinPath(path, key), `must be an integer (got ${kindOf(v)})`);
    return v as number;
  }

  protected _list(o: Obj, key: string, path: string, nonEmpty: boolean): unknown[] {
    const v = this._need(o, key, path);
    if (!Array.isArray(v)) this._fail(joinPath(path, key), `must be a list (got ${kindOf(v)})`);
    if (nonEmpty && (v as unknown[]).length === 0) this._fail(joinPath(path, key), "must not be empty");
    return v as unknown[];
  }

  protected _obj(v: unknown, path: string): Obj {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      if (path === "") this._fail("", `not a rule: expected a YAML mapping (got ${kindOf(v)})`);
      this._fail(path, `must be a mapping (got ${kindOf(v)})`);
    }
    return v as Obj;
  }

  protected _known(o: Obj, path: string, fields: string[]): void {
    for (const k of Object.keys(o)) {
      if (fields.includes(k)) continue;
      const near = suggest(k, fields);
      this._try(() => this._fail(joinPath(path, k), `unknown field (${near !== undefined ? `did you mean ${near}? ` : ""}one of ${fields.join(", ")})`));
    }
  }

  protected _warn(field: string, reason: string): void {
    this.problems.push({ file: this.file, field, reason, warning: true });
  }

  protected _fail(field: string, reason: string): never {
    this.problems.push({ file: this.file, field, reason, warning: false });
    throw new Stop();
  }
}

export function joinPath(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** A value as a reason names it: `"text"`, `number 3`, `a list`, `a mapping`, `nothing`. */
export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v.length > 40 ? v.slice(0, 40) + "…" : v}"`;
  return `${typeof v} ${String(v)}`;
}
