// The command tree. Each command parses its own flags strictly (src/cli/flags.ts), so an
// unknown flag is an error with a suggestion, not a silent no-op; help is rendered from the
// same tables (src/cli/help.ts). Exit status: 0 success, 1 failure at run time, 2 bad usage
// or configuration; always one line on stderr, through the logger once serve has one.
import { currentLogger, LOG_LEVELS } from "../log.ts";
import { UsageError, XctlError } from "./errors.ts";
import { renderHelp, renderRootHelp, terminalStyle, versionText, type CommandHelp } from "./help.ts";
import { runServe, SERVE_FLAGS } from "./serve.ts";
import { REPLAY_FLAGS, runReplay } from "./replay.ts";
import { PS_FLAGS, runPs } from "./ps.ts";
import { runStatus, STATUS_FLAGS } from "./status.ts";
import { runWhy, WHY_FLAGS } from "./why.ts";
import { runRules } from "./rules.ts";
import { suggest } from "./suggest.ts";

interface _Command extends CommandHelp {
  run(argv: string[]): Promise<void>;
}

const _COMMANDS: _Command[] = [
  {
    name: "serve",
    usage: "xctl-exporter [serve] [FLAGS]",
    description: "Run the exporter (the default command): read the sources, keep the graph, diagnose, serve /metrics and the API.",
    flags: SERVE_FLAGS,
    run: runServe,
  },
  {
    name: "status",
    usage: "xctl-exporter status [FLAGS]",
    description: "What is wrong on a running exporter's host now: active scenes with their root cause, pids and jobs; sources up or down; counts.",
    flags: STATUS_FLAGS,
    run: runStatus,
  },
  {
    name: "ps",
    usage: "xctl-exporter ps [FLAGS]",
    description: "The processes of a running exporter: PID, JOB, STATE, GPUS (consumed), WAITS_ON, BLOCKED_BY, SCENES, AGE (since its last event).",
    flags: PS_FLAGS,
    run: runPs,
  },
  {
    name: "why",
    usage: "xctl-exporter why PID [FLAGS]",
    description: "Root cause of one process of a running exporter, with the evidence of every matching scene.",
    flags: WHY_FLAGS,
    run: runWhy,
  },
  {
    name: "replay",
    usage: "xctl-exporter replay FILE|- [FLAGS]",
    description: "Feed a recorded event file through the graph and the diagnosis; print the final exposition on stdout and a summary on stderr.",
    flags: REPLAY_FLAGS,
    run: runReplay,
  },
  {
    name: "rules",
    usage: "xctl-exporter rules check DIR",
    description: "Diagnosis rules: `rules check DIR` validates the rule files of a directory (exit 0, or 2 with the file, field and reason).",
    flags: {},
    run: runRules,
  },
  {
    name: "help",
    usage: "xctl-exporter help [COMMAND]",
    description: "This help, or one command's.",
    flags: {},
    run: async (argv) => _help(argv[0]),
  },
  {
    name: "version",
    usage: "xctl-exporter version",
    description: "The version, the runtime and how this program was built (also --version).",
    flags: {},
    run: async () => void process.stdout.write(versionText()),
  },
];

const _BY_NAME = new Map(_COMMANDS.map((c) => [c.name, c]));

function _unknown(word: string): UsageError {
  const near = suggest(word, _BY_NAME.keys());
  return new UsageError(`unknown command "${word}"${near ? ` (did you mean ${near}?)` : " (see --help)"}`);
}

function _help(name: string | undefined): void {
  const style = terminalStyle();
  if (name === undefined) return void process.stdout.write(renderRootHelp(_COMMANDS, _BY_NAME.get("serve")!, style));
  const cmd = _BY_NAME.get(name);
  if (cmd === undefined) throw _unknown(name);
  process.stdout.write(renderHelp(cmd, style));
}

/** Runs the CLI and returns the exit status (the caller exits with it). */
export async function main(argv: string[]): Promise<number> {
  try {
    const first = argv[0];
    if (argv.length === 1 && (first === "--version" || first === "-v")) {
      process.stdout.write(versionText());
      return 0;
    }
    const isCommand = first !== undefined && !first.startsWith("-");
    if (isCommand && !_BY_NAME.has(first)) throw _unknown(first);
    const cmd = isCommand ? _BY_NAME.get(first)! : _BY_NAME.get("serve")!;
    const rest = isCommand ? argv.slice(1) : argv;
    if (rest.includes("--help") || rest.includes("-h")) {
      _help(isCommand ? cmd.name : undefined);
      return 0;
    }
    if (!isCommand) {
      const misplaced = argv.find((a) => _BY_NAME.has(a) && a !== "serve");
      if (misplaced !== undefined) {
        throw new UsageError(`put flags after the command: xctl-exporter ${misplaced} ${argv.filter((a) => a !== misplaced).join(" ")}`);
      }
    }
    await cmd.run(rest);
    return 0;
  } catch (e) {
    return reportFatal(e);
  }
}

/** One line for what stopped the command, through serve's logger when it has one (its format), else plain. */
export function reportFatal(e: unknown): number {
  const err = e as Error & { code?: string };
  const message = e instanceof XctlError ? e.message : (err?.message ?? String(e));
  const status = e instanceof XctlError ? e.exitCode : 1;
  const log = currentLogger();
  if (log !== undefined && log.level >= LOG_LEVELS.error) log.error(message);
  else process.stderr.write(`xctl-exporter: ${message}\n`);
  if (!(e instanceof XctlError) && process.env.XCTL_DEBUG) process.stderr.write(String(err?.stack) + "\n");
  return status;
}
