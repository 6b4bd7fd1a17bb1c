// Findings to SPEC §2 events. Which entity each names, and the value it carries:
//   xid            error.hw      gpu-NN        XID_<n> <message>    pid only when the line names one
//   fallen_off_bus error.hw      gpu-NN        XID_79 <message>
//   sxid           error.hw      nvswitch-N    SXID_<n> <message>
//   io_error       error.hw      <disk>        IO_ERROR <message>   one event per disk concerned
//                  error.hw      <holder>      IO_ERROR from sda2 under dm-0 (vg0-root): <message>
//                                                                   one per stacked device it makes fail (stack.ts)
//   mlx5_link      topo.link_down <rdma dev>   LINK_DOWN <message> | MODULE_ERROR <message>
//   pcie_aer       error.hw      gpu-NN        PCIE_AER_FATAL | PCIE_AER_NONFATAL | PCIE_AER_UNRECOVERED <message>
//                  error.hw      <rdma dev>, each namespace of an NVMe controller (and what is
//                                stacked on it): PCIE_AER_FATAL | PCIE_AER_UNRECOVERED <message>
//                                on a bridge, fatal only: the same for each of those below it (pci.ts)
//   pcie_aer_corrected            nothing (counted)
//   memory_failure error.hw      memory        HW_MEMORY_CORRUPTION <message>   for the signalled pid (a process fault);
//                                              HW_MEMORY_CORRUPTION child 5555 (python3): <message>  for the graph's
//                                                                   process the signalled task is a child or grandchild of
//   oom_kill       process.state memory        oom_killed           for the killed pid (its process's, a thread of one the graph holds)
//                  error.hw      memory        OOM_KILL_CHILD child 5555 (python3): <message>   for the graph's process
//                                                                   the killed task is a child or grandchild of (oom-owner.ts)
//   hung_task      process.state kernel        D                    for the blocked pid, if the graph holds it (what it waits on is not known)
//   fatal_signal   process.state SIGSEGV, ...  killed               for the task's process, if the graph holds it;
//                                SIGSEGV in thread 4243 (pt_autograd_0) of 4242   when another thread than the main one faulted
//   nfs            error.net     nfs-<server>  NFS_NOT_RESPONDING <message>   ("OK": nothing)
import { blockName, type DeviceMap } from "./devices.ts";
import type { GpuMap } from "./gpu-map.ts";
import type { AerSeverity, Finding } from "./matchers.ts";
import type { PciFunction, PciMap } from "./pci.ts";
import type { BlockStack } from "./stack.ts";
import { normaliseBus } from "../gpu-name.ts";
import type { SourceEvent } from "../source.ts";

export type KmsgEvent = SourceEvent;

/** Longest value kept: the code and the start of the message. */
export const MAX_VALUE_CHARS = 512;

export interface Resolvers {
  gpus: GpuMap;
  devices: DeviceMap;
  stack: BlockStack;
  pci: PciMap;
}

const _AER_CODE: Record<AerSeverity, string> = { fatal: "PCIE_AER_FATAL", nonfatal: "PCIE_AER_NONFATAL", unrecovered: "PCIE_AER_UNRECOVERED" };

export async function findingEvents(f: Finding, ts: number, r: Resolvers): Promise<KmsgEvent[]> {
  switch (f.kind) {
    case "xid": {
      const ev: KmsgEvent = { ts, event_type: "error.hw", entity_id: await r.gpus.entity(f.bus), value: _value(`XID_${f.code}`, f.text) };
      if (f.pid !== null) ev.pid = f.pid;
      return [ev];
    }
    case "fallen_off_bus":
      return [{ ts, event_type: "error.hw", entity_id: await r.gpus.entity(f.bus), value: _value("XID_79", f.text) }];
    case "sxid":
      return [{ ts, event_type: "error.hw", entity_id: nvswitchName(f.index, f.bus), value: _value(`SXID_${f.code}`, f.text) }];
    case "io_error": {
      const disks = await r.devices.disks(f.dev, f.ctrl);
      const out: KmsgEvent[] = disks.map((d) => ({ ts, event_type: "error.hw", entity_id: d, value: _value("IO_ERROR", f.text) }));
      // NVMe gives the block in the namespace's own block size: which partition it is in needs it in sectors.
      const sector = f.sector ?? (f.lba !== undefined && f.dev !== null ? await r.devices.sectorOfLba(f.dev, f.lba) : null);
      // The LVM volumes, dm-crypt maps and md arrays that fail with it: where processes wait.
      for (const a of await r.stack.above(f.dev === null ? null : blockName(f.dev), disks, sector)) {
        out.push({ ts, event_type: "error.hw", entity_id: a.entity, value: _value("IO_ERROR", `from ${a.path}: ${f.text}`) });
      }
      return out;
    }
    case "pcie_aer":
      return _aerEvents(f.pci, f.driver, f.severity, f.text, ts, r);
    case "pcie_aer_corrected":
      return [];
    case "mlx5_link": {
      const code = f.text.includes("Port module event[error]") ? "MODULE_ERROR" : "LINK_DOWN";
      return [{ ts, event_type: "topo.link_down", entity_id: await r.devices.nic(f.pci, f.name), value: _value(code, f.text) }];
    }
    case "memory_failure":
      return [{ ts, event_type: "error.hw", entity_id: "memory", pid: f.pid, value: _value("HW_MEMORY_CORRUPTION", f.text) }];
    case "oom_kill":
      return [{ ts, event_type: "process.state", entity_id: "memory", pid: f.pid, value: "oom_killed" }];
    case "hung_task":
      return [{ ts, event_type: "process.state", entity_id: "kernel", pid: f.pid, value: "D" }];
    case "fatal_signal":
      // The value is the state the process ends in; which thread died, and what the kernel called it, is the entity.
      return [{ ts, event_type: "process.state", entity_id: f.tid === undefined ? f.signal : `${f.signal} in thread ${f.tid} (${f.comm}) of ${f.pid}`, pid: f.pid, value: "killed" }];
    case "nfs":
      return f.ok ? [] : [{ ts, event_type: "error.net", entity_id: `nfs-${f.server}`, value: _value("NFS_NOT_RESPONDING", f.text) }];
  }
}

/**
 * The OOM killer killed a task below process `pid` (`via`: `child 5555 (python3)`): an error of
 * that process on `memory`, which it fails of (a data loader raises when a worker is killed).
 */
export function oomChildEvent(ts: number, pid: number, via: string, text: string): KmsgEvent {
  return { ts, event_type: "error.hw", entity_id: "memory", pid, value: _value("OOM_KILL_CHILD", `${via}: ${text}`) };
}

/**
 * An uncorrectable PCIe error on a function. A fatal one resets the link: the function, or every
 * function below a bridge, loses what it had in flight. A non-fatal one on an NVMe controller or
 * an RDMA NIC is their driver's to recover (it logs its own failure); NVIDIA's driver has no AER
 * recovery, so on a GPU it counts, and so does a function the kernel could not recover.
 */
async function _aerEvents(pci: string, driver: string, severity: AerSeverity, text: string, ts: number, r: Resolvers): Promise<KmsgEvent[]> {
  const f = await r.pci.identify(pci, driver);
  let hit: PciFunction[];
  if (f.kind === "bridge") hit = severity === "fatal" ? await r.pci.below(f.pci) : [];
  else hit = severity === "nonfatal" && f.kind !== "gpu" ? [] : [f];
  const code = _AER_CODE[severity];
  const out: KmsgEvent[] = [];
  const named = new Set<string>();
  const add = (entity: string, value: string) => {
    if (named.has(entity)) return;
    named.add(entity);
    out.push({ ts, event_type: "error.hw", entity_id: entity, value: _value(code, value) });
  };
  for (const h of hit) {
    if (h.kind === "gpu") add(await r.gpus.entity(h.pci), text);
    else if (h.kind === "rdma") add(await r.devices.nic(h.pci, null), text);
    else if (h.kind === "nvme") {
      for (const ctrl of h.ctrls) {
        const disks = await r.devices.disks(null, ctrl);
        for (const d of disks) add(d, text);
        for (const a of await r.stack.above(null, disks, null)) add(a.entity, `from ${a.path}: ${text}`);
      }
    }
  }
  return out;
}

/**
 * `nvswitch-N`: N is the number of the driver's `nvidia-nvswitchN` device that printed the
 * line (the N of /dev/nvidia-nvswitchN); a line without it names the switch by its bus id.
 */
export function nvswitchName(index: number | null, bus: string): string {
  return index !== null ? `nvswitch-${index}` : `nvswitch-${normaliseBus(bus) ?? bus.toLowerCase()}`;
}

function _value(code: string, text: string): string {
  const v = `${code} ${text.replace(/\s*\n\s*/g, " ")}`;
  return v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) : v;
}
