// `--probe` specs to sources: `builtin:NAME` for the built-in ones, anything else a command
// split like a shell would and run without one.
import { UsageError } from "../errors.ts";
import { splitCommand } from "./argv.ts";
import { DemoSource } from "./demo.ts";
import { DiskstatsSource } from "./diskstats/index.ts";
import { InfinibandSource } from "./infiniband/index.ts";
import { DEFAULT_KMSG_PATH, KmsgSource } from "./kmsg/kmsg-source.ts";
import { NpuSmiSource } from "./npu-smi/index.ts";
import { NvidiaSmiSource } from "./nvidia-smi/index.ts";
import { hostOptions, hostPathsFrom } from "./poller.ts";
import { ProcfsSource } from "./procfs/index.ts";
import { CommandProbe } from "./probe.ts";
import { probeName, uniqueName } from "./probe-name.ts";
import { DEFAULT_HOST_PATHS, type HostPaths, type Source } from "./source.ts";

export const BUILTIN_PROBES = ["builtin:demo", "builtin:nvidia-smi", "builtin:npu-smi", "builtin:kmsg", "builtin:infiniband", "builtin:procfs", "builtin:diskstats"] as const;

/**
 * One source per spec, each with a name unique among them and `taken` (sources added
 * otherwise, such as `stdin`): the second probe whose name is `x` becomes `x-2`.
 */
export function createProbes(specs: readonly string[], taken: Iterable<string> = [], host: HostPaths = DEFAULT_HOST_PATHS): Source[] {
  const names = new Set(taken);
  return specs.map((spec) => {
    const src = createProbe(spec, (base) => uniqueName(base, names), host);
    if (names.has(src.name)) throw new UsageError(`--probe: "${spec.trim()}" given twice`);
    names.add(src.name);
    return src;
  });
}

/** `nameFor` maps the natural name of the source to the one it gets (default: unchanged). */
export function createProbe(spec: string, nameFor: (base: string) => string = (b) => b, host: HostPaths = DEFAULT_HOST_PATHS): Source {
  const s = spec.trim();
  if (s === "") throw new UsageError(`--probe: empty command`);
  if (s.startsWith("builtin:")) return _builtin(s, nameFor, host);
  const argv = splitCommand(s);
  if (argv.length === 0 || argv[0] === "") throw new UsageError(`--probe: empty command in ${JSON.stringify(spec)}`);
  return new CommandProbe(argv, { name: nameFor(probeName(argv)) });
}

// `host`: where host collectors read (--path.procfs, --path.sysfs).
function _builtin(s: string, nameFor: (base: string) => string, host: HostPaths): Source {
  const q = s.indexOf("?");
  const id = q === -1 ? s : s.slice(0, q);
  const params = new URLSearchParams(q === -1 ? "" : s.slice(q + 1));
  if (id === "builtin:demo") {
    const opts = _options(s, params, { rate: "positive", speed: "positive", seed: "integer" });
    return new DemoSource({ name: nameFor("demo"), rate: opts.rate, speed: opts.speed, seed: opts.seed });
  }
  if (id === "builtin:nvidia-smi") {
    _options(s, params, {});
    return new NvidiaSmiSource({ procfs: host.procfs });
  }
  if (id === "builtin:npu-smi") {
    // Seconds, as the README documents them.
    const opts = _options(s, params, { interval: "positive", detail: "positive", temp: "positive", timeout: "positive" });
    return new NpuSmiSource({
      intervalMs: opts.interval === undefined ? undefined : opts.interval * 1000,
      detailMs: opts.detail === undefined ? undefined : opts.detail * 1000,
      tempThreshold: opts.temp,
      timeoutMs: opts.timeout === undefined ? undefined : opts.timeout * 1000,
      procfs: host.procfs,
    });
  }
  if (id === "builtin:kmsg") {
    // builtin:kmsg?path=FILE: a file in the /dev/kmsg format instead of /dev/kmsg.
    let path = DEFAULT_KMSG_PATH;
    for (const [key, raw] of params) {
      if (key !== "path") throw new UsageError(`--probe ${s}: unknown option "${key}" (known: path)`);
      if (raw.trim() === "") throw new UsageError(`--probe ${s}: path must be a file, got ""`);
      path = raw;
    }
    return new KmsgSource({ path, host }, nameFor("kmsg"));
  }
  // Host collectors: `?interval=`, their own knobs, and `?procfs=`/`?sysfs=` for another tree.
  if (id === "builtin:infiniband") {
    const h = hostPathsFrom(s, params, host);
    const o = hostOptions(s, params, { interval: "duration", congestion: "positive" });
    return new InfinibandSource({ ...h, name: nameFor("infiniband"), intervalMs: o.interval, congestionPerSec: o.congestion });
  }
  if (id === "builtin:procfs") {
    const h = hostPathsFrom(s, params, host);
    const o = hostOptions(s, params, { interval: "duration", dwait: "duration" });
    return new ProcfsSource({ host: h, name: nameFor("procfs"), intervalMs: o.interval, dWaitMs: o.dwait });
  }
  if (id === "builtin:diskstats") {
    const h = hostPathsFrom(s, params, host);
    const o = hostOptions(s, params, { interval: "duration" });
    return new DiskstatsSource({ procfs: h.procfs, name: nameFor("diskstats"), intervalMs: o.interval });
  }
  throw new UsageError(`--probe: unknown built-in probe "${id}" (known: ${BUILTIN_PROBES.join(", ")})`);
}

/** `builtin:demo?rate=1000&speed=10`: numeric options, each checked; anything else refused. */
function _options(spec: string, params: URLSearchParams, known: Record<string, "positive" | "integer">): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [key, raw] of params) {
    const kind = Object.hasOwn(known, key) ? known[key] : undefined;
    if (kind === undefined) {
      const list = Object.keys(known);
      throw new UsageError(`--probe ${spec}: unknown option "${key}" (${list.length > 0 ? `known: ${list.join(", ")}` : "it takes none"})`);
    }
    const n = Number(raw);
    const ok = raw.trim() !== "" && (kind === "integer" ? Number.isSafeInteger(n) && n >= 0 : Number.isFinite(n) && n > 0);
    if (!ok) throw new UsageError(`--probe ${spec}: ${key} must be ${kind === "integer" ? "a non-negative integer" : "a positive number"}, got "${raw}"`);
    out[key] = n;
  }
  return out;
}
