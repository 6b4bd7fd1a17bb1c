// Kept for the command modules' imports; the error type lives in src/errors.ts, where every
// layer can reach it without importing the CLI.
export { UsageError, XctlError } from "../errors.ts";
