// A file system error in words, for the one line a command or a configuration error prints.
// The one errno describer: the CLI, web-config and rule loading all name a failure this way.
export function describeErrno(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  if (code === "ENOTDIR") return "a part of the path is not a directory";
  return (e as Error).message ?? String(e);
}
