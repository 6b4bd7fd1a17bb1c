// What each runtime can do with a web-config's TLS settings, and the options that say it.
// The three runtimes differ; a setting one of them cannot honour is refused at start-up
// rather than served weaker than the operator asked.
//   Node (node:https): everything.
//   Bun (Bun.serve): versions; client certs only as "ask" or "require and verify": it has no
//     way to see a client certificate, so RequireAnyClientCert and VerifyClientCertIfGiven
//     cannot be enforced.
//   Deno (Deno.serve, rustls): TLS 1.2 and 1.3 only, no minimum or maximum setting, and no
//     client certificates at all.
import type { TLSSocket } from "node:tls";
import type { ServerOptions } from "node:https";
import { ConfigError } from "../config-error.ts";
import type { TlsSettings, TlsVersion } from "../http/web-config.ts";
import type { RuntimeName } from "../runtime-name.ts";
import { runtimeName } from "../runtime-name.ts";

/** Why `runtime` cannot serve these settings as asked, or undefined when it can. */
export function tlsSupportProblem(tls: TlsSettings, runtime: RuntimeName): { field: string; reason: string } | undefined {
  const auth = `tls_server_config.client_auth_type`;
  if (runtime === "bun" && (tls.clientAuth === "RequireAnyClientCert" || tls.clientAuth === "VerifyClientCertIfGiven")) {
    return { field: auth, reason: `${tls.clientAuth} cannot be enforced under Bun (the compiled binary); use RequireAndVerifyClientCert` };
  }
  if (runtime === "deno") {
    // Without a client certificate request the server is the same as one that ignores it.
    if (tls.clientAuth !== "NoClientCert" && tls.clientAuth !== "RequestClientCert") {
      return { field: auth, reason: `${tls.clientAuth} is not supported under Deno, which cannot request client certificates` };
    }
    // rustls speaks TLS 1.2 and 1.3; a lower minimum is met (more strictly), anything else is not.
    if (tls.minVersion === "TLSv1.3") return { field: "tls_server_config.min_version", reason: "TLS13 cannot be enforced under Deno (it always offers TLS 1.2 and 1.3)" };
    if (tls.maxVersion !== "TLSv1.3") return { field: "tls_server_config.max_version", reason: "cannot be set under Deno (it always offers TLS 1.2 and 1.3)" };
  }
  return undefined;
}

/** Throws the ConfigError for `tlsSupportProblem`, naming the web-config `file`. */
export function checkTlsSupport(tls: TlsSettings, file: string, runtime: RuntimeName = runtimeName): void {
  const problem = tlsSupportProblem(tls, runtime);
  if (problem) throw new ConfigError(file, problem.field, problem.reason);
}

// Bun takes protocol numbers, as on the wire.
const WIRE: Record<TlsVersion, number> = { TLSv1: 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304 };

/** The `tls` option of Bun.serve. */
export function bunTlsOptions(tls: TlsSettings): Record<string, unknown> {
  const opts: Record<string, unknown> = {
    cert: tls.cert,
    key: tls.key,
    minVersion: WIRE[tls.minVersion],
    maxVersion: WIRE[tls.maxVersion],
  };
  if (tls.clientAuth !== "NoClientCert") {
    opts.requestCert = true;
    opts.rejectUnauthorized = tls.clientAuth === "RequireAndVerifyClientCert";
    if (tls.ca) opts.ca = tls.ca;
  }
  return opts;
}

/** The TLS options of Deno.serve. */
export function denoTlsOptions(tls: TlsSettings): { cert: string; key: string } {
  return { cert: tls.cert, key: tls.key };
}

/** Options for node:https createServer; pair with `guardClientCert` on the server. */
export function nodeTlsOptions(tls: TlsSettings): ServerOptions {
  const opts: ServerOptions = { cert: tls.cert, key: tls.key, minVersion: tls.minVersion, maxVersion: tls.maxVersion };
  if (tls.clientAuth !== "NoClientCert") {
    opts.requestCert = true;
    // Node's own check refuses a missing certificate too, which is exactly the strict mode;
    // the two in-between modes are decided per connection by guardClientCert.
    opts.rejectUnauthorized = tls.clientAuth === "RequireAndVerifyClientCert";
    if (tls.ca) opts.ca = tls.ca;
  }
  return opts;
}

/**
 * Drops connections that RequireAnyClientCert (no certificate) or VerifyClientCertIfGiven
 * (a certificate that does not verify) forbid, right after the handshake and before any
 * request is read. A no-op for the other modes.
 */
export function guardClientCert(server: { prependListener(event: "secureConnection", fn: (s: TLSSocket) => void): unknown }, tls: TlsSettings): void {
  if (tls.clientAuth !== "RequireAnyClientCert" && tls.clientAuth !== "VerifyClientCertIfGiven") return;
  const requireCert = tls.clientAuth === "RequireAnyClientCert";
  server.prependListener("secureConnection", (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    const presented = peer !== null && typeof peer === "object" && Object.keys(peer).length > 0;
    if (requireCert ? !presented : presented && !socket.authorized) socket.destroy();
  });
}
