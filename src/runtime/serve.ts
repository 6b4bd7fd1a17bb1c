// The one place that knows which runtime serves the app: Bun.serve, Deno.serve or
// @hono/node-server. Everything above it speaks web-standard Request/Response.
import { XctlError } from "../errors.ts";
import { escapeControl } from "../escape.ts";
import type { ConnEnv } from "../http/env.ts";
import type { TlsSettings } from "../http/web-config.ts";
import { runtimeName } from "../runtime-name.ts";
import { bunTlsOptions, denoTlsOptions, guardClientCert, nodeTlsOptions, tlsSupportProblem } from "./tls.ts";
import { startTlsFront, type TlsFront } from "./tls-front.ts";

export type FetchHandler = (req: Request, env: ConnEnv) => Response | Promise<Response>;

export interface ServeOptions {
  port: number;
  hostname: string;
  fetch: FetchHandler;
  /** Serve HTTPS (from the web-config file); check it first with checkTlsSupport. */
  tls?: TlsSettings;
  /**
   * Where a request the app never saw (a malformed Host) or an error no route caught is
   * reported: one short line each, a few a second at most, never a stack.
   */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting, closes open connections, resolves once closed. */
  close(): Promise<void>;
}

/** The address is taken: the CLI exits 1 for this, as for any run-time failure. */
export class AddressInUseError extends XctlError {
  constructor(hostname: string, port: number) {
    super(`cannot listen on ${hostname}:${port}: address already in use`, 1);
    this.name = "AddressInUseError";
  }
}

/** A request the edge answers itself, before the app: JSON, like every other error. */
function _badRequest(why: string): Response {
  return new Response(JSON.stringify({ error: `bad request: ${why}` }), { status: 400, headers: { "Content-Type": "application/json" } });
}

function _internalError(): Response {
  return new Response(JSON.stringify({ error: "internal error" }), { status: 500, headers: { "Content-Type": "application/json" } });
}

/** At most a few lines a second, each cut short and with control characters escaped. */
function _edgeLog(log: ((line: string) => void) | undefined): (line: string) => void {
  let windowStart = 0;
  let logged = 0;
  let suppressed = 0;
  return (line) => {
    if (log === undefined) return;
    const now = Date.now();
    if (now - windowStart >= 1000) {
      if (suppressed > 0) log(`${suppressed} more bad requests not logged`);
      windowStart = now;
      logged = 0;
      suppressed = 0;
    }
    if (logged++ < 5) log(escapeControl(line.length > 200 ? line.slice(0, 200) + "..." : line));
    else suppressed++;
  };
}

export function serve(opts: ServeOptions): Promise<RunningServer> {
  // Never serve weaker than configured, even if the caller skipped checkTlsSupport.
  const problem = opts.tls && tlsSupportProblem(opts.tls, runtimeName);
  if (problem) return Promise.reject(new Error(`${problem.field}: ${problem.reason}`));
  if (runtimeName === "bun") return _serveBun(opts);
  if (runtimeName === "deno") return _serveDeno(opts);
  return _serveNode(opts);
}

/** Calls `onSignal` once on the first SIGTERM or SIGINT. */
export function onShutdownSignal(onSignal: (signal: string) => void): void {
  let fired = false;
  const handler = (signal: string) => {
    if (fired) return;
    fired = true;
    onSignal(signal);
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => handler(sig));
}

/**
 * Calls `onSignal` on each SIGHUP (serve reloads its rules; `systemctl reload` sends it). Left
 * unhandled, SIGHUP would end the process, and systemd counts that a clean exit.
 */
export function onHangupSignal(onSignal: () => void): void {
  process.on("SIGHUP", onSignal);
}

// --- Bun ---------------------------------------------------------------------------------

interface _BunServer {
  port: number;
  stop(closeActive?: boolean): Promise<void> | void;
  requestIP(req: Request): { address: string; port: number } | null;
  timeout(req: Request, seconds: number): void;
}

/**
 * Bun closes a connection that moves no bytes for 10 s, and an event stream is quiet between
 * its heartbeats (15 s): such a response gets this idle timeout instead, so a stream that
 * moves nothing for a minute (its client stopped reading and the buffers filled) still goes.
 */
const _BUN_STREAM_IDLE_S = 60;
declare const Bun: { serve(o: Record<string, unknown>): _BunServer };

async function _serveBun(opts: ServeOptions): Promise<RunningServer> {
  let server: _BunServer;
  // With TLS, Bun.serve listens on loopback behind the front (src/runtime/tls-front.ts).
  let front: TlsFront | undefined;
  const log = _edgeLog(opts.log);
  try {
    server = Bun.serve({
      port: opts.tls ? 0 : opts.port,
      hostname: opts.tls ? "127.0.0.1" : opts.hostname,
      // The default (128 MiB) is far above any body we accept; the app enforces its own limit.
      maxRequestBodySize: 64 * 1024 * 1024,
      development: false,
      // Bun shares a port between processes unless told not to; a second exporter must fail.
      reusePort: false,
      ...(opts.tls ? { tls: bunTlsOptions(opts.tls) } : {}),
      fetch: async (raw: Request, srv: _BunServer) => {
        let req = raw;
        // Without a Host (HTTP/1.0, a load balancer's health check) Bun leaves the URL relative,
        // which no URL parser takes: serve it as if sent to this host. A Host that is there but
        // malformed gets a JSON 400: Bun leaves the URL relative for `a b` or `x/y`, but builds
        // one no parser takes for `[::1` or a port past 65535, so the header is checked too.
        const host = req.headers.get("host");
        if (host !== null && host !== "" && !_validHost(host)) return _badHost(req.method, _pathOf(req.url, host), host, log);
        if (!req.url.startsWith("http")) {
          if ((host !== null && host !== "") || !req.url.startsWith("/")) return _badHost(req.method, req.url, host ?? "", log);
          req = new Request(`http://localhost${req.url}`, req);
        }
        const ip = srv.requestIP(raw);
        const remoteAddress = opts.tls ? (ip ? (front?.peerOf(ip.port) ?? "") : "") : (ip?.address ?? "");
        const res = await opts.fetch(req, { remoteAddress });
        if (res.headers.get("content-type")?.startsWith("text/event-stream")) srv.timeout(raw, _BUN_STREAM_IDLE_S);
        return res;
      },
      // Anything the app let through: one line, never Bun's page of source.
      error: (e: Error) => {
        log(`request failed: ${e?.name ?? "Error"}: ${e?.message ?? String(e)}`);
        return _internalError();
      },
    });
  } catch (e) {
    throw _isAddrInUse(e) ? new AddressInUseError(opts.hostname, opts.port) : e;
  }
  if (opts.tls) front = await _front(opts, { kind: "relay", port: server.port }, () => server.stop(true));
  return {
    port: front?.port ?? server.port,
    close: async () => {
      await front?.close();
      await server.stop(true);
    },
  };
}

/** The TLS front on the public address; `undo` releases the inner server when it cannot listen. */
async function _front(opts: ServeOptions, handoff: Parameters<typeof startTlsFront>[2], undo: () => unknown): Promise<TlsFront> {
  try {
    return await startTlsFront(opts.hostname, opts.port, handoff);
  } catch (e) {
    await undo();
    throw _isAddrInUse(e) ? new AddressInUseError(opts.hostname, opts.port) : e;
  }
}

// --- Deno --------------------------------------------------------------------------------

interface _DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
declare const Deno: {
  serve(o: Record<string, unknown>, h: (req: Request, info: { remoteAddr: { hostname: string; port: number } }) => Response | Promise<Response>): _DenoServer;
};

async function _serveDeno(opts: ServeOptions): Promise<RunningServer> {
  let server: _DenoServer;
  // With TLS, Deno.serve listens on loopback behind the front (src/runtime/tls-front.ts).
  let front: TlsFront | undefined;
  const log = _edgeLog(opts.log);
  try {
    const tls = opts.tls ? denoTlsOptions(opts.tls) : {};
    const where = opts.tls ? { port: 0, hostname: "127.0.0.1" } : { port: opts.port, hostname: opts.hostname };
    server = Deno.serve({ ...where, onListen() {}, ...tls }, (req, info) => {
      // Deno builds the URL as `http://` + the Host header + the path, checking nothing: `a b`
      // would be served, and `x/y` served at the wrong path (/y/metrics). A missing or empty
      // Host it replaces with this server's address: served, as on Node and Bun.
      const host = req.headers.get("host");
      if (host !== null && host !== "" && !_validHost(host)) return _badHost(req.method, _pathOf(req.url, host), host, log);
      return opts.fetch(req, { remoteAddress: opts.tls ? (front?.peerOf(info.remoteAddr.port) ?? "") : info.remoteAddr.hostname });
    });
  } catch (e) {
    throw _isAddrInUse(e) ? new AddressInUseError(opts.hostname, opts.port) : e;
  }
  if (opts.tls) front = await _front(opts, { kind: "relay", port: server.addr.port }, () => server.shutdown());
  return {
    port: front?.port ?? server.addr.port,
    close: async () => {
      await front?.close();
      await server.shutdown();
    },
  };
}

/** A name or address with an optional port: what a Host header holds, as Node's adapter checks it. */
const _PLAIN_HOST = /^[a-z0-9._-]+(?::\d{1,5})?$/i;

/**
 * Whether `host` is one authority a URL keeps as it is: `a b`, `x/y`, `x?y`, `a@b`, `[::1` and
 * a port past 65535 are not. The plain shape is decided by a pattern, anything else by parsing.
 */
function _validHost(host: string): boolean {
  if (_PLAIN_HOST.test(host)) {
    const colon = host.indexOf(":");
    return colon === -1 || Number(host.slice(colon + 1)) <= 65535;
  }
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return false;
  }
  const name = /^(.*?)(?::\d+)?$/.exec(host)![1];
  return url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.hostname === name.toLowerCase();
}

/** The JSON 400 for a malformed Host header, logged in one bounded line. */
function _badHost(method: string, path: string, host: string, log: (line: string) => void): Response {
  log(`${method} ${path.slice(0, 100)}: bad request: malformed Host header ${JSON.stringify(host.slice(0, 60))}`);
  return _badRequest("malformed Host header");
}

/** The path of a request URL built from a Host header no parser may take (never throws). */
function _pathOf(url: string, host: string): string {
  for (const scheme of ["http://", "https://"]) if (url.startsWith(scheme + host)) return url.slice(scheme.length + host.length);
  return url;
}

// --- Node --------------------------------------------------------------------------------

async function _serveNode(opts: ServeOptions): Promise<RunningServer> {
  const { getRequestListener } = await import("@hono/node-server");
  const log = _edgeLog(opts.log);
  // A missing Host is served as if sent to this host (`hostname`); a malformed one gets a JSON
  // 400 (the adapter's own is an empty body), and a route's uncaught error a JSON 500.
  const listener = getRequestListener(
    (req: Request, env: { incoming: { socket: { remoteAddress?: string } } }) =>
      opts.fetch(req, { remoteAddress: env.incoming.socket.remoteAddress ?? "" }),
    {
      hostname: "localhost",
      errorHandler: (e: unknown) => {
        const err = e as Error;
        if (err?.name === "RequestError") {
          log(`bad request: ${err.message}`);
          return _badRequest(err.message.toLowerCase());
        }
        log(`request failed: ${err?.name ?? "Error"}: ${err?.message ?? String(e)}`);
        return _internalError();
      },
    },
  );
  const server = (
    opts.tls
      ? (await import("node:https")).createServer(nodeTlsOptions(opts.tls), listener)
      : (await import("node:http")).createServer(listener)
  ) as import("node:http").Server;
  if (opts.tls) guardClientCert(server as unknown as import("node:https").Server, opts.tls);
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  if (opts.tls) {
    // The https server takes its connections from the front (src/runtime/tls-front.ts).
    const front = await _front(opts, { kind: "emit", server }, () => undefined);
    return {
      port: front.port,
      close: async () => {
        await front.close();
        server.closeAllConnections();
      },
    };
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(_isAddrInUse(e) ? new AddressInUseError(opts.hostname, opts.port) : e));
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr !== null ? addr.port : opts.port,
    close: closeServer,
  };
}

function _isAddrInUse(e: unknown): boolean {
  const err = e as { code?: string; name?: string; message?: string };
  return err?.code === "EADDRINUSE" || err?.name === "AddrInUse" || /address already in use|EADDRINUSE|in use/i.test(err?.message ?? "");
}
