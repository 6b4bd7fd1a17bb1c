#!/usr/bin/env node
// Entry point for every runtime and for the compiled binary.
import { main, reportFatal } from "./cli/main.ts";

let status: number;
try {
  status = await main(process.argv.slice(2));
} catch (e) {
  // main reports its own failures; this catches only a failure to report one.
  status = reportFatal(e);
}
// A finished command exits now; serve returns only after shutdown.
process.exit(status);
