// The listen address, checked before binding (a malformed one is bad usage, exit 2), and a
// failure to bind a well-formed one said in one line (a run-time failure, exit 1, like a port
// already in use).
import { lookup } from "node:dns/promises";
import { isIP, isIPv4, isIPv6 } from "node:net";
import { XctlError } from "../errors.ts";
import { UsageError } from "./errors.ts";

/** Returns `host` when it can be an address or a host name; `label` is what the user set. */
export function checkHost(label: string, host: string): string {
  const h = host.trim().replace(/^\[(.*)\]$/, "$1");
  if (h === "") throw new UsageError(`${label}: needs an address (0.0.0.0 for every IPv4 address, :: for every address)`);
  if (/^[\d.]+$/.test(h) && !isIPv4(h)) throw new UsageError(`${label}: "${host}" is not an IPv4 address (four numbers 0-255)`);
  if (h.includes(":") && !isIPv6(h)) throw new UsageError(`${label}: "${host}" is not an IPv6 address`);
  if (!h.includes(":") && !/^[\d.]+$/.test(h) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h)) {
    throw new UsageError(`${label}: "${host}" is neither an address nor a host name`);
  }
  return h;
}

/**
 * Looks a host name up before it is bound: Bun reports a name that does not resolve as "Is port
 * N in use?" (EADDRINUSE), which would send the operator after a port conflict. An address is
 * left to the bind. Throws the one-line error of describeBindError.
 */
export async function checkResolves(host: string, port: number, label: string): Promise<void> {
  if (isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch (e) {
    throw describeBindError(e, host, port, label);
  }
}

/** The error a failed bind becomes: one line with the address and the reason. */
export function describeBindError(e: unknown, host: string, port: number, label: string): Error {
  if (e instanceof XctlError) return e;
  const err = e as { code?: string; message?: string; name?: string };
  const text = `${err?.code ?? ""} ${err?.name ?? ""} ${err?.message ?? ""}`;
  const at = `cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (/EADDRNOTAVAIL|AddrNotAvailable|not available|cannot assign requested address/i.test(text)) {
    return new XctlError(`${at}: no interface of this host has that address (${label}; use 0.0.0.0 or one of its addresses)`, 1);
  }
  if (/EACCES|PermissionDenied|permission denied/i.test(text)) {
    return new XctlError(`${at}: permission denied (ports below 1024 need privileges; pick a higher --port)`, 1);
  }
  if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME|failed to lookup|getaddrinfo/i.test(text)) {
    return new XctlError(`${at}: ${label} names a host that does not resolve`, 1);
  }
  if (/EINVAL|invalid argument/i.test(text)) return new XctlError(`${at}: the system refused the address (${label})`, 1);
  return new XctlError(`${at}: ${(err?.message ?? String(e)).split("\n")[0]}`, 1);
}
