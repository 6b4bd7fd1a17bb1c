// The compiled binary following a file of kernel records (builtin:kmsg?path=FILE) as its only
// source, as the kmsg and NVSwitch tests start it. Where the binary takes --path.procfs, it reads
// a procfs tree booted at `btime` (a record's timestamp counts from boot); an older binary reads
// this machine's /proc. Resolves once the source is up.
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, eventually, scrape, startExporter, type RunningExporter } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const HELP = BINARY ? execFileSync(BINARY, ["--help"], { encoding: "utf8" }) : "";
/** Whether the binary under test takes --path.procfs and --path.sysfs. */
export const PATH_FLAGS = HELP.includes("--path.procfs") && HELP.includes("--path.sysfs");
const COLLECTORS_FLAG = HELP.includes("--collectors");

export interface KmsgExporterOptions {
  /** Where to write the procfs tree (with PATH_FLAGS). */
  procfs: string;
  /** Its boot time, seconds since the epoch. */
  btime: number;
  /** More flags. */
  extra?: string[];
  /** A sysfs tree to read (with PATH_FLAGS). */
  sysfs?: string;
  /** A `driver` folder to copy into the procfs tree (the nvidia driver's GPU files). */
  driver?: string;
}

export async function startKmsgExporter(file: string, o: KmsgExporterOptions): Promise<RunningExporter> {
  const args = ["--probe", `builtin:kmsg?path=${file}`, ...(o.extra ?? [])];
  if (COLLECTORS_FLAG) args.push("--collectors", "none"); // only the source under test
  if (PATH_FLAGS) {
    mkdirSync(o.procfs, { recursive: true });
    if (o.driver !== undefined) cpSync(o.driver, join(o.procfs, "driver"), { recursive: true });
    writeFileSync(join(o.procfs, "stat"), `cpu  1 2 3 4 5 6 7 0 0 0\nbtime ${o.btime}\nprocesses 10\n`);
    args.push("--path.procfs", o.procfs);
    if (o.sysfs !== undefined) args.push("--path.sysfs", o.sysfs);
  }
  const ex = await startExporter(args, { env: { PATH: `${join(ROOT, "test/fixtures")}:/usr/bin:/bin` } });
  await eventually(async () => (await scrape(ex.url)).get('xctl_probe_up{probe="kmsg"}') === 1, 15_000, "kmsg up");
  return ex;
}

/** Appends error-level records to `file`, numbered from 1, stamped now on a host booted at `btime` (seconds). */
export function kernelLog(file: string, btime: number): (message: string) => void {
  let seq = 1;
  return (message) => appendFileSync(file, `3,${seq++},${(Date.now() - btime * 1000) * 1000},-;${message}\n`);
}
