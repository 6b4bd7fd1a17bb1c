// The command tree. citty routes sub-commands and renders --help; each command parses its own
// flags strictly (src/cli/flags.ts) so that an unknown flag is an error, not a silent no-op.
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { VERSION } from "../version.ts";
import { UsageError, XctlError } from "./errors.ts";
import { cittyArgs } from "./flags.ts";
import { runServe, SERVE_FLAGS } from "./serve.ts";
import { replayCommand } from "./replay.ts";
import { psCommand } from "./ps.ts";
import { whyCommand } from "./why.ts";
import { rulesCommand } from "./rules.ts";

const serveCommand = defineCommand({
  meta: { name: "serve", description: "Run the exporter (the default command)" },
  args: cittyArgs(SERVE_FLAGS),
  run: ({ rawArgs }) => runServe(rawArgs),
});

export const subCommands: Record<string, CommandDef<any>> = {
  serve: serveCommand,
  replay: replayCommand,
  ps: psCommand,
  why: whyCommand,
  rules: rulesCommand,
};

const mainCommand = defineCommand({
  meta: {
    name: "xctl-exporter",
    version: VERSION,
    description: "Prometheus exporter for the causal diagnosis graph of AI compute clusters",
  },
  subCommands,
});

/** Runs the CLI and returns the exit status (the caller exits with it). */
export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
      process.stdout.write(VERSION + "\n");
      return 0;
    }
    const sub = argv.find((a) => !a.startsWith("-"));
    const hasSub = sub !== undefined && sub in subCommands && argv.indexOf(sub) === argv.findIndex((a) => !a.startsWith("-"));
    if (argv.includes("--help") || argv.includes("-h")) {
      const cmd = hasSub ? subCommands[sub] : mainCommand;
      process.stdout.write((await renderUsage(cmd as CommandDef, hasSub ? (mainCommand as CommandDef) : undefined)) + "\n");
      if (!hasSub) process.stdout.write("\n" + (await renderUsage(serveCommand as CommandDef, mainCommand as CommandDef)) + "\n");
      return 0;
    }
    // No sub-command means serve, with every argument passed on.
    if (!hasSub) {
      const first = argv.find((a) => !a.startsWith("-"));
      if (first !== undefined && argv.indexOf(first) === 0) throw new UsageError(`unknown command "${first}" (see --help)`);
      await runServe(argv);
      return 0;
    }
    const at = argv.indexOf(sub);
    if (at !== 0) throw new UsageError(`put flags after the command: xctl-exporter ${sub} ${argv.filter((a) => a !== sub).join(" ")}`);
    await runCommand(subCommands[sub] as CommandDef, { rawArgs: argv.slice(at + 1) });
    return 0;
  } catch (e) {
    return _report(e);
  }
}

function _report(e: unknown): number {
  const err = e as Error & { code?: string };
  if (e instanceof XctlError) {
    process.stderr.write(`xctl-exporter: ${e.message}\n`);
    return e.exitCode;
  }
  process.stderr.write(`xctl-exporter: ${err?.message ?? String(e)}\n`);
  if (process.env.XCTL_DEBUG) process.stderr.write(String(err?.stack) + "\n");
  return 1;
}
