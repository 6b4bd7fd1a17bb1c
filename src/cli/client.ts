// The HTTP client behind `ps`, `why` and `status`: one GET against a running exporter, with
// basic auth from the flags or the URL, TLS options, and one clear line for every way it can
// fail. Without --url (or XCTL_URL) it finds the service from the same XCTL_* settings the
// service reads (XCTL_PORT, XCTL_HOST, XCTL_WEB_CONFIG's TLS), so with the service's
// environment file sourced, `ps` needs no flag.
import { readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import { XctlError } from "../errors.ts";
import { runtimeName } from "../runtime-name.ts";
import { UsageError } from "./errors.ts";
import { flagLabel, type FlagDefs, type FlagValues } from "./flags.ts";
import { readPassword } from "./password.ts";
import { describeErrno } from "../errno.ts";

export const DEFAULT_URL = "http://127.0.0.1:9091";

/** Flags shared by the client commands. */
export const CLIENT_FLAGS: FlagDefs = {
  url: {
    type: "string",
    description: "Base URL of the running exporter (default: from XCTL_HOST, XCTL_PORT and XCTL_WEB_CONFIG, else http://127.0.0.1:9091)",
    valueHint: "url",
  },
  user: { type: "string", description: "Basic auth user (asks for the password on a terminal when --password is not given)", valueHint: "name" },
  password: { type: "string", description: "Basic auth password", valueHint: "password" },
  "ca-file": { type: "string", description: "CA certificate (PEM) that signed the exporter's certificate", valueHint: "file" },
  insecure: { type: "boolean", default: false, description: "Do not verify the exporter's TLS certificate" },
  "cert-file": { type: "string", description: "Client certificate (PEM), for an exporter that asks for one (client_auth_type)", valueHint: "file" },
  "key-file": { type: "string", description: "Private key (PEM) of --cert-file", valueHint: "file" },
  json: { type: "boolean", default: false, description: "Print the API's JSON answer as is", env: false },
};

/** A failure talking to the exporter: exit status 1, the message is the one line shown. */
export class ClientError extends XctlError {
  override name = "ClientError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message, 1);
  }
}

export interface Client {
  /** The base URL without credentials, for messages. */
  readonly base: string;
  /** The answer's JSON; `onHeaders` sees the headers of a successful answer (X-Truncated). */
  getJson<T>(path: string, onHeaders?: (headers: Headers) => void): Promise<T>;
}

export interface ClientOptions {
  url: string;
  user?: string;
  password?: string;
  /** PEM text of a CA to trust. */
  ca?: string;
  insecure?: boolean;
  /** PEM text of a client certificate and its key (mutual TLS). */
  cert?: string;
  key?: string;
  timeoutMs?: number;
  /** What set the URL, for errors: `--url` (default), `XCTL_URL`, or the service's variables. */
  label?: string;
}

/** The service's address from its own settings, as a client reaches it. */
export function urlFromServiceEnv(env: Record<string, string | undefined> = process.env): string {
  let host = env.XCTL_HOST?.trim() || "127.0.0.1";
  if (host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::" || host === "[::]") host = "::1";
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  const port = env.XCTL_PORT?.trim() || "9091";
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new UsageError(`XCTL_PORT: "${env.XCTL_PORT}" is not a port number (0-65535)`);
  let scheme = "http";
  const webConfig = env.XCTL_WEB_CONFIG?.trim();
  if (webConfig) {
    try {
      // Only whether TLS is on matters here; the service validates the whole file.
      if (/^\s*tls_server_config\s*:/m.test(readFileSync(webConfig, "utf8"))) scheme = "https";
    } catch {
      // Unreadable here (another user's file): try plain HTTP; a mismatch is explained then.
    }
  }
  const url = `${scheme}://${host}:${port}`;
  if (!URL.canParse(url)) throw new UsageError(`XCTL_HOST: "${env.XCTL_HOST}" is not a host name or address`);
  return url;
}

export async function clientFromFlags(v: FlagValues, env: Record<string, string | undefined> = process.env): Promise<Client> {
  const given = v.url as string | undefined;
  const url = given || urlFromServiceEnv(env);
  // Errors name what the user set: --url, XCTL_URL, or the service's XCTL_HOST it came from.
  const label = given ? flagLabel(v, "url") : "XCTL_HOST";
  let password = v.password as string | undefined;
  const user = v.user as string | undefined;
  if (user !== undefined && password === undefined) password = await readPassword(`Password for ${user}: `);
  let ca: string | undefined;
  const caFile = v["ca-file"] as string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (e) {
      throw new UsageError(`--ca-file: cannot read ${caFile}: ${describeErrno(e)}`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new UsageError(`--ca-file: ${caFile} holds no PEM certificate`);
  }
  const cert = _pem(v, "cert-file", "key-file", /-----BEGIN CERTIFICATE-----/, "certificate");
  const key = _pem(v, "key-file", "cert-file", /-----BEGIN [A-Z ]*PRIVATE KEY-----/, "private key");
  return createClient({ url, user, password, ca, insecure: v.insecure === true, label, cert, key });
}

/** The PEM text of --cert-file or --key-file; each needs the other. */
function _pem(v: FlagValues, name: string, other: string, marker: RegExp, what: string): string | undefined {
  const file = v[name] as string | undefined;
  if (!file) return undefined;
  if (!v[other]) throw new UsageError(`${flagLabel(v, name)}: give --${other} too`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`${flagLabel(v, name)}: cannot read ${file}: ${describeErrno(e)}`);
  }
  if (!marker.test(text)) throw new UsageError(`${flagLabel(v, name)}: ${file} holds no PEM ${what}`);
  return text;
}

export function createClient(opts: ClientOptions): Client {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new UsageError(`${opts.label ?? "--url"}: "${opts.url}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${opts.label ?? "--url"}: "${opts.url}" must be http:// or https://`);
  // fetch refuses URLs that carry credentials, so they move into a header.
  let user = opts.user ?? (url.username ? decodeURIComponent(url.username) : undefined);
  let password = opts.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  url.username = "";
  url.password = "";
  if (user === undefined && password !== undefined) user = "";
  if (user !== undefined) password ??= "";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (user !== undefined) headers.Authorization = "Basic " + Buffer.from(`${user}:${password}`, "utf8").toString("base64");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  const base = url.href.replace(/\/$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const tls =
    url.protocol === "https:" && (opts.ca !== undefined || opts.insecure || opts.cert !== undefined)
      ? { ca: opts.ca, insecure: opts.insecure === true, cert: opts.cert, key: opts.key }
      : undefined;

  return {
    base,
    async getJson<T>(path: string, onHeaders?: (headers: Headers) => void): Promise<T> {
      const target = new URL(path.replace(/^\//, ""), url);
      let res: Response;
      try {
        res = await _fetch(target, { headers, signal: AbortSignal.timeout(timeoutMs) }, tls);
      } catch (e) {
        if (e instanceof XctlError) throw e;
        let why = _why(e, timeoutMs, url.protocol, tls?.cert !== undefined);
        // Bun words a handshake the server ended (it wants a client certificate) as it words a
        // server that speaks no TLS at all: ask the port in plain HTTP to tell which.
        if (why === _NO_TLS && !(await _speaksHttp(url))) why = _handshakeFailed(tls?.cert !== undefined);
        throw new ClientError(`cannot reach the exporter at ${base}: ${why}`);
      }
      const text = await res.text().catch(() => "");
      if (res.status === 401) {
        throw new ClientError(
          user !== undefined
            ? `the exporter at ${base} refused the credentials of user "${user}" (401): check the user and password`
            : `the exporter at ${base} wants credentials (401): give --user and --password, or put them in the URL`,
          401,
        );
      }
      if (res.status === 400 && url.protocol === "http:" && /https/i.test(text)) {
        throw new ClientError(`the exporter at ${base} serves HTTPS: use --url ${base.replace(/^http:/, "https:")}`, 400);
      }
      const error = _errorText(text);
      if (res.status === 404 && error?.startsWith("not found: ")) {
        // The server has no such route (not "no such pid"): the base URL is wrong.
        throw new ClientError(`${target.href} answered 404 (no such route): is ${base} the exporter's base URL? (e.g. ${DEFAULT_URL})`);
      }
      if (!res.ok) {
        throw new ClientError(`${target.pathname} answered ${res.status}: ${error ?? res.statusText}`, res.status);
      }
      onHeaders?.(res.headers);
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ClientError(`${target.pathname} did not answer JSON: is ${base} an xctl-exporter?`);
      }
    },
  };
}

interface _Tls {
  ca?: string;
  insecure: boolean;
  cert?: string;
  key?: string;
}

declare const Deno: { createHttpClient(o: { caCerts?: string[]; cert?: string; key?: string }): unknown };

/** fetch, with a CA or without verification where asked; each runtime says that its own way. */
async function _fetch(url: URL, init: RequestInit, tls: _Tls | undefined): Promise<Response> {
  if (tls === undefined) return fetch(url, init);
  if (runtimeName === "bun") return fetch(url, { ...init, tls: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure } } as RequestInit);
  if (runtimeName === "deno" && !tls.insecure) {
    const client = Deno.createHttpClient({ caCerts: tls.ca ? [tls.ca] : [], ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}) });
    return fetch(url, { ...init, client } as RequestInit);
  }
  return _nodeHttpsGet(url, init, tls);
}

async function _nodeHttpsGet(url: URL, init: RequestInit, tls: _Tls): Promise<Response> {
  const { request } = await import("node:https");
  return new Promise<Response>((resolve, reject) => {
    const opts = { method: "GET", headers: init.headers as Record<string, string>, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, signal: init.signal ?? undefined };
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      res.on("end", () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, statusText: res.statusMessage, headers })));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Node, Bun and Deno each word a failed connection differently. */
function _why(e: unknown, timeoutMs: number, protocol: string, withCert: boolean): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.cause?.code ?? err?.code ?? "";
  const text = `${err?.message ?? ""} ${err?.cause?.message ?? ""}`;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  if (/certificate ?required|CERTIFICATE_REQUIRED|alert number 116|bad ?certificate|BAD_CERTIFICATE|unknown ?ca\b|UNKNOWN_CA|alert number 4[28]/i.test(`${text} ${code}`)) {
    return _handshakeFailed(withCert);
  }
  // With a client certificate, a connection the exporter drops at once is the handshake refused (Bun, Deno).
  if (protocol === "https:" && withCert && /ECONNRESET|closed unexpectedly|connection closed before message completed/i.test(`${text} ${code}`)) {
    return _handshakeFailed(withCert);
  }
  if (code === "ECONNREFUSED" || code === "ConnectionRefused" || /connection refused|ECONNREFUSED/i.test(text)) return "connection refused (is it running?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /failed to lookup|getaddrinfo|ENOTFOUND/i.test(text)) return "unknown host";
  if (protocol === "https:" && /wrong version number|packet length too long|http request|record layer|unexpected eof|EPROTO|InvalidContentType|CorruptMessage/i.test(`${text} ${code}`)) {
    return _NO_TLS;
  }
  if (protocol === "http:" && /ECONNRESET|socket hang up|connection reset|closed unexpectedly|ConnectionClosed|other side closed|UND_ERR_SOCKET|invalid HTTP|HPE_|parse error/i.test(`${text} ${code}`)) {
    return "no plain HTTP answer: if the exporter serves HTTPS, use https://";
  }
  if (/self.signed|unable to verify|UNABLE_TO_VERIFY|SELF_SIGNED|unknown ?issuer|UnknownIssuer|DEPTH_ZERO/i.test(`${text} ${code}`)) {
    return `its TLS certificate is not trusted (${(err?.cause?.message ?? err?.message ?? "").trim()}): give --ca-file CA.pem, or --insecure`;
  }
  if (/certificate|TLS|SSL/i.test(text) || /CERT|TLS|SSL/.test(code)) return `TLS failed: ${(err?.cause?.message ?? err?.message ?? "").trim()}`;
  return (err?.cause?.message ?? err?.message ?? String(e)).trim();
}

function _errorText(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { error?: unknown };
    return typeof v?.error === "string" ? v.error : undefined;
  } catch {
    return body.trim().slice(0, 200) || undefined;
  }
}

const _NO_TLS = "it does not speak TLS here: use http://";

/** The TLS handshake was ended by the exporter: it wants a client certificate, or not this one. */
function _handshakeFailed(withCert: boolean): string {
  return withCert
    ? "the exporter refused the client certificate: check --cert-file against its client_ca_file"
    : "the exporter ended the TLS handshake: it asks for a client certificate (client_auth_type): give --cert-file and --key-file";
}

/** Whether the URL's host and port serve plain HTTP (one short try); an exporter's TLS port answers 400 "use https". */
async function _speaksHttp(url: URL): Promise<boolean> {
  try {
    const res = await fetch(`http://${url.host}/healthz`, { signal: AbortSignal.timeout(2000) });
    return !(res.status === 400 && /https/i.test(await res.text()));
  } catch {
    return false;
  }
}
