// The --web-config file, in the format of Prometheus's exporter-toolkit: TLS, basic auth and
// response headers. Everything is checked at start-up so that a bad file stops the exporter
// with one line naming the field, instead of failing on the first scrape.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { parseDocument } from "yaml";
import { ConfigError } from "../config-error.ts";
import { describeErrno } from "../errno.ts";

export type ClientAuthType =
  | "NoClientCert"
  | "RequestClientCert"
  | "RequireAnyClientCert"
  | "VerifyClientCertIfGiven"
  | "RequireAndVerifyClientCert";

/** Spelled as node:tls spells them. */
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

export interface TlsSettings {
  /** PEM: the server certificate chain. */
  cert: string;
  /** PEM: the private key of the first certificate in `cert`. */
  key: string;
  /** PEM: the CAs that client certificates are checked against. */
  ca?: string;
  clientAuth: ClientAuthType;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
}

export interface WebConfig {
  tls?: TlsSettings;
  /** user -> bcrypt hash; empty means no basic auth. */
  users: Map<string, string>;
  /** Extra response headers, names in their canonical spelling. */
  headers: Record<string, string>;
  /** Paths served without basic auth (exporter-toolkit's auth_excluded_paths). */
  authExcludedPaths: string[];
}

const CLIENT_AUTH: Record<string, ClientAuthType> = {
  NoClientCert: "NoClientCert",
  RequestClientCert: "RequestClientCert",
  RequireAnyClientCert: "RequireAnyClientCert",
  // exporter-toolkit still accepts the old name.
  RequireClientCert: "RequireAnyClientCert",
  VerifyClientCertIfGiven: "VerifyClientCertIfGiven",
  RequireAndVerifyClientCert: "RequireAndVerifyClientCert",
};
const VERIFYING: ReadonlySet<ClientAuthType> = new Set(["VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]);

const VERSIONS: Record<string, TlsVersion> = { TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3" };
const VERSION_ORDER: TlsVersion[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

// exporter-toolkit allows only these headers, some with a fixed set of values, so that every
// Prometheus component behaves alike. Keys are lower case; values are the canonical name and
// the allowed values (none: any).
const HEADERS: Record<string, [string, string[]]> = {
  "strict-transport-security": ["Strict-Transport-Security", []],
  "x-content-type-options": ["X-Content-Type-Options", ["nosniff"]],
  "x-frame-options": ["X-Frame-Options", ["deny", "sameorigin"]],
  "x-xss-protection": ["X-XSS-Protection", []],
  "content-security-policy": ["Content-Security-Policy", []],
};

// $2a$/$2b$/$2y$, a two-digit cost in bcrypt's range, then 22 salt + 31 hash characters.
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

// Parts of the exporter-toolkit format that this exporter does not implement: refused by name
// rather than ignored, since each one would otherwise weaken what the operator asked for.
const UNSUPPORTED: Record<string, string> = {
  rate_limit: "is not supported by xctl-exporter",
  "tls_server_config.cipher_suites": "is not supported by xctl-exporter (the runtime's defaults are used)",
  "tls_server_config.curve_preferences": "is not supported by xctl-exporter (the runtime's defaults are used)",
  "tls_server_config.client_allowed_sans": "is not supported by xctl-exporter",
};

type Obj = Record<string, unknown>;

/** Reads and checks a web-config file; throws ConfigError naming the file, field and reason. */
export async function loadWebConfig(path: string): Promise<WebConfig> {
  const text = await _readText(path, path, "");
  const root = _parseYaml(path, text);
  const dir = dirname(resolve(path));
  const ctx: _Ctx = { file: path, dir };

  _onlyKeys(ctx, root, "", ["tls_server_config", "http_server_config", "basic_auth_users", "auth_excluded_paths"]);
  const tls = await _tls(ctx, _section(ctx, root, "tls_server_config"));
  const http = _section(ctx, root, "http_server_config");
  _onlyKeys(ctx, http, "http_server_config", ["headers", "http2"]);
  // http2 is accepted for compatibility; this exporter serves HTTP/1.1 only.
  _optBool(ctx, http, "http_server_config", "http2");
  return {
    tls,
    users: _users(ctx, root.basic_auth_users),
    headers: _headers(ctx, http.headers),
    authExcludedPaths: _paths(ctx, root.auth_excluded_paths),
  };
}

interface _Ctx {
  file: string;
  dir: string;
}

function _fail(ctx: _Ctx, field: string, reason: string): never {
  throw new ConfigError(ctx.file, field, reason);
}

async function _readText(file: string, path: string, field: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const why = describeErrno(e);
    throw new ConfigError(file, field, field ? `cannot read ${path}: ${why}` : `cannot read the file: ${why}`);
  }
}

function _parseYaml(file: string, text: string): Obj {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The first line says what and where ("... at line 3, column 5:"); the rest quotes the file.
    const what = doc.errors[0].message.split("\n")[0].replace(/:$/, "");
    throw new ConfigError(file, "", `not valid YAML: ${what}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!_isObj(value)) throw new ConfigError(file, "", "must be a YAML mapping of settings");
  return value;
}

function _isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _join(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

function _onlyKeys(ctx: _Ctx, obj: Obj, parent: string, allowed: string[]): void {
  for (const key of Object.keys(obj)) {
    const field = _join(parent, key);
    if (UNSUPPORTED[field]) _fail(ctx, field, UNSUPPORTED[field]);
    if (!allowed.includes(key)) _fail(ctx, field, "unknown key");
  }
}

/** A mapping under `key`; absent or null is an empty mapping. */
function _section(ctx: _Ctx, obj: Obj, key: string): Obj {
  const v = obj[key];
  if (v === undefined || v === null) return {};
  if (!_isObj(v)) _fail(ctx, key, "must be a mapping");
  return v;
}

/** A string under `key`; absent, null and "" all mean unset, as in exporter-toolkit. */
function _optString(ctx: _Ctx, obj: Obj, parent: string, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") _fail(ctx, _join(parent, key), "must be a string");
  return v;
}

function _optBool(ctx: _Ctx, obj: Obj, parent: string, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") _fail(ctx, _join(parent, key), "must be true or false");
  return v;
}

// --- tls_server_config -------------------------------------------------------------------

const P = "tls_server_config";

async function _tls(ctx: _Ctx, t: Obj): Promise<TlsSettings | undefined> {
  _onlyKeys(ctx, t, P, [
    "cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
    "min_version", "max_version", "prefer_server_cipher_suites",
  ]);
  // Only meaningful with cipher_suites, which Go itself now ignores; accepted for compatibility.
  _optBool(ctx, t, P, "prefer_server_cipher_suites");
  const s = (k: string) => _optString(ctx, t, P, k);
  const [certInline, certFile, keyInline, keyFile, caInline, caFile] = [s("cert"), s("cert_file"), s("key"), s("key_file"), s("client_ca"), s("client_ca_file")];
  const authName = s("client_auth_type");
  const minName = s("min_version");
  const maxName = s("max_version");
  const anySet = [certInline, certFile, keyInline, keyFile, caInline, caFile, authName, minName, maxName].some((v) => v !== undefined);
  if (!anySet) return undefined;

  const cert = await _pemSource(ctx, "cert", certInline, "cert_file", certFile);
  const key = await _pemSource(ctx, "key", keyInline, "key_file", keyFile);
  const certField = certFile !== undefined ? `${P}.cert_file` : `${P}.cert`;
  const keyField = keyFile !== undefined ? `${P}.key_file` : `${P}.key`;
  const chain = _certs(ctx, certField, cert);
  const keyObj = _privateKey(ctx, keyField, key);
  if (!chain[0].checkPrivateKey(keyObj)) _fail(ctx, keyField, `does not match the certificate in ${certField.slice(P.length + 1)}`);

  const clientAuth = authName === undefined ? "NoClientCert" : CLIENT_AUTH[authName];
  if (!clientAuth) _fail(ctx, `${P}.client_auth_type`, `must be one of ${Object.keys(CLIENT_AUTH).filter((k) => k !== "RequireClientCert").join(", ")}`);

  let ca: string | undefined;
  if (caInline !== undefined || caFile !== undefined) {
    ca = await _pemSource(ctx, "client_ca", caInline, "client_ca_file", caFile, false);
    _certs(ctx, caFile !== undefined ? `${P}.client_ca_file` : `${P}.client_ca`, ca);
    if (clientAuth === "NoClientCert") _fail(ctx, `${P}.client_auth_type`, "client_ca_file is set but client_auth_type is NoClientCert; set RequireAndVerifyClientCert");
  } else if (VERIFYING.has(clientAuth)) {
    _fail(ctx, `${P}.client_ca_file`, `required when client_auth_type is ${clientAuth}`);
  }

  const minVersion = _version(ctx, "min_version", minName, "TLSv1.2");
  const maxVersion = _version(ctx, "max_version", maxName, "TLSv1.3");
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) _fail(ctx, `${P}.min_version`, `${minName} is above max_version ${maxName}`);
  return { cert, key, ca, clientAuth, minVersion, maxVersion };
}

/** The PEM text of an inline value or a file (relative to the config file's directory). */
async function _pemSource(ctx: _Ctx, inlineKey: string, inline: string | undefined, fileKey: string, file: string | undefined, required = true): Promise<string> {
  if (inline !== undefined && file !== undefined) _fail(ctx, `${P}.${fileKey}`, `set either ${inlineKey} or ${fileKey}, not both`);
  if (inline !== undefined) return inline;
  if (file === undefined) {
    if (required) _fail(ctx, `${P}.${fileKey}`, "required when tls_server_config is set");
    return "";
  }
  return _readText(ctx.file, resolve(ctx.dir, file), `${P}.${fileKey}`);
}

function _certs(ctx: _Ctx, field: string, pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) _fail(ctx, field, "contains no PEM certificate");
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      return _fail(ctx, field, `certificate ${i + 1} cannot be parsed`);
    }
  });
}

function _privateKey(ctx: _Ctx, field: string, pem: string): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) _fail(ctx, field, "contains no PEM private key");
  if (/ENCRYPTED/.test(pem)) _fail(ctx, field, "encrypted private keys are not supported");
  try {
    return createPrivateKey({ key: pem, format: "pem" });
  } catch {
    return _fail(ctx, field, "the private key cannot be parsed");
  }
}

function _version(ctx: _Ctx, key: string, name: string | undefined, dflt: TlsVersion): TlsVersion {
  if (name === undefined) return dflt;
  const v = VERSIONS[name];
  if (!v) _fail(ctx, `${P}.${key}`, `must be one of ${Object.keys(VERSIONS).join(", ")}`);
  return v;
}

// --- basic_auth_users, headers, auth_excluded_paths --------------------------------------

function _users(ctx: _Ctx, v: unknown): Map<string, string> {
  const users = new Map<string, string>();
  if (v === undefined || v === null) return users;
  if (!_isObj(v)) _fail(ctx, "basic_auth_users", "must be a mapping of user name to bcrypt hash");
  for (const [user, hash] of Object.entries(v)) {
    const field = `basic_auth_users.${user}`;
    // Basic auth splits user from password at the first colon, so such a user could never log in.
    if (user.includes(":")) _fail(ctx, field, "a user name cannot contain ':'");
    if (typeof hash !== "string") _fail(ctx, field, "must be a bcrypt hash string");
    if (!BCRYPT.test(hash)) _fail(ctx, field, "is not a bcrypt hash ($2a$, $2b$ or $2y$, a cost from 04 to 31, 60 characters)");
    users.set(user, hash);
  }
  return users;
}

function _headers(ctx: _Ctx, v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (!_isObj(v)) _fail(ctx, "http_server_config.headers", "must be a mapping of header name to value");
  for (const [name, value] of Object.entries(v)) {
    const field = `http_server_config.headers.${name}`;
    const known = HEADERS[name.toLowerCase()];
    if (!known) _fail(ctx, field, `cannot be configured; allowed: ${Object.values(HEADERS).map(([n]) => n).join(", ")}`);
    if (typeof value !== "string") _fail(ctx, field, "must be a string");
    if (/[\r\n\0]/.test(value)) _fail(ctx, field, "must not contain line breaks");
    const [canonical, allowed] = known;
    if (allowed.length > 0 && value !== "" && !allowed.includes(value.toLowerCase())) _fail(ctx, field, `must be one of ${allowed.join(", ")}`);
    // exporter-toolkit documents a blank value as "unset".
    if (value !== "") out[canonical] = value;
  }
  return out;
}

function _paths(ctx: _Ctx, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) _fail(ctx, "auth_excluded_paths", "must be a list of paths");
  return v.map((p, i) => {
    if (typeof p !== "string" || !p.startsWith("/")) _fail(ctx, `auth_excluded_paths[${i}]`, "must be a path starting with '/'");
    return p;
  });
}
