// A PCI function the AER driver names → what it is to the graph, through sysfs (under
// --path.sysfs), `<sysfs>/bus/pci/devices/<addr>/`:
// - a GPU: NVIDIA's vendor id (`vendor` 0x10de) and a display class (`class` 0x0300xx VGA,
//   0x0302xx 3D), or bound to the `nvidia` driver;
// - an NVMe controller: its `nvme/nvmeN` children;
// - an RDMA NIC: its `infiniband/` children (mlx5, bnxt_re, irdma functions);
// - a bridge (`class` 0x0604xx: a root port or a switch port): the functions below it, found by
//   walking the device directories under its own (sysfs nests a child in its parent), at most
//   `MAX_BELOW_DEPTH` levels and `MAX_BELOW` functions.
// A function sysfs does not list (gone, or sysfs not mounted there) is known by the driver the
// kernel's line names: `nvidia` a GPU, `mlx5_core` an RDMA NIC; anything else is not named.
import { realpath } from "node:fs/promises";
import { join } from "node:path";
import { readOrNull } from "../poller.ts";
import { listSorted as _list, TtlCache } from "./sysfs-cache.ts";

export const MAX_BELOW_DEPTH = 6;
export const MAX_BELOW = 64;

export type PciFunction =
  | { kind: "gpu"; pci: string }
  | { kind: "nvme"; pci: string; ctrls: string[] }
  | { kind: "rdma"; pci: string }
  | { kind: "bridge"; pci: string }
  | { kind: "other"; pci: string };

const _ADDR = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/**
 * A GPU, a bridge or something else, from a function's `class` and `vendor` text and the driver
 * bound to it (NVMe controllers and RDMA NICs are told by their sysfs children instead).
 */
export function classifyPci(cls: string | null, vendor: string | null, driver: string | null): "gpu" | "bridge" | "other" {
  const c = cls === null ? NaN : Number.parseInt(cls.trim(), 16);
  const v = vendor === null ? NaN : Number.parseInt(vendor.trim(), 16);
  if (driver === "nvidia" || (v === 0x10de && (c >> 8 === 0x0300 || c >> 8 === 0x0302))) return "gpu";
  if (c >> 8 === 0x0604) return "bridge";
  return "other";
}

export class PciMap {
  private readonly _cache = new TtlCache(60_000);

  constructor(private readonly _sysfs: string) {}

  /** What the function at `pci` is; `driver` the one the kernel's line named. */
  async identify(pci: string, driver: string | null): Promise<PciFunction> {
    return this._cache.get(`f:${pci}:${driver ?? ""}`, () => this._function(pci.toLowerCase(), driver));
  }

  /** The GPUs, NVMe controllers and RDMA NICs below a bridge, nearest first. */
  async below(bridge: string): Promise<PciFunction[]> {
    return this._cache.get(`b:${bridge}`, () => this._below(bridge.toLowerCase()));
  }

  private async _function(pci: string, hint: string | null): Promise<PciFunction> {
    const base = join(this._sysfs, "bus/pci/devices", pci);
    const cls = await readOrNull(join(base, "class"));
    if (cls === null) {
      // Not in sysfs: the driver the line names is all there is to go by.
      if (hint === "nvidia") return { kind: "gpu", pci };
      if (hint === "mlx5_core") return { kind: "rdma", pci };
      return { kind: "other", pci };
    }
    const ctrls = (await _list(join(base, "nvme"))).filter((n) => /^nvme\d+$/.test(n));
    if (ctrls.length > 0) return { kind: "nvme", pci, ctrls };
    if ((await _list(join(base, "infiniband"))).length > 0) return { kind: "rdma", pci };
    return { kind: classifyPci(cls, await readOrNull(join(base, "vendor")), await _driver(base)), pci };
  }

  private async _below(bridge: string): Promise<PciFunction[]> {
    const out: PciFunction[] = [];
    let dir: string;
    try {
      dir = await realpath(join(this._sysfs, "bus/pci/devices", bridge));
    } catch {
      return out;
    }
    let level = [dir];
    let seen = 0;
    for (let depth = 0; depth < MAX_BELOW_DEPTH && level.length > 0; depth++) {
      const next: string[] = [];
      for (const d of level) {
        for (const n of await _list(d)) {
          if (!_ADDR.test(n) || seen >= MAX_BELOW) continue;
          seen++;
          const f = await this.identify(n, null);
          if (f.kind === "bridge") next.push(join(d, n));
          else if (f.kind !== "other") out.push(f);
        }
      }
      level = next;
    }
    return out;
  }
}

/** The name of the driver bound to a device (the `driver` link's last part), or null. */
async function _driver(base: string): Promise<string | null> {
  try {
    const target = await realpath(join(base, "driver"));
    return target.slice(target.lastIndexOf("/") + 1);
  } catch {
    return null;
  }
}
