#!/usr/bin/env node
// `npx xctl-exporter` / `npm link` entry: runs the TypeScript source on Node through tsx.
// Hosts without Node use the compiled binary from `npm run build` instead.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
