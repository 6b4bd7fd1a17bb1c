// A sysfs tree of a server with stacked block devices, written in the kernel's layout: disks
// under devices/.../block/<disk>/<part>/, device-mapper and md devices under
// devices/virtual/block/, `class/block/<name>` links to each, `holders/` in members and
// `slaves/` in holders linking to one another, `dm/{name,uuid}`, `md/level`, partitions'
// `partition`, `start` and `size` (512-byte sectors), and `dev/block/<maj:min>` links.
//
//   sda  (boot disk)  sda1 /boot [2048, +1048576)   sda2 [1050624, +200000000) LVM PV of vg0
//        sda2 -> dm-0 vg0-root (LVM, linear), dm-1 vg0-home (LVM, linear)
//   sdd  (whole disk) -> dm-2 luks-data (CRYPT-LUKS2) -> dm-3 vgdata-scratch (LVM on LUKS)
//   sdb1 + sdc1 -> md0 (raid1, both in sync)          sdb2 + sdc2 -> md1 (raid0)
//   sdh1 + sdi1 -> md2 (raid1, degraded: sdi1 faulty)
//   sde + sdf  (two paths of one LUN, both running) -> dm-4 mpatha (multipath) -> dm-5 mpatha1 (its partition)
//   sdj (transport-offline) + sdk -> dm-11 mpathb (multipath, one path left) -> dm-12 mpathb1
//   nvme0n1p1 -> dm-6 vg1-lv_rimage_0, nvme1n1p1 -> dm-7 vg1-lv_rimage_1; dm-6 + dm-7 -> dm-8 vg1-lv (LVM raid1)
//   nvme2n1p1 + nvme2n2p1 (two namespaces of controller nvme2) -> md3 (raid1)
//   sdg -> dm-9 -> dm-10 -> dm-9 (a loop no kernel makes: the walk must end anyway)
//   nvme3n1 (4 KiB blocks: queue/logical_block_size) nvme3n1p1 /boot [2048, +1048576)
//        nvme3n1p2 [1050624, +200000000) -> dm-13 vg2-data (LVM); its controller nvme3 is the
//        PCI function 0000:5e:00.0 (class 0x010802) under root port 0000:5d:00.0
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

export interface StackTree {
  /** The tree's folder: `sys/` is the sysfs; tests may write a `proc/` beside it. */
  root: string;
  sysfs: string;
  close(): void;
}

interface Dev {
  /** Directory under sysfs, e.g. devices/pci0000:00/.../block/sda/sda2. */
  dir: string;
  majMin: string;
}

export function stackTree(): StackTree {
  const root = mkdtempSync(join(tmpdir(), "xctl-stack-"));
  const sysfs = join(root, "sys");
  const devs = new Map<string, Dev>();
  const write = (rel: string, text: string) => {
    mkdirSync(dirname(join(sysfs, rel)), { recursive: true });
    writeFileSync(join(sysfs, rel), text);
  };
  const link = (rel: string, targetRel: string) => {
    const at = join(sysfs, rel);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(relative(dirname(at), join(sysfs, targetRel)), at);
  };
  const add = (name: string, dir: string, majMin: string) => {
    devs.set(name, { dir, majMin });
    mkdirSync(join(sysfs, dir, "holders"), { recursive: true });
    write(`${dir}/dev`, `${majMin}\n`);
    link(`class/block/${name}`, dir);
    link(`dev/block/${majMin}`, dir);
  };
  let scsi = 0;
  const disk = (name: string, major: number, minor: number, parts: [number, number][] = [], state = "running") => {
    const scsiDev = `devices/pci0000:00/0000:00:17.0/ata${scsi + 1}/host${scsi}/target${scsi}:0:0/${scsi}:0:0:0`;
    const dir = `${scsiDev}/block/${name}`;
    scsi++;
    add(name, dir, `${major}:${minor}`);
    write(`${scsiDev}/state`, `${state}\n`);
    link(`${dir}/device`, scsiDev);
    mkdirSync(join(sysfs, dir, "slaves"), { recursive: true });
    parts.forEach(([start, size], i) => {
      const p = /\d$/.test(name) ? `${name}p${i + 1}` : `${name}${i + 1}`;
      add(p, `${dir}/${p}`, `${major}:${minor + i + 1}`);
      write(`${dir}/${p}/partition`, `${i + 1}\n`);
      write(`${dir}/${p}/start`, `${start}\n`);
      write(`${dir}/${p}/size`, `${size}\n`);
    });
  };
  const virtual = (name: string, majMin: string, slaves: string[], meta: Record<string, string>) => {
    const dir = `devices/virtual/block/${name}`;
    add(name, dir, majMin);
    mkdirSync(join(sysfs, dir, "slaves"), { recursive: true });
    for (const [file, text] of Object.entries(meta)) write(`${dir}/${file}`, `${text}\n`);
    for (const s of slaves) {
      const sd = devs.get(s)!;
      link(`${dir}/slaves/${s}`, sd.dir);
      link(`${sd.dir}/holders/${name}`, dir);
    }
  };
  const lvm = (name: string, n: number, slaves: string[], lv: string) =>
    virtual(name, `253:${n}`, slaves, { "dm/name": lv, "dm/uuid": `LVM-Wd3kQ${n}fJx0b2Yc7Kp1Lr8Zm4Tn6Vs9Hq5Ge3DuAo7Bi1Cj2Ek4Fl6Gm8Hn0Ip${n}`, "dm/suspended": "0" });

  disk("sda", 8, 0, [[2048, 1048576], [1050624, 200000000]]);
  lvm("dm-0", 0, ["sda2"], "vg0-root");
  lvm("dm-1", 1, ["sda2"], "vg0-home");
  disk("sdd", 8, 48);
  virtual("dm-2", "253:2", ["sdd"], { "dm/name": "luks-data", "dm/uuid": "CRYPT-LUKS2-6f1c0e2a9b3d4c5e8f7a1b2c3d4e5f60-luks-data" });
  lvm("dm-3", 3, ["dm-2"], "vgdata-scratch");
  disk("sdb", 8, 16, [[2048, 4194304], [4196352, 100000000]]);
  disk("sdc", 8, 32, [[2048, 4194304], [4196352, 100000000]]);
  const md = (name: string, n: number, level: string, members: Record<string, string>) => {
    const meta: Record<string, string> = { "md/level": level, "md/raid_disks": String(Object.keys(members).length) };
    for (const [m, state] of Object.entries(members)) meta[`md/dev-${m}/state`] = state;
    virtual(name, `9:${n}`, Object.keys(members), meta);
  };
  md("md0", 0, "raid1", { sdb1: "in_sync", sdc1: "in_sync" });
  md("md1", 1, "raid0", { sdb2: "in_sync", sdc2: "in_sync" });
  disk("sdh", 8, 112, [[2048, 4194304]]);
  disk("sdi", 8, 128, [[2048, 4194304]]);
  md("md2", 2, "raid1", { sdh1: "in_sync", sdi1: "faulty" });
  disk("sde", 8, 64);
  disk("sdf", 8, 80);
  virtual("dm-4", "253:4", ["sde", "sdf"], { "dm/name": "mpatha", "dm/uuid": "mpath-3600508b400105e210000900000490000" });
  virtual("dm-5", "253:5", ["dm-4"], { "dm/name": "mpatha1", "dm/uuid": "part1-mpath-3600508b400105e210000900000490000" });
  disk("sdj", 8, 144, [], "transport-offline");
  disk("sdk", 8, 160);
  virtual("dm-11", "253:11", ["sdj", "sdk"], { "dm/name": "mpathb", "dm/uuid": "mpath-3600508b400105e210000900000500000" });
  virtual("dm-12", "253:12", ["dm-11"], { "dm/name": "mpathb1", "dm/uuid": "part1-mpath-3600508b400105e210000900000500000" });
  disk("nvme0n1", 259, 0, [[2048, 50000000]]);
  disk("nvme1n1", 259, 2, [[2048, 50000000]]);
  lvm("dm-6", 6, ["nvme0n1p1"], "vg1-lv_rimage_0");
  lvm("dm-7", 7, ["nvme1n1p1"], "vg1-lv_rimage_1");
  lvm("dm-8", 8, ["dm-6", "dm-7"], "vg1-lv");
  disk("nvme2n1", 259, 4, [[2048, 50000000]]);
  disk("nvme2n2", 259, 6, [[2048, 50000000]]);
  md("md3", 3, "raid1", { nvme2n1p1: "in_sync", nvme2n2p1: "in_sync" });
  disk("nvme3n1", 259, 8, [[2048, 1048576], [1050624, 200000000]]);
  write(`${devs.get("nvme3n1")!.dir}/queue/logical_block_size`, "4096\n");
  lvm("dm-13", 13, ["nvme3n1p2"], "vg2-data");
  const ctrl = "devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0";
  write("devices/pci0000:5d/0000:5d:00.0/class", "0x060400\n");
  write(`${ctrl}/class`, "0x010802\n");
  write(`${ctrl}/vendor`, "0x144d\n");
  link(`${ctrl}/nvme/nvme3/nvme3n1`, devs.get("nvme3n1")!.dir);
  link("class/nvme/nvme3", `${ctrl}/nvme/nvme3`);
  link("bus/pci/devices/0000:5d:00.0", "devices/pci0000:5d/0000:5d:00.0");
  link("bus/pci/devices/0000:5e:00.0", ctrl);
  disk("sdg", 8, 96);
  lvm("dm-9", 9, ["sdg"], "loop-a");
  lvm("dm-10", 10, ["dm-9"], "loop-b");
  link(`devices/virtual/block/dm-10/holders/dm-9`, "devices/virtual/block/dm-9");
  return { root, sysfs, close: () => rmSync(root, { recursive: true, force: true }) };
}
