// builtin:demo: a simulated busy GPU host (see demo-host.ts), run on timers. `speed` runs
// simulated time faster than the clock (tests, demos). On timers each event carries the real
// time it is emitted: simulated time only paces the story, so a fast demo never runs ahead of
// the wall clock (past --max-clock-skew every event would be refused as future_ts) and a slow
// or suspended one never lags behind it (its errors would expire as they came). Driven by
// advance() (tests), events keep their simulated times.
import { DemoHost, type DemoEvent } from "./demo-host.ts";
import type { Source, SourceContext } from "./source.ts";

export interface DemoOptions {
  name?: string;
  /** Telemetry events per simulated second (lifecycle and incident events come on top). */
  rate?: number;
  /** Simulated seconds per real second. */
  speed?: number;
  /** Same seed, same history; default random. */
  seed?: number;
  /** Drive it with advance() only (tests); no timers. */
  manual?: boolean;
}

/** Simulated time moves in steps of this much. */
const TICK_MS = 100;
/** Bound on events per timer callback, so a slow host skips ahead rather than stalling. */
const MAX_EVENTS_PER_CALLBACK = 50_000;

export class DemoSource implements Source {
  readonly name: string;
  readonly rate: number;
  readonly speed: number;
  readonly seed: number;
  /** Events emitted so far. */
  emitted = 0;
  private readonly _manual: boolean;
  private _host: DemoHost | null = null;
  private _ctx: SourceContext | null = null;
  private _timer: ReturnType<typeof setInterval> | undefined;
  /** Simulated ms run, and the real time (performance.now) that corresponds to zero. */
  private _simElapsed = 0;
  private _realStart = 0;

  constructor(opts: DemoOptions = {}) {
    this.name = opts.name ?? "demo";
    this.rate = opts.rate ?? 200;
    this.speed = opts.speed ?? 1;
    this.seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    this._manual = opts.manual ?? false;
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) throw new RangeError(`demo rate must be positive, got ${opts.rate}`);
    if (!(this.speed > 0) || !Number.isFinite(this.speed)) throw new RangeError(`demo speed must be positive, got ${opts.speed}`);
  }

  /** The simulation, once started (tests read what it dealt). */
  get host(): DemoHost | null {
    return this._host;
  }

  /** Simulated milliseconds run so far. */
  get simElapsedMs(): number {
    return this._simElapsed;
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    this._host = new DemoHost({ startTs: Date.now(), rate: this.rate, seed: this.seed }, (ev) => this._push(ev));
    this._simElapsed = 0;
    this._realStart = performance.now();
    ctx.setUp(true);
    ctx.log.info(`simulating a GPU host: ${this.rate} events/s${this.speed !== 1 ? ` at ${this.speed}x speed` : ""}, seed ${this.seed}`);
    if (this._manual) return;
    const period = Math.min(TICK_MS, Math.max(10, TICK_MS / this.speed));
    this._timer = setInterval(() => this._pump(), period);
  }

  /** Runs `ms` of simulated time now, in ticks. */
  advance(ms: number): void {
    const host = this._host;
    if (host === null) throw new Error("demo not started");
    for (let t = 0; t < ms; t += TICK_MS) {
      host.tick(TICK_MS);
      this._simElapsed += TICK_MS;
    }
  }

  async stop(): Promise<void> {
    if (this._timer !== undefined) clearInterval(this._timer);
    this._timer = undefined;
    this._ctx?.setUp(false);
    this._ctx = null;
  }

  private _pump(): void {
    const due = (performance.now() - this._realStart) * this.speed - this._simElapsed;
    let ticks = Math.floor(due / TICK_MS);
    const maxTicks = Math.max(1, Math.floor(MAX_EVENTS_PER_CALLBACK / ((this.rate * TICK_MS) / 1000)));
    if (ticks > maxTicks) {
      // Behind (a busy or suspended host): drop the backlog instead of a burst.
      this._realStart += ((ticks - maxTicks) * TICK_MS) / this.speed;
      ticks = maxTicks;
    }
    if (ticks > 0) this.advance(ticks * TICK_MS);
  }

  private _push(ev: DemoEvent): void {
    if (this._ctx === null) return;
    if (!this._manual) ev.ts = Date.now();
    this.emitted++;
    this._ctx.emit(ev as unknown as Record<string, unknown>);
  }
}
