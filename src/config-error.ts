// A configuration problem found at start-up. The CLI prints `message` as its one line and
// exits 2; `file`, `field` and `reason` stay apart so tests and callers need not parse it.

import { XctlError } from "./errors.ts";

export class ConfigError extends XctlError {
  override name = "ConfigError";
  readonly file: string;
  readonly field: string;
  readonly reason: string;
  /** 1-based line in the file, when known (the message then names `file:line`). */
  readonly line: number | undefined;

  /** `field` is a dotted path such as `tls_server_config.cert_file`, or "" for the whole file. */
  constructor(file: string, field: string, reason: string, line?: number) {
    const where = line !== undefined ? `${file}:${line}` : file;
    super(field ? `${where}: ${field}: ${reason}` : `${where}: ${reason}`, 2);
    this.file = file;
    this.field = field;
    this.reason = reason;
    this.line = line;
  }
}
