// node_exporter's flag names, accepted with the same meaning (they are what SREs type):
//   --web.listen-address [HOST]:PORT  → --host and --port (":9100" listens on every address)
//   --web.config.file FILE            → --web-config
//   --web.telemetry-path PATH         → --metrics-path
//   --log.level LEVEL                 → --log-level
//   --log.format logfmt|json          → --log-format
// The xctl name wins when both are given on the command line. They have no variables of their own.
import { UsageError } from "./errors.ts";
import { flagSource, setFlagLabel, type FlagDefs, type FlagValues } from "./flags.ts";

export const ALIAS_FLAGS: FlagDefs = {
  // node_exporter listens on each address given; a second one is refused rather than dropped in silence.
  "web.listen-address": {
    type: "string",
    once: () => "xctl-exporter listens on one ([::]:PORT is every address)",
    description: "node_exporter's name: [host]:port to listen on",
    valueHint: "addr",
    env: false,
  },
  "web.config.file": { type: "string", description: "node_exporter's name for --web-config", valueHint: "file", env: false },
  "web.telemetry-path": { type: "string", description: "node_exporter's name for --metrics-path", valueHint: "path", env: false },
  "log.level": { type: "string", description: "node_exporter's name for --log-level", valueHint: "level", env: false },
  "log.format": { type: "string", description: "node_exporter's name for --log-format (logfmt or json)", valueHint: "format", env: false },
};

const _SIMPLE: [alias: string, target: string][] = [
  ["web.config.file", "web-config"],
  ["web.telemetry-path", "metrics-path"],
  ["log.level", "log-level"],
  ["log.format", "log-format"],
];

/** Moves alias values onto their xctl flags, unless the xctl flag itself was on the command line. */
export function applyAliases(v: FlagValues): void {
  for (const [alias, target] of _SIMPLE) {
    const value = v[alias];
    if (value === undefined || _given(v, target)) continue;
    if (alias === "log.format" && value !== "logfmt" && value !== "json") {
      throw new UsageError(`--log.format: "${value}" is not one of logfmt, json`);
    }
    v[target] = value;
    setFlagLabel(v, target, `--${alias}`);
  }
  const listen = v["web.listen-address"];
  if (typeof listen === "string") {
    const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(listen.trim());
    if (m === null) throw new UsageError(`--web.listen-address: "${listen}" is not [host]:port (e.g. :9091 or 127.0.0.1:9091)`);
    const host = m[1] ?? m[2];
    if (!_given(v, "host")) {
      v.host = host === "" ? "0.0.0.0" : host;
      setFlagLabel(v, "host", "--web.listen-address");
    }
    if (!_given(v, "port")) {
      v.port = m[3];
      setFlagLabel(v, "port", "--web.listen-address");
    }
  }
}

/** Whether the flag itself was on the command line (not a variable, not a default). */
function _given(v: FlagValues, name: string): boolean {
  return flagSource(v, name) === "flag";
}
