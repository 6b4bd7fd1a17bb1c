// How a metric entry compares a node's value with its target (SPEC §4): decided once from the
// op, the target and the value_type, so each reading costs one parse and one comparison.
import { ValuePattern } from "../pattern.ts";
import { parseNumber } from "../../events/number.ts";
import type { MetricEntry, MetricOp } from "../rule.ts";

/** How the two sides are read. */
export const Mode = {
  /** numeric, but the target is not a number: nothing passes */
  Never: 0,
  /** numeric: both sides as numbers; a non-numeric reading fails */
  Numeric: 1,
  /**
   * auto with a numeric target: numbers when the reading is one; a reading that is not (`[N/A]`,
   * `85%`) passes no ordering (gt lt gte lte) and equals nothing, as it passes no threshold
   */
  Auto: 2,
  /** string, or auto with a non-numeric target: text order */
  Text: 3,
  Contains: 4,
} as const;
type ModeValue = (typeof Mode)[keyof typeof Mode];

type Order = <T extends number | string>(a: T, b: T) => boolean;

/** The ordering operators by name. */
export const ORDER: Readonly<Record<Exclude<MetricOp, "contains">, Order>> = {
  gt: (a, b) => a > b,
  lt: (a, b) => a < b,
  gte: (a, b) => a >= b,
  lte: (a, b) => a <= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};

export class Comparison {
  readonly key: string;
  readonly mode: ModeValue;
  readonly op: MetricOp;
  readonly target: string;
  readonly num: number;
  private readonly _order: Order;
  private readonly _contains: ValuePattern | undefined;

  constructor(m: MetricEntry) {
    const num = parseNumber(m.target);
    this.key = m.key;
    this.op = m.op;
    this.target = m.target;
    this.num = num ?? NaN;
    if (m.op === "contains") this.mode = Mode.Contains;
    else if (m.value_type === "numeric") this.mode = num === undefined ? Mode.Never : Mode.Numeric;
    else if (m.value_type === "auto" && num !== undefined) this.mode = Mode.Auto;
    else this.mode = Mode.Text;
    this._order = m.op === "contains" ? () => false : ORDER[m.op];
    this._contains = this.mode === Mode.Contains ? new ValuePattern(m.target) : undefined;
  }

  /** The threshold this entry compares numbers with, when it does only that; else undefined. */
  get threshold(): number | undefined {
    return this.mode === Mode.Numeric ? this.num : undefined;
  }

  test(actual: string | undefined): boolean {
    if (actual === undefined) return false;
    switch (this.mode) {
      case Mode.Numeric: {
        const a = parseNumber(actual);
        return a !== undefined && this._order(a, this.num);
      }
      case Mode.Auto: {
        const a = parseNumber(actual);
        // Text order would put "[N/A]" above 90 and "100%" below it.
        if (a !== undefined) return this._order(a, this.num);
        return this.op === "ne";
      }
      case Mode.Text:
        return this._order(actual, this.target);
      case Mode.Contains:
        return this._contains!.test(actual);
      default:
        return false;
    }
  }

  /** `util lt 5`, for evidence. */
  toString(): string {
    return `${this.key} ${this.op} ${this.target}`;
  }
}
