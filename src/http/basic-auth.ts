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
    let ok = false;
    try {
      ok = creds !== undefined && (await verifier.check(creds.user, creds.password));
    } catch (e) {
      if (!(e instanceof AuthBusy)) throw e;
      return c.json({ error: "too many logins being checked, retry shortly" }, 503, { "Retry-After": "1" });
    }
    if (ok) return next();
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

/** How long a verified password is taken without bcrypt, and a failed one refused without it. */
const VERIFIED_TTL_MS = 5 * 60_000;
const FAILED_TTL_MS = 60_000;
/** Failed (user, password) pairs remembered; the oldest go first. */
const MAX_FAILED = 10_000;
/** bcrypt checks waiting their turn; past it a new one is told to retry (503), not queued. */
const MAX_WAITING = 8;

/** Too many credentials are being checked right now: answered 503 with Retry-After. */
export class AuthBusy extends Error {
  override name = "AuthBusy";
}

/**
 * bcrypt is slow on purpose (tens of ms at cost 10), too slow to pay on every scrape, and
 * bcryptjs runs on the event loop. So: a password that verified is taken for a while from a
 * keyed digest of (user, password), compared in constant time; a (user, password) that failed
 * is refused for a while without bcrypt, and the same pair checked by many requests at once
 * costs one bcrypt; one bcrypt runs at a time, and at most a few wait. A flood of wrong
 * passwords thus costs a few bcrypts, and a correct login is never queued behind it. The key
 * is random per process, so the caches are no easier to attack than the bcrypt hashes.
 */
class _Verifier {
  private readonly _users: ReadonlyMap<string, string>;
  private readonly _macKey = randomBytes(32);
  /** user -> digest of the password that verified, and until when. */
  private readonly _verified = new Map<string, { digest: Buffer; until: number }>();
  /** digest (hex) of a failed (user, password) -> until when it is refused. */
  private readonly _failed = new Map<string, number>();
  private readonly _inFlight = new Map<string, Promise<boolean>>();
  private readonly _dummyHash: string;
  private _queue: Promise<unknown> = Promise.resolve();
  private _waiting = 0;

  constructor(users: ReadonlyMap<string, string>) {
    this._users = users;
    this._dummyHash = _dummyHash(users);
  }

  async check(user: string, password: string): Promise<boolean> {
    const hash = this._users.get(user);
    const digest = createHmac("sha256", this._macKey).update(user).update("\0").update(password).digest();
    const now = Date.now();
    const known = hash === undefined ? undefined : this._verified.get(user);
    if (known && known.until > now && timingSafeEqual(known.digest, digest)) return true;
    const key = digest.toString("hex");
    const failedUntil = this._failed.get(key);
    if (failedUntil !== undefined) {
      if (failedUntil > now) return false;
      this._failed.delete(key);
    }
    const running = this._inFlight.get(key);
    if (running !== undefined) return running;
    if (this._waiting >= MAX_WAITING) throw new AuthBusy("too many logins being checked");
    this._waiting++;
    // An unknown user still pays one bcrypt, so response time does not tell which users exist.
    const run = this._queue
      .then(() => bcrypt.compare(password, hash ?? this._dummyHash))
      .catch(() => false)
      .then((ok) => ok && hash !== undefined)
      .finally(() => {
        this._waiting--;
        this._inFlight.delete(key);
      });
    this._queue = run;
    this._inFlight.set(key, run);
    const ok = await run;
    if (ok) this._verified.set(user, { digest, until: Date.now() + VERIFIED_TTL_MS });
    else {
      if (this._failed.size >= MAX_FAILED) this._failed.delete(this._failed.keys().next().value!);
      this._failed.set(key, Date.now() + FAILED_TTL_MS);
    }
    return ok;
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
