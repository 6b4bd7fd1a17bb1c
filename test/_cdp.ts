// Headless Chromium driven over the DevTools protocol through a pipe (--remote-debugging-pipe:
// requests on fd 3, answers on fd 4, each message NUL-terminated), so no WebSocket client is
// needed under any runtime. Collects what a person would see in the DevTools console: console
// calls, uncaught exceptions, log entries (a resource that failed to load included), and the
// responses the page received.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);

/**
 * The environment Chromium runs in: HOME and the XDG directories inside the profile. Besides the
 * profile of --user-data-dir, Chromium writes its crash database to ~/.config/chromium, GTK's
 * dconf to ~/.cache/dconf and, now and then, a scoped_dir of its disk cache to
 * ~/.cache/chromium-headless: each test run left them in the home directory of whoever ran it.
 */
export function headlessEnv(profile: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: profile, XDG_CONFIG_HOME: join(profile, ".config"), XDG_CACHE_HOME: join(profile, ".cache") };
}

/** Headless, isolated and quiet: no sandbox (CI runs as root), no GPU, nothing fetched in the background. */
export function headlessFlags(profile: string): string[] {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    `--user-data-dir=${profile}`,
  ];
}

export interface PageVisit {
  /** Console calls, exceptions and log entries, one line each: `error [network] Failed to load ...`. */
  console: string[];
  /** `STATUS URL` of every response the page received. */
  responses: string[];
  /** A JavaScript dialog (alert, confirm) opened: something ran. */
  dialogs: string[];
  /** Values of the expressions asked for, evaluated in the page once it has loaded. */
  values: unknown[];
}

interface _Message {
  id?: number;
  method?: string;
  params?: Record<string, any>;
  result?: Record<string, any>;
  error?: { message: string };
  sessionId?: string;
}

/**
 * Opens `url` in a fresh headless Chromium, waits for the load event and `settleMs` more (the
 * browser asks for a favicon after the load), evaluates `expressions`, and closes it.
 * `headers` go with every request the page makes (basic auth, say).
 */
export async function visit(url: string, opts: { expressions?: string[]; headers?: Record<string, string>; settleMs?: number; timeoutMs?: number } = {}): Promise<PageVisit> {
  if (!CHROMIUM) throw new Error("chromium not installed");
  const profile = mkdtempSync(join(tmpdir(), "xctl-cdp-"));
  const child: ChildProcess = spawn(
    CHROMIUM,
    [...headlessFlags(profile), "--ignore-certificate-errors", "--remote-debugging-pipe", "about:blank"],
    { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"], env: headlessEnv(profile) },
  );
  const out = child.stdio[3] as Writable;
  const input = child.stdio[4] as Readable;
  const seen: PageVisit = { console: [], responses: [], dialogs: [], values: [] };
  const waiting = new Map<number, (m: _Message) => void>();
  const events: ((m: _Message) => void)[] = [];
  let next = 0;
  let buf = "";
  input.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    for (let i = buf.indexOf("\0"); i >= 0; i = buf.indexOf("\0")) {
      const m = JSON.parse(buf.slice(0, i)) as _Message;
      buf = buf.slice(i + 1);
      if (m.id !== undefined) waiting.get(m.id)?.(m);
      else for (const f of events) f(m);
    }
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, any>> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, (m) => {
        waiting.delete(id);
        if (m.error) reject(new Error(`${method}: ${m.error.message}`));
        else resolve(m.result ?? {});
      });
      out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
    });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      // Whatever was still asked fails rather than waits forever.
      for (const f of [...waiting.values()]) f({ error: { message: "chromium exited" } });
      resolve();
    }),
  );
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  try {
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
    let loaded: () => void = () => {};
    const load = new Promise<void>((resolve) => (loaded = resolve));
    events.push((m) => {
      if (m.sessionId !== sessionId || !m.params) return;
      const p = m.params;
      if (m.method === "Runtime.consoleAPICalled") seen.console.push(`${p.type} [console] ${p.args.map((a: any) => a.value ?? a.description).join(" ")}`);
      else if (m.method === "Runtime.exceptionThrown") seen.console.push(`error [exception] ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
      else if (m.method === "Log.entryAdded") seen.console.push(`${p.entry.level} [${p.entry.source}] ${p.entry.text} ${p.entry.url ?? ""}`.trim());
      else if (m.method === "Network.responseReceived") seen.responses.push(`${p.response.status} ${p.response.url}`);
      else if (m.method === "Page.javascriptDialogOpening") {
        seen.dialogs.push(`${p.type}: ${p.message}`);
        void send("Page.handleJavaScriptDialog", { accept: true }, sessionId);
      } else if (m.method === "Page.loadEventFired") loaded();
    });
    for (const domain of ["Runtime", "Log", "Network", "Page"]) await send(`${domain}.enable`, {}, sessionId);
    if (opts.headers) await send("Network.setExtraHTTPHeaders", { headers: opts.headers }, sessionId);
    await send("Page.navigate", { url }, sessionId);
    await Promise.race([load, exited.then(() => Promise.reject(new Error("chromium exited before the page loaded")))]);
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 1000));
    for (const expression of opts.expressions ?? []) {
      const r = await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId);
      seen.values.push(r.result?.value);
    }
    await send("Browser.close").catch(() => {});
    return seen;
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(profile, { recursive: true, force: true });
  }
}
