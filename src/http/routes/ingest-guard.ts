// Who may push events and run diagnoses (SPEC §6): with a token, a bearer token compared in
// constant time; without one, loopback peers only, unless remote pushes are allowed explicitly.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

export interface IngestGuardOptions {
  /** Required bearer token; unset or "" means none. */
  token?: string;
  /** Without a token, accept pushes from any peer instead of loopback only. */
  allowRemote?: boolean;
  /** Requests already authenticated by basic auth (web-config users) pass the guard. */
  basicAuthed?: boolean;
}

/** The guard on POST only (other methods of the path pass): `POST /api/v1/diagnoses`. */
export function postGuard(opts: IngestGuardOptions): MiddlewareHandler<AppEnv> {
  const guard = opts.basicAuthed ? async (_c: unknown, next: () => Promise<void>) => next() : ingestGuard(opts);
  return async (c, next) => (c.req.method === "POST" ? guard(c, next) : next());
}

export function ingestGuard(opts: IngestGuardOptions): MiddlewareHandler<AppEnv> {
  if (opts.token) {
    // Digests make both sides the same length, so the comparison leaks nothing about it.
    const want = _digest(opts.token);
    return async (c, next) => {
      const given = _bearer(c.req.header("authorization"));
      if (given !== undefined && timingSafeEqual(_digest(given), want)) return next();
      return c.json({ error: "unauthorized" }, 401, { "WWW-Authenticate": 'Bearer realm="xctl-exporter"' });
    };
  }
  if (opts.allowRemote) return async (_c, next) => next();
  return async (c, next) => {
    if (isLoopback(c.env?.remoteAddress ?? "")) return next();
    return c.json(
      { error: "this request is allowed from loopback only (set --ingest-token, or --ingest-allow-remote)" },
      403,
    );
  };
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. An unknown peer ("") is not loopback. */
export function isLoopback(address: string): boolean {
  let a = address.trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  if (a === "::1" || a === "0:0:0:0:0:0:0:1") return true;
  const mapped = /^(?:::|0:0:0:0:0:)ffff:(.+)$/.exec(a);
  if (mapped) {
    const rest = mapped[1];
    if (/^[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(rest)) return (parseInt(rest.split(":")[0], 16) >> 8) === 127;
    a = rest;
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  return m !== null && m[1] === "127" && m.slice(2).every((x) => Number(x) <= 255);
}

function _bearer(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer[ \t]+(\S+)[ \t]*$/i);
  return m ? m[1] : undefined;
}

function _digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}
