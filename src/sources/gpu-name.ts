// The name of an NVIDIA GPU in the graph, the same whichever collector names it: builtin:nvidia-smi
// (its samples, and its "Unable to determine the device handle" line for a GPU it cannot open)
// and builtin:kmsg (Xid and AER lines, which give a PCI bus id). One GPU with two names would
// keep its fault and its processes apart: an Xid 79 on `gpu-01` and nvidia-smi's GPU_LOST on
// `gpu-0000:3b:00` for the same GPU, the job on it blocked by one and not the other.
//
// From the best evidence to the least:
// 1. the GPU's nvidia-smi index, where one is known for its bus id (a sample, nvidia-smi's
//    `index,pci.bus_id` table, or the index the later drivers' line prints): `gpu-NN`;
// 2. else its rank in PCI bus order among `<procfs>/driver/nvidia/gpus/<bus>`: nvidia-smi numbers
//    the GPUs in that order, and the driver keeps a GPU's folder there from its probe until the
//    device is removed from the PCI bus (nv_pci_remove), so one that fell off the bus (Xid 79)
//    is still listed. Not the `Device Minor:` of its `information` (the N of /dev/nvidiaN): the
//    driver numbers minors in the order it probed the GPUs, which on HGX A100 boards and AMD
//    hosts is not bus order (/dev/nvidia0 is nvidia-smi's GPU 6). Taken only when it agrees with every index known of the GPUs listed there:
//    a GPU the driver lists and nvidia-smi does not number (or the reverse) would shift every
//    rank above it, and a guessed rank must not land on another GPU's index;
// 3. else `gpu-<bus>`, the bus id normalised (`gpu-0000:3b:00`).
// Bus ids are written `00000000:3B:00.0` by nvidia-smi, `PCI:0000:3b:00` by Xid lines and
// `0000:3b:00.0` by the driver's folders: all normalise to `0000:3b:00` (domain as 4 hex digits at
// least, lower case, no function).
import { readdir } from "node:fs/promises";
import { join } from "node:path";

/** `0000:3b:00` from any spelling of a bus id, or null when it is not one. */
export function normaliseBus(text: string): string | null {
  const m = /^(?:PCI:)?(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.[0-7])?$/.exec(text.trim());
  if (m === null) return null;
  const domain = Number.parseInt(m[1] ?? "0", 16).toString(16).padStart(4, "0");
  return `${domain}:${m[2].toLowerCase().padStart(2, "0")}:${m[3].toLowerCase().padStart(2, "0")}`;
}

/** `gpu-00`, `gpu-07`, `gpu-12`: the GPU of nvidia-smi index N, as the default rules match `gpu-*`. */
export function gpuName(index: number): string {
  return `gpu-${String(index).padStart(2, "0")}`;
}

/** The driver's GPUs, `<procfs>/driver/nvidia/gpus/<bus>`, normalised and in PCI bus order; null when it cannot be read. */
export async function driverGpus(procfs: string): Promise<string[] | null> {
  let names: string[];
  try {
    names = await readdir(join(procfs, "driver/nvidia/gpus"));
  } catch {
    return null;
  }
  return [...new Set(names.map((n) => normaliseBus(n)).filter((b) => b !== null))].sort();
}

/**
 * The name of the GPU at `bus` (any spelling): its index in `known` (normalised bus id → nvidia-smi
 * index), else its rank in `driver` (driverGpus) where that agrees with `known`, else `gpu-<bus>`.
 */
export function nameGpu(bus: string, known: ReadonlyMap<string, number>, driver: readonly string[] | null): string {
  const key = normaliseBus(bus);
  if (key === null) return `gpu-${bus.toLowerCase()}`;
  const index = known.get(key);
  if (index !== undefined) return gpuName(index);
  const rank = driver === null ? -1 : driver.indexOf(key);
  return rank !== -1 && _ranksAgree(driver!, known, rank) ? gpuName(rank) : `gpu-${key}`;
}

/** Every GPU of the list with a known index has its rank for index, and no other bus holds `rank`. */
function _ranksAgree(driver: readonly string[], known: ReadonlyMap<string, number>, rank: number): boolean {
  for (const [bus, index] of known) {
    const at = driver.indexOf(bus);
    if (index === rank || (at !== -1 && at !== index)) return false;
  }
  return true;
}
