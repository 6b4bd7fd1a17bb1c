// Reads <sysfs>/class/infiniband into a snapshot: every device, every port, its state and the
// counters builtin:infiniband looks at. Drivers differ in which counter files they have (parse.ts
// has the table), so each counter folder is listed and only the names of the table that are
// there are read: per port one listing of `counters/` and one of `hw_counters/` (a listing asks
// nothing of the NIC; reading a counter queries its firmware), and per device one of the
// device's own `hw_counters/` (mlx5 in switchdev mode keeps them there). A file that is missing
// or unreadable is left out of the snapshot (devices come and go with hot-plug).
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { mapLimit, readText } from "../poller.ts";
import { DATA_COUNTERS, DROP_COUNTERS, HW_COUNTER_ROLES, parseCounter, parsePortState } from "./parse.ts";

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
  /** The device's own `hw_counters/` (names of the table only); empty for most drivers. */
  counters: Map<string, bigint>;
}

const _PMA_NAMES: ReadonlySet<string> = new Set([...DROP_COUNTERS, ...DATA_COUNTERS]);

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
    const counters = new Map<string, bigint>();
    await _readCounters(join(root, device, "hw_counters"), HW_COUNTER_ROLES, counters);
    return { device, ports, counters };
  });
}

/** Reads into `out` the files of `dir` whose names `wanted` has. */
async function _readCounters(dir: string, wanted: { has(name: string): boolean }, out: Map<string, bigint>): Promise<void> {
  const names = (await _list(dir)).filter((n) => wanted.has(n));
  await mapLimit(names, 4, async (name) => {
    const t = await _text(join(dir, name));
    const v = t === null ? null : parseCounter(t);
    if (v !== null) out.set(name, v);
  });
}

async function _readPort(dir: string, port: string): Promise<PortSnapshot> {
  const [state, phys, layer] = await Promise.all(["state", "phys_state", "link_layer"].map((f) => _text(join(dir, f))));
  const counters = new Map<string, bigint>();
  await _readCounters(join(dir, "counters"), _PMA_NAMES, counters);
  await _readCounters(join(dir, "hw_counters"), HW_COUNTER_ROLES, counters);
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
