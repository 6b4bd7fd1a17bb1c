// The command tree. Each command parses its own flags strictly (src/cli/flags.ts), so an
// unknown flag is an error with a suggestion, not a silent no-op; help is rendered from the
// same tables (src/cli/help.ts). Exit status: 0 success, 1 failure at run time, 2 bad usage
// or configuration; always one line on stderr, through the logger once serve has one.
import { currentLogger, LOG_LEVELS } from "../log.ts";
import { StdoutClosed, writeErr, writeOut } from "../stdio.ts";
import { UsageError, XctlError } from "./errors.ts";
import { parseFlags, type FlagDefs } from "./flags.ts";
import { renderHelp, renderRootHelp, terminalStyle, versionText, type CommandHelp } from "./help.ts";
import { suggest } from "../suggest.ts";

/** What a command's module gives once loaded: its flags (for help) and its run. */
interface _Loaded {
  flags: FlagDefs;
  run(argv: string[]): Promise<void>;
}

/**
 * A command, named and described here; its module is loaded only when it runs or its help is
 * asked for. `status` then loads the HTTP client and its tables, not the exporter, the
 * server and the rules (on Node, about half of a CLI start).
 */
interface _Command extends Omit<CommandHelp, "flags"> {
  load(): Promise<_Loaded>;
}

const _COMMANDS: _Command[] = [
  {
    name: "serve",
    usage: "xctl-exporter [serve] [FLAGS]",
    description: "Run the exporter (the default command): read the sources, keep the graph, diagnose, serve /metrics and the API.",
    load: async () => {
      const m = await import("./serve.ts");
      return { flags: m.SERVE_FLAGS, run: m.runServe };
    },
  },
  {
    name: "status",
    usage: "xctl-exporter status [FLAGS]",
    description: "What is wrong on a running exporter's host now: active scenes with their root cause, pids and jobs; sources up or down; counts.",
    load: async () => {
      const m = await import("./status.ts");
      return { flags: m.STATUS_FLAGS, run: m.runStatus };
    },
  },
  {
    name: "ps",
    usage: "xctl-exporter ps [FLAGS]",
    description: "The processes of a running exporter: PID, JOB, STATE, GPUS (consumed), WAITS_ON, BLOCKED_BY, SCENES, AGE (since its last event).",
    load: async () => {
      const m = await import("./ps.ts");
      return { flags: m.PS_FLAGS, run: m.runPs };
    },
  },
  {
    name: "why",
    usage: "xctl-exporter why PID [FLAGS]",
    description: "Root cause of one process of a running exporter, with the evidence of every matching scene.",
    load: async () => {
      const m = await import("./why.ts");
      return { flags: m.WHY_FLAGS, run: m.runWhy };
    },
  },
  {
    name: "replay",
    usage: "xctl-exporter replay FILE|- [FLAGS]",
    description: "Feed a recorded event file through the graph and the diagnosis; print the final exposition on stdout and a summary on stderr.",
    load: async () => {
      const m = await import("./replay.ts");
      return { flags: m.REPLAY_FLAGS, run: m.runReplay };
    },
  },
  {
    name: "rules",
    usage:
      "xctl-exporter rules check PATH... [--strict]\n       xctl-exporter rules list [--rules DIR] [--no-default-rules] [--json]\n       xctl-exporter rules show SCENE [--rules DIR] [--no-default-rules]",
    description:
      "Diagnosis rules: `rules check PATH...` validates rule files and directories (*.yaml, *.yml), naming every problem (exit 0, or 2 with the file, field and reason); `rules list` prints the scenes a serve with the same --rules and --no-default-rules would load; `rules show SCENE` prints that scene's rule file, to start a site copy from. `rules check` reads only what it is given (PATH..., or --rules DIR as serve's flag), never XCTL_RULES.",
    load: async () => {
      const m = await import("./rules.ts");
      return { flags: { ...m.CHECK_FLAGS, ...m.LIST_FLAGS }, run: m.runRules };
    },
  },
  {
    name: "help",
    usage: "xctl-exporter help [COMMAND]",
    description: "This help, or one command's.",
    load: async () => ({
      flags: {},
      run: (argv) => {
        const { positionals } = parseFlags({}, argv);
        if (positionals.length > 1) throw new UsageError(`help: unexpected argument "${positionals[1]}"`);
        return _help(positionals[0]);
      },
    }),
  },
  {
    name: "version",
    usage: "xctl-exporter version",
    description: "The version, the runtime and how this program was built (also --version).",
    load: async () => ({
      flags: {},
      run: async (argv) => {
        const { positionals } = parseFlags({}, argv);
        if (positionals.length > 0) throw new UsageError(`version: unexpected argument "${positionals[0]}"`);
        writeOut(versionText());
      },
    }),
  },
];

const _BY_NAME = new Map(_COMMANDS.map((c) => [c.name, c]));

function _unknown(word: string): UsageError {
  const near = suggest(word, _BY_NAME.keys());
  return new UsageError(`unknown command "${word}"${near ? ` (did you mean ${near}?)` : " (see --help)"}`);
}

async function _help(name: string | undefined): Promise<void> {
  const style = terminalStyle();
  if (name === undefined) return void writeOut(renderRootHelp(_COMMANDS, await _withFlags(_BY_NAME.get("serve")!), style));
  const cmd = _BY_NAME.get(name);
  if (cmd === undefined) throw _unknown(name);
  writeOut(renderHelp(await _withFlags(cmd), style));
}

async function _withFlags(cmd: _Command): Promise<CommandHelp> {
  return { ...cmd, flags: (await cmd.load()).flags };
}

/** Runs the CLI and returns the exit status (the caller exits with it). */
export async function main(argv: string[]): Promise<number> {
  try {
    const first = argv[0];
    if (argv.length === 1 && (first === "--version" || first === "-v")) {
      writeOut(versionText());
      return 0;
    }
    const isCommand = first !== undefined && !first.startsWith("-");
    if (isCommand && !_BY_NAME.has(first)) throw _unknown(first);
    const cmd = isCommand ? _BY_NAME.get(first)! : _BY_NAME.get("serve")!;
    const rest = isCommand ? argv.slice(1) : argv;
    if (rest.includes("--help") || rest.includes("-h")) {
      await _help(isCommand ? cmd.name : undefined);
      return 0;
    }
    if (!isCommand) {
      const misplaced = argv.find((a) => _BY_NAME.has(a) && a !== "serve");
      if (misplaced !== undefined) {
        throw new UsageError(`put flags after the command: xctl-exporter ${misplaced} ${argv.filter((a) => a !== misplaced).join(" ")}`);
      }
    }
    await (await cmd.load()).run(rest);
    return 0;
  } catch (e) {
    return reportFatal(e);
  }
}

/** One line for what stopped the command, through serve's logger when it has one (its format), else plain. */
export function reportFatal(e: unknown): number {
  // Nobody reads the output any more (`| head`): nothing to say, as a command killed by SIGPIPE says nothing.
  if (e instanceof StdoutClosed) return 0;
  const err = e as Error & { code?: string };
  const message = e instanceof XctlError ? e.message : (err?.message ?? String(e));
  const status = e instanceof XctlError ? e.exitCode : 1;
  const log = currentLogger();
  if (log !== undefined && log.level >= LOG_LEVELS.error) log.error(message);
  else writeErr(`xctl-exporter: ${message}\n`);
  if (!(e instanceof XctlError) && process.env.XCTL_DEBUG) writeErr(String(err?.stack) + "\n");
  return status;
}
