// The runtime's process metrics under the names Prometheus client libraries use (process_*,
// nodejs_heap_*), read fresh at every scrape: CPU and heap from the runtime, memory from one
// read of /proc/self/status, open fds from /proc/self/fd; about 30 µs a scrape. A value that
// cannot be read (no /proc) is left out of the page rather than shown stale.
import { readdirSync, readFileSync } from "node:fs";
import { header, line, type Collect } from "./exposition.ts";

const H = {
  cpuUser: header("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", "counter"),
  cpuSystem: header("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", "counter"),
  cpu: header("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter"),
  start: header("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge"),
  rss: header("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge"),
  vsz: header("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge"),
  data: header("process_heap_bytes", "Process heap size in bytes.", "gauge"),
  fds: header("process_open_fds", "Number of open file descriptors.", "gauge"),
  maxFds: header("process_max_fds", "Maximum number of open file descriptors.", "gauge"),
  heapTotal: header("nodejs_heap_size_total_bytes", "Process heap size from the JavaScript engine in bytes.", "gauge"),
  heapUsed: header("nodejs_heap_size_used_bytes", "Process heap size used from the JavaScript engine in bytes.", "gauge"),
  external: header("nodejs_external_memory_bytes", "Engine external memory size in bytes.", "gauge"),
};

/** The process families as one section of the page. */
export function processMetrics(): Collect {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  // The fd limit is read once: only the process itself could change it, and it does not.
  const maxFds = _maxFds();
  return (out) => {
    const cpu = process.cpuUsage();
    out.push(H.cpuUser);
    line(out, "process_cpu_user_seconds_total", "", cpu.user / 1e6);
    out.push(H.cpuSystem);
    line(out, "process_cpu_system_seconds_total", "", cpu.system / 1e6);
    out.push(H.cpu);
    line(out, "process_cpu_seconds_total", "", (cpu.user + cpu.system) / 1e6);
    out.push(H.start);
    line(out, "process_start_time_seconds", "", startTime);
    const mem = _status();
    if (mem !== undefined) {
      out.push(H.rss);
      line(out, "process_resident_memory_bytes", "", mem.rss);
      out.push(H.vsz);
      line(out, "process_virtual_memory_bytes", "", mem.vsz);
      out.push(H.data);
      line(out, "process_heap_bytes", "", mem.data);
    }
    const fds = _openFds();
    if (fds !== undefined) {
      out.push(H.fds);
      line(out, "process_open_fds", "", fds);
    }
    if (maxFds !== undefined) {
      out.push(H.maxFds);
      line(out, "process_max_fds", "", maxFds);
    }
    const heap = process.memoryUsage();
    out.push(H.heapTotal);
    line(out, "nodejs_heap_size_total_bytes", "", heap.heapTotal);
    out.push(H.heapUsed);
    line(out, "nodejs_heap_size_used_bytes", "", heap.heapUsed);
    out.push(H.external);
    line(out, "nodejs_external_memory_bytes", "", heap.external);
  };
}

function _status(): { rss: number; vsz: number; data: number } | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/status", "latin1");
  } catch {
    return undefined;
  }
  const kb = (key: string) => {
    const at = text.indexOf(`\n${key}:`);
    return at === -1 ? NaN : Number.parseInt(text.slice(at + key.length + 2), 10) * 1024;
  };
  const m = { rss: kb("VmRSS"), vsz: kb("VmSize"), data: kb("VmData") };
  return Number.isFinite(m.rss) && Number.isFinite(m.vsz) && Number.isFinite(m.data) ? m : undefined;
}

function _openFds(): number | undefined {
  try {
    // The listing holds one descriptor of its own while it runs.
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
