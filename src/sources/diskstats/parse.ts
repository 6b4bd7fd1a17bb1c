// The text of /proc/diskstats, one line per block device (Documentation/admin-guide/iostats.rst):
//   major minor name reads merged sectors ms writes merged sectors ms in_flight io_ms weighted_ms
//   [discards merged sectors ms [flushes ms]]
// Kernels before 4.18 print 14 fields, before 5.5 18, since 20; only the first 14 are read.

export interface DiskLine {
  major: number;
  minor: number;
  name: string;
  /** Reads completed. */
  reads: number;
  /** Writes completed. */
  writes: number;
  /** I/Os in flight now (field 12). */
  inFlight: number;
  /**
   * Weighted milliseconds doing I/O (field 14): each I/O's time in flight, added as it completes
   * (the kernel keeps it in 32 bits: it wraps after 49.7 days of such time).
   */
  weightedMs: number;
}

/**
 * Devices left out by default, as node_exporter's diskstats collector does: RAM disks, loop
 * devices, floppies, and partitions (their I/O is counted in their disk's line). Device-mapper
 * (`dm-N`) and md arrays stay: that is where a file system's I/O lands on LVM or RAID.
 */
export const DEFAULT_IGNORE = /^(z?ram|loop|fd|(h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$/;

/** Every well-formed line; a line that is not (too few fields, a field not a number) is skipped. */
export function parseDiskstats(text: string): DiskLine[] {
  const out: DiskLine[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const n = (i: number) => (/^\d+$/.test(f[i]) ? Number(f[i]) : Number.NaN);
    const d = { major: n(0), minor: n(1), name: f[2], reads: n(3), writes: n(7), inFlight: n(11), weightedMs: n(13) };
    if (Number.isNaN(d.major + d.minor + d.reads + d.writes + d.inFlight + d.weightedMs)) continue;
    out.push(d);
  }
  return out;
}
