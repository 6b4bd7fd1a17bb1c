// Shared by the host-collector tests: a private copy of test/fixtures/host to rewrite between
// rounds, and an in-process exporter (its real graph and diagnosis) whose source context
// records what a collector emitted and logged.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createConsola, type LogObject } from "consola";
import { Exporter } from "../../src/exporter.ts";
import type { KnownProcess, SourceContext } from "../../src/sources/source.ts";
import { ROOT } from "../_helpers.ts";

export const FIXTURE = join(ROOT, "test/fixtures/host");

/** Copies a tree, symlinks as symlinks (fd links point nowhere on this machine, on purpose). */
export function copyTree(src: string, dst: string): void {
  mkdirSync(dst, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    const s = join(src, e.name);
    const d = join(dst, e.name);
    if (e.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
    else if (e.isDirectory()) copyTree(s, d);
    else copyFileSync(s, d);
  }
}

export interface HostTree {
  dir: string;
  procfs: string;
  sysfs: string;
  /** Writes a file under the tree (`proc/4242/stat`), creating its folder. */
  write(rel: string, text: string): void;
  remove(rel: string): void;
  link(rel: string, target: string): void;
  close(): void;
}

export function hostTree(): HostTree {
  const dir = mkdtempSync(join(tmpdir(), "xctl-host-"));
  copyTree(FIXTURE, dir);
  return {
    dir,
    procfs: join(dir, "proc"),
    sysfs: join(dir, "sys"),
    write(rel, text) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    },
    remove(rel) {
      rmSync(join(dir, rel), { recursive: true, force: true });
    },
    link(rel, target) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      symlinkSync(target, join(dir, rel));
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Harness {
  exporter: Exporter;
  ctx: SourceContext;
  /** Events the collector emitted, as it emitted them. */
  events: Record<string, unknown>[];
  logs: { type: string; msg: string }[];
  /** Sends events into the graph as another probe would. */
  feed(...events: Record<string, unknown>[]): void;
  /** Events emitted since the last call. */
  take(): Record<string, unknown>[];
}

export function harness(name: string): Harness {
  const logs: { type: string; msg: string }[] = [];
  const log = createConsola({
    level: 5,
    reporters: [{ log: (o: LogObject) => void logs.push({ type: o.type, msg: o.args.map(String).join(" ") }) }],
  });
  const exporter = new Exporter({ log, liveClock: false, processMetrics: false });
  const events: Record<string, unknown>[] = [];
  let taken = 0;
  const ctx: SourceContext = {
    push: () => undefined,
    end: () => {},
    emit: (ev) => {
      events.push(ev);
      const reason = exporter.ingest.object(ev, name);
      if (reason !== undefined) throw new Error(`${name} emitted an event the exporter rejects (${reason}): ${JSON.stringify(ev)}`);
    },
    setUp: () => {},
    restarted: () => {},
    processes: (): KnownProcess[] => [...exporter.graph.processes.values()].map((p) => ({ pid: p.pid, jobId: p.jobId, state: p.state, startKnown: p.bornTs !== -Infinity })),
    log,
  };
  return {
    exporter,
    ctx,
    events,
    logs,
    feed: (...evs) => {
      for (const ev of evs) if (exporter.ingest.object(ev, "test") !== undefined) throw new Error(`fed a bad event ${JSON.stringify(ev)}`);
    },
    take: () => events.slice(taken, (taken = events.length)),
  };
}

/**
 * A clock the test moves. It starts a second ahead of now: a collector's round reads after the
 * processes it reports on started, and the starts a test feeds are stamped when received (an
 * event stamped before a process's start is its pid's earlier owner's, and changes nothing of it).
 */
export function testClock(start = Date.now() + 1000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/**
 * A /proc tree at `root` as the host's pid namespace has it (pid 2 is kthreadd), with a `stat`
 * for each of `procs` (pid → state letter): enough for a collector to tell a live pid from a gone one.
 */
export function writeProcTree(root: string, procs: Record<number, string>): void {
  const stat = (pid: number, comm: string, state: string, ppid: number) => `${pid} (${comm}) ${state} ${ppid} ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2318844\n`;
  mkdirSync(join(root, "2"), { recursive: true });
  writeFileSync(join(root, "2", "stat"), stat(2, "kthreadd", "S", 0));
  for (const [pid, state] of Object.entries(procs)) {
    mkdirSync(join(root, pid), { recursive: true });
    writeFileSync(join(root, pid, "stat"), stat(Number(pid), "python3", state, 1));
  }
}
