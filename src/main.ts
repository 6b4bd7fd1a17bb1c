#!/usr/bin/env node
// Entry point for every runtime and for the compiled binary.
import { main, reportFatal } from "./cli/main.ts";

// A failure nothing caught is a bug; it still ends as one line through the service's logger
// (in its format), with exit status 1, rather than a runtime's own stack dump.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (e: unknown) => process.exit(reportFatal(e)));
}

let status: number;
try {
  status = await main(process.argv.slice(2));
} catch (e) {
  // main reports its own failures; this catches only a failure to report one.
  status = reportFatal(e);
}
// A finished command exits now; serve returns only after shutdown.
process.exit(status);
