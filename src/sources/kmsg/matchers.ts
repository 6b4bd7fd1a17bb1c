// Kernel messages to findings: which fault, on which device as the kernel names it, with
// which pid. Pure functions on strings; mapping device names to graph entities is
// resolve.ts's job. Anything else is turned away by one prefilter before any specific regex.

/**
 * The matcher kinds; `other` counts the kernel's records no matcher took, `user_space` the records
 * user space wrote into the log (never evidence). Bounded: a metric label.
 */
export const KMSG_KINDS = ["xid", "fallen_off_bus", "sxid", "io_error", "mlx5_link", "pcie_aer", "pcie_aer_corrected", "memory_failure", "oom_kill", "hung_task", "fatal_signal", "nfs", "other", "user_space"] as const;
export type KmsgKind = (typeof KMSG_KINDS)[number];

export type Finding =
  /** NVIDIA Xid on the GPU at `bus` (as written: `0000:3b:00`); `pid` only when named. */
  | { kind: "xid"; bus: string; code: number; pid: number | null; text: string }
  /** A GPU gone from the bus with no Xid line: reported as Xid 79. */
  | { kind: "fallen_off_bus"; bus: string; text: string }
  /** NVSwitch SXid; `index` from the `nvidia-nvswitchN` prefix when the line has it. */
  | { kind: "sxid"; bus: string; index: number | null; code: number; text: string }
  /**
   * A block-layer, NVMe or filesystem error; `dev` a block device, `ctrl` an NVMe controller;
   * `sector` where the block layer gives one (512-byte units from the start of `dev`).
   */
  | { kind: "io_error"; dev: string | null; ctrl: string | null; sector?: number; lba?: number; text: string }
  /** An mlx5 port going down or its module failing; `name` the netdev or RDMA device named. */
  | { kind: "mlx5_link"; pci: string; name: string | null; down: boolean; text: string }
  /**
   * An uncorrectable PCIe error the kernel's AER driver logged for the function at `pci`
   * (`0000:3b:00.0`), printed by `driver` (`nvidia`, `pcieport`, `nvme`, `mlx5_core`, `pci` when
   * none is bound); `unrecovered`: the kernel could not recover that function from one.
   */
  | { kind: "pcie_aer"; pci: string; driver: string; severity: AerSeverity; text: string }
  /** A corrected PCIe error: counted, never an event (the link retried it; a storm shows in the count). */
  | { kind: "pcie_aer_corrected"; pci: string; text: string }
  /** The kernel signalled a task that used a page of host memory gone bad (uncorrectable). */
  | { kind: "memory_failure"; pid: number; comm: string; text: string }
  | { kind: "oom_kill"; pid: number; comm: string; text: string }
  | { kind: "hung_task"; pid: number; comm: string; text: string }
  /**
   * The kernel's report of a fault signal the task had no handler for (`SIGSEGV`, ...): it dies of
   * it, and its whole process with it. `pid` is the id the kernel printed (the faulting thread's)
   * until it is resolved to its process; then `tid` keeps the thread's when it was not the main one.
   */
  | { kind: "fatal_signal"; pid: number; comm: string; signal: string; text: string; tid?: number }
  | { kind: "nfs"; server: string; ok: boolean; text: string };

export type AerSeverity = "fatal" | "nonfatal" | "unrecovered";

// Every message a matcher below takes contains one of these; most kernel chatter contains none.
const _PREFILTER = /NVRM|SXid|error|timeout|mlx5_core|Killed process|blocked for more than|nfs: server|^nvme nvme|^XFS \(|PCIe Bus Error|AER-aware|DPC|@ LBA |hardware memory corruption|segfault at |^traps: /;

const _BUS = "(?:PCI:)?([0-9a-fA-F]{1,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\\.[0-7])?)";
// A MIG-enabled GPU names the GPU instance after the bus id, and the compute instance after it
// when the error is the compute instance's (the driver's three forms: none, `GPU-I:05`, `GPU-I:05
// GPU-CI:00`): `Xid (PCI:0000:01:00 GPU-I:05): 94`, `Xid (PCI:0000:4b:00 GPU-I:02 GPU-CI:00): 43`.
const _XID = new RegExp(`NVRM: Xid \\(${_BUS}(?: GPU-I:\\d+(?: GPU-CI:\\d+)?)?\\): (\\d+)(?:,|$)`);
const _PID = /(?:^|[\s,])pid=(\d+)(?=[,\s]|$)/;
// "NVRM: GPU at PCI:0000:3b:00: GPU has fallen off the bus.", "NVRM: GPU 0000:3b:00.0: GPU has
// fallen off the bus.", "NVRM: GPU at 0000:01:00.0 has fallen off the bus.", and the three-line
// "NVRM: The NVIDIA GPU 0000:3b:00.0\n NVRM: (PCI ID: 10de:2330) installed in this system has\n
// NVRM: fallen off the bus and is not responding to commands." (one record, or three).
const _FALLEN = new RegExp(`NVRM: (?:The NVIDIA )?GPU (?:at )?${_BUS}`);
const _SXID = new RegExp(`(?:nvidia-nvswitch(\\d+):? )?SXid \\(${_BUS}\\): (\\d+)(?:,|$)`);
// 5.x and later: "I/O error, dev nvme1n1, sector 2048 op 0x0:(READ) ..."; 4.x:
// "blk_update_request: I/O error, dev sda, sector 2048"; also "critical medium error, dev sdb,
// sector ...", "timeout error, dev ...". The device is the disk or the partition; the sector
// counts from its start (what tells which partition, and so which LVM volume, it hit). The
// names are the block layer's status names (blk_errors): 4.13 added "protection" (a T10 PI
// integrity check failed), 5.18 "device offline" (SCSI took the disk offline), and 6.5 renamed
// "critical nexus" "reservation conflict". Left out: "operation not supported" (a discard or
// write-zeroes the disk lacks) and the retried resource statuses, which lose no data.
const _BLK = /\b(?:I\/O|critical medium|critical target|critical nexus|reservation conflict|critical space allocation|protection|device offline|timeout|recoverable transport) error, dev ([A-Za-z0-9_.!-]+),(?: sector (\d{1,19})\b)?/;
const _BUFFER = /^Buffer I\/O error on dev(?:ice)? ([A-Za-z0-9_.!-]+),/;
// "nvme nvme1: I/O 123 QID 4 timeout, aborting", newer "I/O tag 123 (007b) opcode 0x2 (Read) QID 4
// timeout". Not "..., completion polled": the driver found the command done when it looked, its
// interrupt lost (broken MSI, a VMD erratum, a VM): the I/O was slow, its data is whole.
const _NVME_TIMEOUT = /^nvme (nvme\d+): I\/O (?:tag )?\d+ .*?QID \d+ timeout(?!, completion polled)/;
// A controller gone (the NVMe form of fallen off the bus: registers read all ones) or that will
// not come back: "controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", "Device
// not ready; aborting reset, CSTS=0x1", "Removing after probe failure status: -19", "Disabling
// device after reset failure: -19". Every namespace on it is lost to its users.
const _NVME_DEAD = /^nvme (nvme\d+): (?:controller is down; will reset|Device not ready; aborting (?:reset|initiali[sz]ation)|Removing after probe failure|Disabling device after reset failure)/;
// Loop devices (snap images log I/O errors routinely), floppy and optical drives of virtual
// machines, RAM disks: their errors concern no job's data.
const _NOT_A_DISK = /^(?:loop|fd|sr|ram|zram)\d+/;
// "EXT4-fs error (device sda1): ...", and I/O errors ext4 reports as a warning or a message:
// "EXT4-fs warning (device dm-1): ext4_end_bio:343: I/O error 10 writing to inode ...",
// "EXT4-fs (sda1): I/O error while writing superblock".
const _EXT4 = /^EXT4-fs (?:error \(device ([A-Za-z0-9_.!-]+)\)|warning \(device ([A-Za-z0-9_.!-]+)\): .*\bI\/O error\b|\(([A-Za-z0-9_.!-]+)\): I\/O error\b)/;
// XFS: I/O errors, corruption found ("Metadata corruption detected at ...", "Corruption of
// in-memory data ... Shutting down filesystem.") and a shutdown, after which every I/O on it fails.
const _XFS = /^XFS \(([A-Za-z0-9_.!-]+)\): .*(?:I\/O error|[Cc]orruption (?:of|detected)|metadata I\/O|[Ss]hutting down filesystem|[Ff]ilesystem has been shut down)/;
// netdev: "mlx5_core 0000:17:00.0 ens1f0np0: Link down"; device: "mlx5_core 0000:17:00.0:
// Port module event[error]: module 0, Cable error, High Temperature"; IB: "mlx5_core
// 0000:ab:00.0 mlx5_5: Port: 1 Link DOWN".
const _MLX5 = /^mlx5_core ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(?: ([A-Za-z0-9_.-]+))?: (.*)$/s;
// The AER driver's line per function in error, prefixed by the device's driver and address
// (drivers/pci/pcie/aer.c, aer_print_error): 4.x "pcieport 0000:00:02.0: PCIe Bus Error:
// severity=Uncorrected (Fatal), type=Transaction Layer, id=0010(Receiver ID)"; 5.x "nvidia
// 0000:3b:00.0: AER: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer,
// (Requester ID)"; 6.x spells the severities "Uncorrectable (Fatal)", "Correctable".
const _PCI_DEV = "([A-Za-z0-9_.-]{1,64}) ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]): (?:AER: )?";
const _AER = new RegExp(`^${_PCI_DEV}PCIe Bus Error: (?:severity=)?(?:Uncorrect(?:ed|able) \\((Fatal|Non-Fatal)\\)|(Correct(?:ed|able)))`);
// Error recovery (drivers/pci/pcie/err.c) reaching a function whose driver has no AER callbacks,
// as NVIDIA's has none: "nvidia 0000:03:00.0: AER: can't recover (no error_detected callback)"
// (5.4: "... AER: Can't recover ..."), on 4.x "nvidia 0000:02:00.0: device has no AER-aware
// driver". The function is left in error.
const _AER_UNRECOVERED = new RegExp(`^${_PCI_DEV}(?:[Cc]an't recover \\(no error_detected callback\\)|device has no AER-aware driver)`);
// Downstream Port Containment (drivers/pci/pcie/dpc.c) disabled a port's link on a fatal error:
// "pcieport 0000:00:03.1: DPC: containment event, status:0x1f01 source:0x0000"; 4.x "dpc
// 0000:00:03.1:pcie010: DPC containment event, ...". Every function below has lost its link.
const _DPC = /^([A-Za-z0-9_.-]{1,64}) ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(?::pcie\d+)?: DPC:? containment event\b/;
// A failed read or write as the NVMe driver logs it (nvme_log_error, 5.18 and later): "nvme0n1:
// Read(0x2) @ LBA 1234, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR", or without
// CONFIG_NVME_VERBOSE_ERRORS "nvme0n1: I/O Cmd(0x2) @ LBA 1234, 8 blocks, I/O Error (sct 0x2 /
// sc 0x81) DNR". Only data commands count (flush 0x0, write 0x1, read 0x2, write zeroes 0x8,
// zone append 0x7d): a failed discard or a command a tool sent through passthrough (logged
// without "@ LBA") loses no job's data.
const _NVME_LOG = /^(nvme\d+(?:c\d+)?n\d+): [A-Za-z /]{1,40}\(0x([0-9a-fA-F]{1,2})\) @ LBA (\d{1,20}), \d+ blocks, [^(]{1,80} \(sct 0x[0-9a-fA-F]+ \/ sc 0x[0-9a-fA-F]+\)/;
const _NVME_DATA_OPS = new Set([0x0, 0x1, 0x2, 0x8, 0x7d]);
// Host memory that failed uncorrectably under a task (mm/memory-failure.c, the x86 machine-check
// and page-fault paths), which gets SIGBUS, most likely its end: "Memory failure: 0x3f2c5d:
// Sending SIGBUS to python3:4242 due to hardware memory corruption" (5.15 on), earlier "Memory
// failure: 0x3f2c5d: Killing python3:4242 due to ...", "MCE 0x3f2c5d: Killing python3:4242 early
// due to ...", "MCE: Killing python3:4242 due to hardware memory corruption fault at 7f1c2a000",
// "Memory error may not recovered: 0x3f2c5d: Sending SIGBUS to python3:4242 due to ...".
const _MEM_FAILURE = /^(?:Memory failure: 0x[0-9a-f]+: (?:Sending SIGBUS to|Killing)|MCE:? (?:0x[0-9a-f]+: )?Killing|Memory error may not recovered: 0x[0-9a-f]+: Sending SIGBUS to) (.{1,64}):(\d{1,10}) (?:early )?due to hardware memory corruption/;
const _OOM = /^(?:(?:Memory cgroup )?[Oo]ut of memory(?: \([a-z_]+\))?: )?Killed process (\d+) \(([^)]{0,64})\)/;
const _HUNG = /^INFO: task (.{1,64}):(\d+) blocked for more than \d+ seconds/;
// A fault signal that kills the task (no handler for it), as x86-64 reports it when
// debug.exception-trace (show_unhandled_signals) is 1, the default (Linux 6.18, read here):
// "python3[15910]: segfault at 0 ip 00007fec9b774219 sp 00007ffc74db67f8 error 4 in
// libc.so.6[...]", "traps: python3[15484] general protection fault ip:... error:0 in ...", "traps:
// python3[15525] trap divide error ip:...", "traps: python3[15443] trap invalid opcode ip:...".
// The pid is the faulting thread's. Nothing is printed for a signal sent with kill(2) or abort(3).
const _SEGFAULT = /^(.{1,64})\[(\d{1,10})\]: segfault at /;
const _TRAP = /^traps: (.{1,64})\[(\d{1,10})\] (?:general protection|trap ([a-z0-9 ]{1,40}) ip:)/;
// do_trap's signal per trap name (arch/x86/kernel/traps.c); the rest, and a GP fault, SIGSEGV.
const _TRAP_SIGNAL: Record<string, string> = {
  "divide error": "SIGFPE",
  "coprocessor segment overrun": "SIGFPE",
  "invalid opcode": "SIGILL",
  "segment not present": "SIGBUS",
  "stack segment": "SIGBUS",
  "alignment check": "SIGBUS",
};
const _NFS = /^nfs: server (\S{1,200}) (not responding|OK)/;

/** The finding a message holds, or null; `text` is the message, trimmed. */
export function matchMessage(message: string): Finding | null {
  if (!_PREFILTER.test(message)) return null;
  const text = message.trim();
  let m: RegExpExecArray | null;
  if (text.includes("NVRM")) {
    if ((m = _XID.exec(text)) !== null) {
      const pid = _PID.exec(text);
      const n = pid === null ? NaN : Number(pid[1]);
      return { kind: "xid", bus: m[1], code: Number(m[2]), pid: n > 0 && n < 2 ** 31 ? n : null, text };
    }
    if (text.includes("fallen off the bus") && (m = _FALLEN.exec(text)) !== null) return { kind: "fallen_off_bus", bus: m[1], text };
    return null;
  }
  if ((m = _SXID.exec(text)) !== null) {
    return { kind: "sxid", bus: m[2], index: m[1] === undefined ? null : Number(m[1]), code: Number(m[3]), text };
  }
  if ((m = _BLK.exec(text)) !== null) {
    const sector = m[2] === undefined ? NaN : Number(m[2]);
    if (_NOT_A_DISK.test(m[1])) return null;
    return Number.isSafeInteger(sector) ? { kind: "io_error", dev: m[1], ctrl: null, sector, text } : { kind: "io_error", dev: m[1], ctrl: null, text };
  }
  if ((m = _BUFFER.exec(text)) !== null || (m = _EXT4.exec(text)) !== null || (m = _XFS.exec(text)) !== null) {
    const dev = m[1] ?? m[2] ?? m[3];
    return _NOT_A_DISK.test(dev) ? null : { kind: "io_error", dev, ctrl: null, text };
  }
  if ((m = _NVME_TIMEOUT.exec(text)) !== null || (m = _NVME_DEAD.exec(text)) !== null) return { kind: "io_error", dev: null, ctrl: m[1], text };
  if ((m = _AER.exec(text)) !== null) {
    if (m[4] !== undefined) return { kind: "pcie_aer_corrected", pci: m[2].toLowerCase(), text };
    return { kind: "pcie_aer", pci: m[2].toLowerCase(), driver: m[1], severity: m[3] === "Fatal" ? "fatal" : "nonfatal", text };
  }
  if ((m = _AER_UNRECOVERED.exec(text)) !== null) return { kind: "pcie_aer", pci: m[2].toLowerCase(), driver: m[1], severity: "unrecovered", text };
  if ((m = _DPC.exec(text)) !== null) return { kind: "pcie_aer", pci: m[2].toLowerCase(), driver: m[1], severity: "fatal", text };
  if ((m = _NVME_LOG.exec(text)) !== null) {
    if (!_NVME_DATA_OPS.has(Number.parseInt(m[2], 16))) return null;
    const lba = Number(m[3]);
    return Number.isSafeInteger(lba) ? { kind: "io_error", dev: m[1], ctrl: null, lba, text } : { kind: "io_error", dev: m[1], ctrl: null, text };
  }
  if ((m = _MLX5.exec(text)) !== null) {
    const what = m[3];
    const down = /^(?:Link down|Port: \d+ Link DOWN)\b/.test(what) || what.includes("Port module event[error]");
    if (!down) return null; // "Link up", "Port: 1 Link ACTIVE", plugged/unplugged: see the README
    return { kind: "mlx5_link", pci: m[1], name: m[2] ?? null, down, text };
  }
  if ((m = _MEM_FAILURE.exec(text)) !== null) {
    const pid = Number(m[2]);
    return pid > 0 && pid < 2 ** 31 ? { kind: "memory_failure", pid, comm: m[1], text } : null;
  }
  if ((m = _OOM.exec(text)) !== null) return { kind: "oom_kill", pid: Number(m[1]), comm: m[2], text };
  if ((m = _HUNG.exec(text)) !== null) return { kind: "hung_task", pid: Number(m[2]), comm: m[1], text };
  if ((m = _SEGFAULT.exec(text)) !== null || (m = _TRAP.exec(text)) !== null) {
    const pid = Number(m[2]);
    const signal = m[3] === undefined ? "SIGSEGV" : (_TRAP_SIGNAL[m[3]] ?? "SIGSEGV");
    return pid > 0 && pid < 2 ** 31 ? { kind: "fatal_signal", pid, comm: m[1], signal, text } : null;
  }
  if ((m = _NFS.exec(text)) !== null) return { kind: "nfs", server: m[1].replace(/[,.]$/, ""), ok: m[2] === "OK", text };
  return null;
}

/**
 * The three-line "fallen off the bus" message as three records (drivers that print it line by
 * line): remembers the GPU of "NVRM: The NVIDIA GPU <bus>" for the next two records.
 */
export class FallenOffBusJoiner {
  private _bus: string | null = null;
  private _left = 0;

  /** Feeds every record's message; returns the finding when the last line completes one. */
  next(message: string): Finding | null {
    if (message.startsWith("NVRM: The NVIDIA GPU ")) {
      const m = _FALLEN.exec(message);
      this._bus = m === null ? null : m[1];
      this._left = 2;
      return null;
    }
    if (this._bus === null || this._left === 0) return null;
    this._left--;
    if (!message.startsWith("NVRM:")) {
      this._bus = null;
      return null;
    }
    if (message.includes("fallen off the bus")) {
      const bus = this._bus;
      this._bus = null;
      return { kind: "fallen_off_bus", bus, text: `NVRM: The NVIDIA GPU ${bus} ... ${message.trim()}` };
    }
    return null;
  }
}
