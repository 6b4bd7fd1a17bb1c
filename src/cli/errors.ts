// Errors the CLI turns into an exit status and one line on stderr.

/** Bad usage or configuration: exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
