// The one error type the command line turns into an exit status and one line on stderr.
// Any layer may throw it: a bad flag, variable, rule or web-config file is exit 2, a failure at
// run time (a port in use) exit 1. Anything else that escapes is a bug and exits 1 too.

export class XctlError extends Error {
  override name = "XctlError";
  /** The process exit status this error stands for. */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Bad usage or configuration: exit status 2. */
export class UsageError extends XctlError {
  override name = "UsageError";

  constructor(message: string) {
    super(message, 2);
  }
}
