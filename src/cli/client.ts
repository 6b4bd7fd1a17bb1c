// The HTTP client behind `ps` and `why`: one GET against a running exporter, with basic auth
// from the flags or the URL, and one clear line for every way it can fail.
import { XctlError } from "../errors.ts";
import { Buffer } from "node:buffer";
import { UsageError } from "./errors.ts";
import type { FlagDefs, FlagValues } from "./flags.ts";

export const DEFAULT_URL = "http://127.0.0.1:9091";

/** Flags shared by the client commands. */
export const CLIENT_FLAGS: FlagDefs = {
  url: { type: "string", default: DEFAULT_URL, description: "Base URL of the running exporter (credentials in it are used for basic auth)", valueHint: "url" },
  user: { type: "string", description: "Basic auth user", valueHint: "name" },
  password: { type: "string", description: "Basic auth password", valueHint: "password" },
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
  getJson<T>(path: string): Promise<T>;
}

export interface ClientOptions {
  url: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

export function clientFromFlags(v: FlagValues): Client {
  return createClient({ url: v.url as string, user: v.user as string | undefined, password: v.password as string | undefined });
}

export function createClient(opts: ClientOptions): Client {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new UsageError(`--url: "${opts.url}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url: "${opts.url}" must be http:// or https://`);
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

  return {
    base,
    async getJson<T>(path: string): Promise<T> {
      const target = new URL(path.replace(/^\//, ""), url);
      let res: Response;
      try {
        res = await fetch(target, { headers, signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        throw new ClientError(`cannot reach the exporter at ${base}: ${_why(e, timeoutMs)}`);
      }
      const text = await res.text().catch(() => "");
      if (res.status === 401) {
        throw new ClientError(`the exporter at ${base} wants credentials (401): give --user and --password, or put them in the URL`, 401);
      }
      if (!res.ok) {
        throw new ClientError(`${target.pathname} answered ${res.status}: ${_errorText(text) ?? res.statusText}`, res.status);
      }
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ClientError(`${target.pathname} did not answer JSON: is ${base} an xctl-exporter?`);
      }
    },
  };
}

/** Node, Bun and Deno each word a failed connection differently. */
function _why(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.cause?.code ?? err?.code ?? "";
  const text = `${err?.message ?? ""} ${err?.cause?.message ?? ""}`;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  if (code === "ECONNREFUSED" || code === "ConnectionRefused" || /connection refused|ECONNREFUSED/i.test(text)) return "connection refused (is it running?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /failed to lookup|getaddrinfo|ENOTFOUND/i.test(text)) return "unknown host";
  if (/certificate|self.signed|TLS|SSL/i.test(text) || /CERT|TLS|SSL/.test(code)) return `TLS failed: ${(err?.cause?.message ?? err?.message ?? "").trim()}`;
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
