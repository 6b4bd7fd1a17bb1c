// `--stdin`: events piped into the exporter. Standard input cannot be reopened, so when it
// closes the source is down for good and the exporter carries on with its other sources.
import type { Source, SourceContext } from "./source.ts";

/** The part of a readable stream used here; process.stdin in Bun, Deno and Node has it. */
export interface ByteInput {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

export class StdinSource implements Source {
  readonly name: string;
  private readonly _input: ByteInput | undefined;
  private _detach: (() => void) | null = null;
  private _ctx: SourceContext | null = null;

  constructor(opts: { name?: string; input?: ByteInput } = {}) {
    this.name = opts.name ?? "stdin";
    this._input = opts.input;
  }

  start(ctx: SourceContext): void {
    this._ctx = ctx;
    // Read lazily: touching process.stdin at import time would open it in every command.
    const input: ByteInput = this._input ?? process.stdin;
    let pending = 0;
    let closed = false;
    const resume = () => {
      if (--pending === 0 && !closed) input.resume();
    };
    const onData = (chunk: Uint8Array) => {
      const wait = ctx.push(chunk);
      if (wait === undefined) return;
      // Queue full: stop reading so the writer blocks instead of data being lost.
      if (pending++ === 0) input.pause();
      wait.then(resume, resume);
    };
    // Deno's stdin ends without "close", Node's /dev/null without "close": take the first.
    const onEnd = (err?: unknown) => {
      if (closed) return;
      closed = true;
      ctx.end();
      ctx.setUp(false);
      const why = err instanceof Error ? `: ${err.message}` : "";
      ctx.log.warn(`standard input closed${why}; no more events from it, still serving the other sources`);
      detach();
    };
    const onError = (err: unknown) => onEnd(err);
    const detach = () => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("close", onEnd);
      input.off("error", onError);
    };
    this._detach = () => {
      closed = true;
      detach();
      input.pause();
    };
    input.on("data", onData);
    input.on("end", onEnd);
    input.on("close", onEnd);
    input.on("error", onError);
    ctx.setUp(true);
    input.resume();
  }

  async stop(): Promise<void> {
    this._detach?.();
    this._detach = null;
    this._ctx?.setUp(false);
  }
}
