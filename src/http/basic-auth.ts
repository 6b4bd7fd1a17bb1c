// Basic auth and response headers from the web-config file, as Hono middleware.
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";
import type { Context, MiddlewareHandler } from "hono";

export const REALM = "xctl-exporter";

export interface BasicAuthOptions {
  /** Exact paths served without credentials (exporter-toolkit's auth_excluded_paths). */
  excludedPaths?: string[];
}

/**
 * Requires a user and password matching one of `users` (user -> bcrypt hash). Anything else
 * gets 401 with a fixed body and never reaches the handler. An empty map turns auth off, as
 * in exporter-toolkit.
 */
export function basicAuth(users: ReadonlyMap<string, string>, opts: BasicAuthOptions = {}): MiddlewareHandler {
  if (users.size === 0) return async (_c, next) => next();
  const excluded = new Set(opts.excludedPaths ?? []);
  const verifier = new _Verifier(users);
  return async (c, next) => {
    if (excluded.has(c.req.path)) return next();
    const creds = _credentials(c.req.header("authorization"));
    if (creds && (await verifier.check(creds.user, creds.password))) return next();
    return _unauthorized(c);
  };
}

/** Sets the configured headers on every response, the 401s and errors included. */
export function securityHeaders(headers: Readonly<Record<string, string>>): MiddlewareHandler {
  const entries = Object.entries(headers);
  if (entries.length === 0) return async (_c, next) => next();
  return async (c, next) => {
    await next();
    try {
      for (const [k, v] of entries) c.res.headers.set(k, v);
    } catch {
      // A Response passed through from elsewhere can have immutable headers: copy it.
      c.res = new Response(c.res.body, c.res);
      for (const [k, v] of entries) c.res.headers.set(k, v);
    }
  };
}

function _unauthorized(c: Context): Response {
  return c.json({ error: "unauthorized" }, 401, { "WWW-Authenticate": `Basic realm="${REALM}"` });
}

function _credentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = header?.match(/^Basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * bcrypt is slow on purpose (tens of ms at cost 10), too slow to pay on every scrape. After a
 * user's password verifies once, a keyed digest of it is kept and later requests compare
 * digests in constant time. The key is random per process, so the cache is no easier to
 * attack than the bcrypt hashes if memory leaks. Failures are never cached: they are either
 * an attacker, who should pay full price, or a typo.
 */
class _Verifier {
  private readonly _users: ReadonlyMap<string, string>;
  private readonly _macKey = randomBytes(32);
  private readonly _verified = new Map<string, Buffer>();
  private readonly _dummyHash: string;
  // One bcrypt at a time: bcryptjs works in slices of up to 100 ms on the event loop, and a
  // burst of bad logins running side by side would stall every other request, scrapes included.
  private _queue: Promise<unknown> = Promise.resolve();

  constructor(users: ReadonlyMap<string, string>) {
    this._users = users;
    this._dummyHash = _dummyHash(users);
  }

  async check(user: string, password: string): Promise<boolean> {
    const hash = this._users.get(user);
    const digest = createHmac("sha256", this._macKey).update(user).update("\0").update(password).digest();
    const known = hash === undefined ? undefined : this._verified.get(user);
    if (known && timingSafeEqual(known, digest)) return true;
    // An unknown user still pays one bcrypt, so response time does not tell which users exist.
    const run = this._queue.then(() => bcrypt.compare(password, hash ?? this._dummyHash));
    this._queue = run.catch(() => false);
    const ok = await run.catch(() => false);
    if (!ok || hash === undefined) return false;
    this._verified.set(user, digest);
    return true;
  }
}

/** A well-formed hash at the highest configured cost that no password matches in practice. */
function _dummyHash(users: ReadonlyMap<string, string>): string {
  let cost = 4;
  for (const h of users.values()) cost = Math.max(cost, Number(h.slice(4, 6)));
  const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const tail = Array.from(randomBytes(53), (b) => alphabet[b & 63]).join("");
  return `$2b$${String(cost).padStart(2, "0")}$${tail}`;
}
