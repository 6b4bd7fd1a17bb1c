#!/usr/bin/env node
// Entry point for every runtime and for the compiled binary.
import { main } from "./cli/main.ts";

const status = await main(process.argv.slice(2));
// A finished command exits now; serve returns only after shutdown.
process.exit(status);
