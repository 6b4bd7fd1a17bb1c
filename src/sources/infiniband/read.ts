// Reads <sysfs>/class/infiniband into a snapshot: every device, every port, its state and the
// counters builtin:infiniband looks at. A file that is missing or unreadable is left out of the
// snapshot (drivers differ in what they expose; devices come and go with hot-plug).
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { mapLimit, readText } from "../poller.ts";
import { CONGESTION_HW_COUNTERS, DATA_COUNTERS, DROP_COUNTERS, DROP_HW_COUNTERS, parseCounter, parsePortState } from "./parse.ts";

export interface PortSnapshot {
  port: string;
  state: { code: number; name: string } | null;
  phys: { code: number; name: string } | null;
  linkLayer: string | null;
  /** Counter name → value; `hw_counters/` names as they are (they do not clash with `counters/`). */
  counters: Map<string, bigint>;
}

export interface DeviceSnapshot {
  device: string;
  ports: PortSnapshot[];
}

const _COUNTER_FILES = [...DROP_COUNTERS, ...DATA_COUNTERS].map((n) => ["counters", n] as const);
const _HW_FILES = [...DROP_HW_COUNTERS, ...CONGESTION_HW_COUNTERS].map((n) => ["hw_counters", n] as const);

async function _text(path: string): Promise<string | null> {
  try {
    return await readText(path, 4096);
  } catch {
    return null;
  }
}

async function _list(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

/** Every device and port under `<sysfs>/class/infiniband`; empty when there is none. */
export async function readInfiniband(sysfs: string): Promise<DeviceSnapshot[]> {
  const root = join(sysfs, "class", "infiniband");
  const devices = await _list(root);
  return mapLimit(devices, 4, async (device) => {
    const portsDir = join(root, device, "ports");
    const ports = await mapLimit(await _list(portsDir), 2, (port) => _readPort(join(portsDir, port), port));
    return { device, ports };
  });
}

async function _readPort(dir: string, port: string): Promise<PortSnapshot> {
  const [state, phys, layer] = await Promise.all(["state", "phys_state", "link_layer"].map((f) => _text(join(dir, f))));
  const counters = new Map<string, bigint>();
  await mapLimit([..._COUNTER_FILES, ..._HW_FILES], 4, async ([sub, name]) => {
    const t = await _text(join(dir, sub, name));
    const v = t === null ? null : parseCounter(t);
    if (v !== null) counters.set(name, v);
  });
  return {
    port,
    state: state === null ? null : parsePortState(state),
    phys: phys === null ? null : parsePortState(phys),
    linkLayer: layer === null ? null : layer.trim(),
    counters,
  };
}

/** `uverbsN` → the RDMA device behind it, from `<sysfs>/class/infiniband_verbs/uverbsN/ibdev`. */
export async function readVerbsDevices(sysfs: string): Promise<Map<string, string>> {
  const root = join(sysfs, "class", "infiniband_verbs");
  const out = new Map<string, string>();
  for (const name of await _list(root)) {
    if (!/^uverbs\d+$/.test(name)) continue;
    const dev = await _text(join(root, name, "ibdev"));
    if (dev !== null && dev.trim() !== "") out.set(name, dev.trim());
  }
  return out;
}
