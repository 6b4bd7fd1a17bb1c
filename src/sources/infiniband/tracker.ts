// One round of RDMA port snapshots against the last: link state changes, counter deltas,
// bandwidth. Pure: tested on snapshots, no files.
//
// Events (entity = the RDMA device, e.g. mlx5_0; a multi-port device sums its ports):
// - `topo.link_down`, value `LINK_DOWN port=<n> state=<..> phys_state=<..> link_layer=<..>`:
//   every round while a port that was ACTIVE/LinkUp is not (or one never seen up whose device
//   processes hold open with no port up) (refreshing the error node), once
//   with `device removed` when a device with an active port disappears. There is no "up"
//   event in SPEC §2: recovery is the end of these refreshes (the error node expires one error
//   window after the last) and a log line; `transport.bw` readings go on meanwhile.
// - `transport.bw` with a pid and `IO_WAIT LINK_DOWN port=<n>`, for each process using the
//   device while a port is down: that process waits on the device (SPEC §3 waits_on); once the
//   port is ACTIVE again, `LINK_UP port=<n>` for each (a reading that is no wait: the wait ends).
// - `transport.drop`, value = the summed delta of the error counters (DROP_*), when above 0:
//   one per process using the device (each makes waits_on), or one without pid when none does.
// - `error.net`, value naming ECN/CNP and the deltas under the driver's own counter names, when
//   congestion counters rose faster than `congestionPerSec` (roce_congestion matches
//   `PFC|ECN|CNP|congestion`).
// A counter's delta for the device is the larger of its ports' summed deltas and the delta of
// the device-level file of that name: mlx5 in switchdev mode counts congestion only at the
// device level (its port files stay 0), and where a driver has both, the device-level file
// counts no more than its ports together, so nothing is counted twice.
// - `transport.bw`, no pid, GB/s both directions together (port_xmit_data + port_rcv_data
//   count 4-byte words). Without a pid it makes no edge, however low it reads.
// A port's first round sets its baselines; a counter that went down (reset, driver reload)
// starts a new baseline, never a negative delta.
import { CONGESTION_HW_COUNTERS, DATA_COUNTERS, DROP_COUNTERS, DROP_HW_COUNTERS, PHYS_LINK_UP, STATE_ACTIVE } from "./parse.ts";
import type { DeviceSnapshot, PortSnapshot } from "./read.ts";
import type { SourceEvent } from "../source.ts";

export type IbEvent = SourceEvent<"topo.link_down" | "transport.drop" | "transport.bw" | "error.net">;

interface _Port {
  counters: Map<string, bigint>;
  at: number;
  /** Has been ACTIVE/LinkUp since first seen: only then is "not active" a link going down. */
  everActive: boolean;
  down: boolean;
}

const _DROPS = [...DROP_COUNTERS, ...DROP_HW_COUNTERS];

export interface IbLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export class IbTracker {
  private readonly _ports = new Map<string, _Port>();
  /** Device-level counters as last read, by device. */
  private readonly _deviceCounters = new Map<string, { counters: Map<string, bigint>; at: number }>();
  private _devices = new Set<string>();
  private _rounds = 0;

  constructor(
    readonly congestionPerSec: number,
    private readonly _log: IbLog,
  ) {}

  /** `users`: device → pids of live processes holding it open. */
  round(devices: readonly DeviceSnapshot[], users: ReadonlyMap<string, readonly number[]>, now: number): IbEvent[] {
    const out: IbEvent[] = [];
    const seenPorts = new Set<string>();
    const seenDevices = new Set<string>();
    for (const d of devices) {
      seenDevices.add(d.device);
      const pids = users.get(d.device) ?? [];
      let words = 0n;
      let dataPorts = 0;
      let dtMs = 0;
      // Counter name → delta over the device's ports this round.
      const portDeltas = new Map<string, bigint>();
      // Link events go after the device's readings, so the last `bw` a user's waits_on edge
      // shows while a port is down is the IO_WAIT LINK_DOWN one, not a bare 0.
      const link: IbEvent[] = [];
      const deviceActive = d.ports.some(_active);
      for (const p of d.ports) {
        const key = d.device + "/" + p.port;
        seenPorts.add(key);
        const prev = this._ports.get(key);
        const cur: _Port = { counters: p.counters, at: now, everActive: prev?.everActive ?? false, down: prev?.down ?? false };
        this._ports.set(key, cur);
        this._link(d.device, p, cur, pids, deviceActive, now, link);
        if (prev === undefined || now <= prev.at) continue;
        dtMs = now - prev.at;
        for (const [name, v] of _deltas(prev.counters, p.counters)) portDeltas.set(name, (portDeltas.get(name) ?? 0n) + v);
        let portWords: bigint | null = null;
        for (const n of DATA_COUNTERS) {
          const a = prev.counters.get(n);
          const b = p.counters.get(n);
          if (a !== undefined && b !== undefined && b >= a) portWords = (portWords ?? 0n) + (b - a);
        }
        if (portWords !== null) {
          words += portWords;
          dataPorts++;
        }
      }
      const prevDevice = this._deviceCounters.get(d.device);
      this._deviceCounters.set(d.device, { counters: d.counters, at: now });
      const deviceDeltas = prevDevice !== undefined && now > prevDevice.at ? _deltas(prevDevice.counters, d.counters) : new Map<string, bigint>();
      const delta = (name: string): bigint => {
        const a = portDeltas.get(name) ?? 0n;
        const b = deviceDeltas.get(name) ?? 0n;
        return a > b ? a : b;
      };
      let drops = 0n;
      for (const n of _DROPS) drops += delta(n);
      const congestion = new Map<string, bigint>();
      for (const n of CONGESTION_HW_COUNTERS) {
        const v = delta(n);
        if (v > 0n) congestion.set(n, v);
      }
      if (dtMs === 0) {
        out.push(...link);
        continue;
      }
      const ev = (event_type: IbEvent["event_type"], value: string, pid?: number): IbEvent =>
        pid === undefined ? { ts: now, event_type, entity_id: d.device, value } : { ts: now, event_type, entity_id: d.device, pid, value };
      if (drops > 0n) {
        if (pids.length === 0) out.push(ev("transport.drop", drops.toString()));
        for (const pid of pids) out.push(ev("transport.drop", drops.toString(), pid));
      }
      let cnp = 0n;
      for (const v of congestion.values()) cnp += v;
      if (cnp > 0n && (Number(cnp) * 1000) / dtMs >= this.congestionPerSec) {
        const parts = [...congestion].map(([n, v]) => `${n} +${v}`).join(", ");
        out.push(ev("error.net", `ECN/CNP congestion: ${parts} in ${_seconds(dtMs)}s`));
      }
      if (dataPorts > 0) out.push(ev("transport.bw", _gbps((Number(words) * 4) / (dtMs / 1000))));
      out.push(...link);
    }
    for (const key of this._ports.keys()) if (!seenPorts.has(key)) this._removed(key, seenDevices, users, now, out);
    for (const dev of this._deviceCounters.keys()) if (!seenDevices.has(dev)) this._deviceCounters.delete(dev);
    for (const dev of this._devices) if (!seenDevices.has(dev)) this._log.warn(`${dev} is gone from class/infiniband`);
    if (this._rounds++ > 0) for (const dev of seenDevices) if (!this._devices.has(dev)) this._log.info(`${dev} appeared`);
    this._devices = seenDevices;
    return out;
  }

  /**
   * `deviceActive`: some port of the device is ACTIVE. A port never seen up is an unused one,
   * not a fault, unless processes hold its device open and no port of it is up: then it is the
   * link they use, down since before the collector first looked (it restarted, or the host came
   * up with a dead link), and saying nothing would end their scene while the link stays down.
   */
  private _link(device: string, p: PortSnapshot, cur: _Port, pids: readonly number[], deviceActive: boolean, now: number, out: IbEvent[]): void {
    if (p.state === null) return; // unreadable: no conclusion either way
    const where = `${device} port ${p.port}`;
    if (_active(p)) {
      if (cur.down) {
        this._log.info(`${where} is ACTIVE again`);
        // Its users' waits on the link are over (a reading that is no wait ends their waits_on).
        for (const pid of pids) out.push({ ts: now, event_type: "transport.bw", entity_id: device, pid, value: `LINK_UP port=${p.port}` });
      }
      cur.everActive = true;
      cur.down = false;
      return;
    }
    if (!cur.everActive && (pids.length === 0 || deviceActive)) return;
    const state = `state=${_word(p.state.name)} phys_state=${_word(p.phys?.name ?? "unknown")} link_layer=${_word(p.linkLayer ?? "unknown")}`;
    if (!cur.down) this._log.warn(cur.everActive ? `${where} left ACTIVE/LinkUp: ${state}` : `${where} is not ACTIVE/LinkUp while in use: ${state}`);
    cur.down = true;
    // The users' waits first: the link down then finds them using the device it is a fault of.
    for (const pid of pids) out.push({ ts: now, event_type: "transport.bw", entity_id: device, pid, value: `IO_WAIT LINK_DOWN port=${p.port}` });
    out.push({ ts: now, event_type: "topo.link_down", entity_id: device, value: `LINK_DOWN port=${p.port} ${state}` });
  }

  private _removed(key: string, devices: ReadonlySet<string>, users: ReadonlyMap<string, readonly number[]>, now: number, out: IbEvent[]): void {
    const gone = this._ports.get(key)!;
    this._ports.delete(key);
    const slash = key.lastIndexOf("/");
    const device = key.slice(0, slash);
    const port = key.slice(slash + 1);
    // A port that carried traffic vanished (the device was removed or reset): its users lost it.
    if (!gone.everActive || gone.down) return;
    const what = devices.has(device) ? "port removed" : "device removed";
    for (const pid of users.get(device) ?? []) out.push({ ts: now, event_type: "transport.bw", entity_id: device, pid, value: `IO_WAIT LINK_DOWN port=${port}` });
    out.push({ ts: now, event_type: "topo.link_down", entity_id: device, value: `LINK_DOWN port=${port} ${what}` });
  }
}

/** Name → rise for each counter read both times; one that went down (reset, reload) gives none. */
function _deltas(prev: ReadonlyMap<string, bigint>, cur: ReadonlyMap<string, bigint>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [name, b] of cur) {
    const a = prev.get(name);
    if (a !== undefined && b >= a) out.set(name, b - a);
  }
  return out;
}

function _active(p: PortSnapshot): boolean {
  return p.state !== null && p.state.code === STATE_ACTIVE && (p.phys === null || p.phys.code === PHYS_LINK_UP);
}

function _word(s: string): string {
  return s.replace(/\s+/g, "_");
}

/** GB/s (10^9 bytes) with up to three decimals. */
function _gbps(bytesPerSec: number): string {
  return String(Math.round(bytesPerSec / 1e6) / 1000);
}

/** A round's span for a value: whole seconds, or tenths under ten seconds (a short interval). */
function _seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : (Math.round(ms / 100) / 10).toString();
}
