// The runtime's process metrics under the names Prometheus client libraries use (process_*,
// nodejs_heap_*), as prom-client families read fresh at every scrape. prom-client's own
// collectDefaultMetrics costs about 1.5 ms a scrape and, on Bun and Deno, reports values the
// runtime makes up (event-loop lag, handle counts, heap spaces); this reads one snapshot per
// scrape: CPU and heap from the runtime, memory from /proc/self/status, fds from /proc/self/fd.
// A value that cannot be read (no /proc) is left out rather than shown stale. The snapshot is
// most of a scrape's cost, so it takes the cheap way to each figure (about 20 µs, was 55).
//
// Only figures that mean what their names say: used never exceeds total (Bun's
// process.memoryUsage() reads the two at different moments and showed used above total, so
// total is at least used). process_heap_bytes is not
// served: prom-client fills it with VmData, which on Bun and Node is mostly address space the
// engine reserved (6 GB beside 60 MB resident on Bun), not a heap.
import { openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { Counter, Gauge, type Registry } from "prom-client";

interface Snapshot {
  cpuUser: number;
  cpuSystem: number;
  rss?: number;
  vsz?: number;
  fds?: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

export class ProcessMetrics {
  private _now: Snapshot | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const startTime = Math.round(Date.now() / 1000 - process.uptime());
    // The fd limit is read once: only the process itself could change it, and it does not.
    const maxFds = _maxFds();
    const snap = () => (this._now ??= _read());

    const counter = (name: string, help: string, read: (s: Snapshot) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          // CPU time is a total kept by the kernel: show it as it is.
          this.reset();
          this.inc(read(snap()));
        },
      });
    const gauge = (name: string, help: string, read: (s: Snapshot) => number | undefined) => {
      // Without /proc (not Linux) the family is left out, never shown as a made-up 0.
      if (read(snap()) === undefined) return;
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = read(snap());
          if (v !== undefined) this.set(v);
        },
      });
    };

    counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", (s) => s.cpuUser);
    counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", (s) => s.cpuSystem);
    counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (s) => s.cpuUser + s.cpuSystem);
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", () => startTime);
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", (s) => s.rss);
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", (s) => s.vsz);
    gauge("process_open_fds", "Number of open file descriptors.", (s) => s.fds);
    gauge("process_max_fds", "Maximum number of open file descriptors.", () => maxFds);
    gauge("nodejs_heap_size_total_bytes", "Process heap size from the JavaScript engine in bytes.", (s) => s.heapTotal);
    gauge("nodejs_heap_size_used_bytes", "Process heap size used from the JavaScript engine in bytes.", (s) => s.heapUsed);
    gauge("nodejs_external_memory_bytes", "Engine external memory size in bytes.", (s) => s.external);
  }

  /** Called before each scrape: the families then read one fresh snapshot. */
  refresh(): void {
    this._now = undefined;
  }
}

function _read(): Snapshot {
  const cpu = process.cpuUsage();
  // One reading, and used never above total: Bun's process.memoryUsage() reads the two at
  // different moments (used came out above total). Not bun:jsc's heapSize(): it walks the heap,
  // 40 µs a call at 200,000 objects and 300 µs at 2,000,000, so a loaded graph made every
  // scrape slower than an empty one; memoryUsage() costs about 10 µs at any heap size and its
  // used follows heapSize() within a few percent.
  const heap = process.memoryUsage();
  const heapUsed = heap.heapUsed;
  const heapTotal = Math.max(heap.heapTotal, heapUsed);
  const external = heap.external;
  return {
    cpuUser: cpu.user / 1e6,
    cpuSystem: cpu.system / 1e6,
    ..._status(),
    fds: _openFds(),
    heapTotal,
    heapUsed,
    external,
  };
}

// /proc/self/status stays open: reading it again from offset 0 gives fresh figures, without
// the open and close (one descriptor for the life of the process, shared by every exporter).
let _statusFd: number | undefined | null;
const _statusBuf = new Uint8Array(8192);
const _latin1 = new TextDecoder("latin1");

function _status(): { rss?: number; vsz?: number } {
  let text: string;
  try {
    if (_statusFd === undefined) _statusFd = openSync("/proc/self/status", "r");
    if (_statusFd === null) return {};
    text = _latin1.decode(_statusBuf.subarray(0, readSync(_statusFd, _statusBuf, 0, _statusBuf.length, 0)));
  } catch {
    _statusFd = null;
    return {};
  }
  const kb = (key: string) => {
    const at = text.indexOf(`\n${key}:`);
    const n = at === -1 ? NaN : Number.parseInt(text.slice(at + key.length + 2), 10) * 1024;
    return Number.isFinite(n) ? n : undefined;
  };
  return { rss: kb("VmRSS"), vsz: kb("VmSize") };
}

function _openFds(): number | undefined {
  try {
    // Since Linux 6.2 the directory's size is the number of open descriptors: one stat call.
    const n = statSync("/proc/self/fd").size;
    if (n > 0) return n;
    // Older kernels say 0. The listing holds one descriptor of its own while it runs.
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

function _maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
