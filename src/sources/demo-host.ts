// The simulated GPU host behind builtin:demo: 8 GPUs, two RDMA NICs, a local NVMe and a
// shared storage volume; training jobs that start, checkpoint and exit; and a deck of
// incidents dealt every few seconds so that each failure scene shows within about a minute.
// Time here is simulated: `tick(ms)` moves it on, so tests can run it faster than the clock.

export interface DemoEvent {
  ts: number;
  event_type: string;
  entity_id: string;
  job_id: string | null;
  pid: number | null;
  value: string;
}

export const DEMO_GPUS = Array.from({ length: 8 }, (_, i) => `gpu-0${i}`);
export const DEMO_NICS = ["mlx5_0", "mlx5_1"];
export const DEMO_NVME = "nvme0n1";
export const DEMO_STORAGE = "storage-01";

export const INCIDENTS = [
  "xid",
  "oom",
  "link_down",
  "drop_storm",
  "pfc_storm",
  "io_error",
  "util_stall",
  "checkpoint_stall",
] as const;
export type Incident = (typeof INCIDENTS)[number];

/** Small, fast, seedable PRNG (mulberry32): the same seed gives the same host history. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rank {
  pid: number;
  gpu: number;
}

interface Job {
  id: string;
  ranks: Rank[];
  alive: boolean;
}

/** What an incident does to the readings of one entity or job, until `until`. */
type EffectKind = "oom" | "link_down" | "drops" | "pfc" | "io_wait" | "stall" | "ckpt_stall";

/** Linux's largest pid_max (64-bit PID_MAX_LIMIT), and where it wraps to (lower pids are reserved). */
export const DEMO_PID_MAX = 4_194_304;
const DEMO_PID_FIRST = 300;

const WORKLOADS = ["train llama-70b", "finetune mistral-7b", "pretrain moe-8x7b", "eval resnet-152", "train vit-h"];
const JOB_SIZES = [1, 2, 2, 4, 4, 8];

export class DemoHost {
  /** Simulated wall clock, ms since the epoch. */
  now: number;
  readonly rate: number;
  /** How many times each incident was dealt. */
  readonly dealt = new Map<Incident, number>(INCIDENTS.map((i) => [i, 0]));

  private readonly _rand: () => number;
  private readonly _emit: (ev: DemoEvent) => void;
  private readonly _jobs = new Set<Job>();
  private readonly _gpuRank: (Rank | null)[] = DEMO_GPUS.map(() => null);
  private readonly _gpuJob: (Job | null)[] = DEMO_GPUS.map(() => null);
  /** A GPU that raised an XID is drained for a while: no job lands on it. */
  private readonly _gpuDrainedUntil: number[] = DEMO_GPUS.map(() => 0);
  private readonly _effects = new Map<string, { kind: EffectKind; until: number }>();
  private _later: { at: number; run: () => void }[] = [];
  private _deck: Incident[] = [];
  private _nextIncident: number;
  private _nextJob: number;
  private _nextHiccup: number;
  private _jobSeq = 1000;
  private _pidSeq: number;
  private _budget = 0;
  private _sensors: (() => void)[] | null = null;
  private _cursor = 0;
  /** Per-NIC counter so storm drops are spread over the NIC's ranks. */
  private _dropTurn = 0;

  readonly pidMax: number; // pids wrap past it, as the kernel's past its pid_max

  constructor(opts: { startTs: number; rate: number; seed: number; pidMax?: number }, emit: (ev: DemoEvent) => void) {
    this.now = opts.startTs;
    this.rate = opts.rate;
    this.pidMax = opts.pidMax ?? DEMO_PID_MAX;
    this._rand = seededRandom(opts.seed);
    this._emit = emit;
    this._pidSeq = 4000 + this._int(0, 3000);
    this._nextIncident = this.now + 3000;
    this._nextJob = this.now;
    this._nextHiccup = this.now + this._int(8000, 20_000);
  }

  /** Moves simulated time on by `ms` and emits what happened meanwhile. */
  tick(ms: number): void {
    this.now += ms;
    this._runDue();
    this._schedule();
    if (this.now >= this._nextIncident) this._incident();
    if (this.now >= this._nextHiccup) this._hiccup();
    this._budget += (this.rate * ms) / 1000;
    const sensors = (this._sensors ??= this._buildSensors());
    while (this._budget >= 1) {
      this._budget--;
      if (this._cursor >= sensors.length) this._cursor = 0;
      sensors[this._cursor++]();
    }
  }

  // ---- jobs ----

  private _schedule(): void {
    if (this.now < this._nextJob) return;
    // Keep the host busy: fill free GPUs, leaving one idle now and then.
    for (;;) {
      const free = this._freeGpus();
      if (free.length === 0 || (free.length === 1 && this._rand() < 0.5)) break;
      const fits = JOB_SIZES.filter((s) => s <= free.length);
      this._startJob(free.slice(0, this._pick(fits)));
    }
    this._nextJob = this.now + this._int(1000, 4000);
  }

  private _freeGpus(): number[] {
    const out: number[] = [];
    for (let g = 0; g < DEMO_GPUS.length; g++) {
      if (this._gpuJob[g] === null && this._gpuDrainedUntil[g] <= this.now) out.push(g);
    }
    return out;
  }

  private _startJob(gpus: number[]): void {
    const job: Job = { id: `job-${++this._jobSeq}`, ranks: [], alive: true };
    const workload = this._pick(WORKLOADS);
    for (const gpu of gpus) {
      const rank = { pid: this._nextPid(), gpu };
      job.ranks.push(rank);
      this._gpuRank[gpu] = rank;
      this._gpuJob[gpu] = job;
      this._event("process.state", DEMO_GPUS[gpu], job.id, rank.pid, "start");
      this._event("intent.run", DEMO_GPUS[gpu], job.id, rank.pid, workload);
    }
    this._jobs.add(job);
    this._sensors = null;
    const life = this._int(25_000, 90_000);
    // A routine checkpoint half-way through: fast storage, no waiting.
    this._after(life / 2, () => {
      if (!job.alive || this._effects.has(job.id)) return;
      this._state(job, "checkpoint_saving");
      this._after(2000, () => job.alive && this._state(job, "running"));
    });
    this._after(life, () => this._endJob(job));
  }

  /** A step up; past `pidMax` back to the bottom as the kernel wraps (else a demo left running passes 2^31 and every process event is rejected); never a live rank's. */
  private _nextPid(): number {
    for (;;) {
      this._pidSeq += this._int(1, 40);
      if (this._pidSeq > this.pidMax) this._pidSeq = DEMO_PID_FIRST + this._int(0, 40);
      if (!this._gpuRank.some((r) => r !== null && r.pid === this._pidSeq)) return this._pidSeq;
    }
  }

  private _endJob(job: Job): void {
    if (!job.alive) return;
    job.alive = false;
    this._state(job, "exit");
    for (const r of job.ranks) {
      this._gpuRank[r.gpu] = null;
      this._gpuJob[r.gpu] = null;
    }
    this._jobs.delete(job);
    this._effects.delete(job.id);
    this._sensors = null;
  }

  private _state(job: Job, state: string): void {
    for (const r of job.ranks) this._event("process.state", DEMO_GPUS[r.gpu], job.id, r.pid, state);
  }

  // ---- incidents ----

  private _incident(): void {
    if (this._deck.length === 0) this._deck = this._shuffle([...INCIDENTS]);
    const kind = this._deck[this._deck.length - 1];
    const job = this._pickJob();
    // Every incident hurts a running job; with none running, try again shortly.
    if (job === null) {
      this._nextIncident = this.now + 1000;
      return;
    }
    this._deck.pop();
    this.dealt.set(kind, this.dealt.get(kind)! + 1);
    this._nextIncident = this.now + this._int(5000, 8000);
    const rank = this._pick(job.ranks);
    const gpu = DEMO_GPUS[rank.gpu];
    const nic = _nicOf(rank.gpu);
    switch (kind) {
      case "xid": {
        const xid = this._pick(["XID_79", "XID_79", "XID_48", "XID_94"]);
        this._event("error.hw", gpu, job.id, rank.pid, xid);
        this._event("action.exec", gpu, null, null, "drain");
        this._gpuDrainedUntil[rank.gpu] = this.now + 20_000;
        this._after(1500, () => this._endJob(job));
        return;
      }
      case "oom":
        this._effect(gpu, "oom", 3000);
        this._after(1000, () => {
          if (!job.alive) return;
          this._event("compute.mem", gpu, job.id, rank.pid, "98");
          this._event("error.hw", gpu, job.id, rank.pid, "OOM");
          this._after(1500, () => {
            if (job.alive) this._event("action.exec", gpu, job.id, rank.pid, "kill");
            this._endJob(job);
          });
        });
        return;
      case "link_down":
        this._event("topo.link_down", nic, null, null, "down");
        this._effect(nic, "link_down", 8000);
        return;
      case "drop_storm":
        this._effect(nic, "drops", 6000);
        return;
      case "pfc_storm":
        this._effect(nic, "pfc", 8000);
        this._repeat(8000, 2000, () => this._event("error.net", nic, null, null, "PFC storm"));
        return;
      case "io_error":
        this._effect(job.id, "io_wait", 10_000);
        this._after(500, () => this._repeat(9000, 3000, () => this._event("error.hw", DEMO_STORAGE, null, null, "io_error")));
        return;
      case "util_stall":
        this._effect(job.id, "stall", 12_000);
        return;
      case "checkpoint_stall":
        this._state(job, "checkpoint_saving");
        this._effect(job.id, "ckpt_stall", 10_000);
        this._after(10_000, () => job.alive && this._state(job, "running"));
        return;
    }
  }

  /** A brief network hiccup on one rank: one low bandwidth reading, so a waits_on edge. */
  private _hiccup(): void {
    this._nextHiccup = this.now + this._int(10_000, 25_000);
    const job = this._pickJob();
    if (job === null) return;
    const r = this._pick(job.ranks);
    this._event("transport.bw", _nicOf(r.gpu), job.id, r.pid, "0.4");
  }

  private _pickJob(): Job | null {
    return this._jobs.size === 0 ? null : this._pick([...this._jobs]);
  }

  // ---- telemetry: a round robin of sensors, read `rate` times a second in all ----

  private _buildSensors(): (() => void)[] {
    const s: (() => void)[] = [];
    for (let g = 0; g < DEMO_GPUS.length; g++) {
      s.push(() => this._gpuUtil(g), () => this._gpuMem(g));
    }
    for (const job of this._jobs) {
      for (const r of job.ranks) s.push(() => this._rankNet(job, r), () => this._rankStorage(job, r));
    }
    for (const nic of DEMO_NICS) s.push(() => this._nicDrops(nic));
    s.push(
      () => this._event("storage.qdepth", DEMO_STORAGE, null, null, String(this._int(2, 12))),
      () => this._event("storage.qdepth", DEMO_NVME, null, null, String(this._anyEffect("ckpt_stall") ? this._int(32, 128) : this._int(0, 2))), // a stalled checkpoint queues its writes
      () => this._storageIops(DEMO_STORAGE),
      () => this._storageIops(DEMO_NVME),
    );
    return s;
  }

  private _gpuUtil(g: number): void {
    const r = this._gpuRank[g];
    const job = this._gpuJob[g];
    if (r === null || job === null) return this._event("compute.util", DEMO_GPUS[g], null, null, String(this._int(0, 2)));
    const jobFx = this._effectOn(job.id);
    let util: number;
    if (jobFx === "stall") util = this._int(3, 8);
    else if (jobFx === "io_wait" || this._effectOn(_nicOf(g)) === "link_down") util = this._int(1, 4);
    else util = this._int(78, 99);
    this._event("compute.util", DEMO_GPUS[g], job.id, r.pid, String(util));
  }

  private _gpuMem(g: number): void {
    const r = this._gpuRank[g];
    const job = this._gpuJob[g];
    if (r === null || job === null) return this._event("compute.mem", DEMO_GPUS[g], null, null, "0");
    const mem = this._effectOn(DEMO_GPUS[g]) === "oom" ? this._int(93, 99) : this._int(45, 88);
    this._event("compute.mem", DEMO_GPUS[g], job.id, r.pid, String(mem));
  }

  private _rankNet(job: Job, r: Rank): void {
    const nic = _nicOf(r.gpu);
    const fx = this._effectOn(nic);
    const bw = fx === "link_down" ? "0" : fx === "pfc" ? (0.3 + this._rand() * 0.6).toFixed(2) : (8 + this._rand() * 17).toFixed(1);
    this._event("transport.bw", nic, job.id, r.pid, bw);
  }

  private _rankStorage(job: Job, r: Rank): void {
    const fx = this._effectOn(job.id);
    if (fx === "io_wait") return this._event("storage.iops", DEMO_STORAGE, job.id, r.pid, "0");
    if (fx === "ckpt_stall") return this._event("storage.iops", DEMO_NVME, job.id, r.pid, "0");
    this._event("storage.iops", DEMO_STORAGE, job.id, r.pid, String(this._int(1500, 6000)));
  }

  private _nicDrops(nic: string): void {
    if (this._effectOn(nic) !== "drops") return this._event("transport.drop", nic, null, null, String(this._int(0, 1)));
    // A drop storm: attribute the drops to the ranks on this NIC in turn.
    const ranks = [...this._jobs].flatMap((j) => j.ranks.filter((r) => _nicOf(r.gpu) === nic).map((r) => ({ j, r })));
    if (ranks.length === 0) return this._event("transport.drop", nic, null, null, String(this._int(10, 80)));
    const { j, r } = ranks[this._dropTurn++ % ranks.length];
    this._event("transport.drop", nic, j.id, r.pid, String(this._int(10, 80)));
  }

  private _storageIops(entity: string): void {
    const nvme = entity === DEMO_NVME;
    const stalled = nvme ? this._anyEffect("ckpt_stall") : entity === DEMO_STORAGE && this._anyEffect("io_wait");
    const iops = stalled ? (nvme ? this._int(10, 40) : this._int(0, 20)) : nvme ? this._int(20_000, 90_000) : this._int(3000, 12_000);
    this._event("storage.iops", entity, null, null, String(iops));
  }

  // ---- plumbing ----

  private _event(type: string, entity: string, job: string | null, pid: number | null, value: string): void {
    this._emit({ ts: Math.round(this.now), event_type: type, entity_id: entity, job_id: job, pid, value });
  }

  private _effect(key: string, kind: EffectKind, ms: number): void {
    this._effects.set(key, { kind, until: this.now + ms });
  }

  private _effectOn(key: string): EffectKind | undefined {
    const fx = this._effects.get(key);
    if (fx === undefined) return undefined;
    if (fx.until > this.now) return fx.kind;
    this._effects.delete(key);
    return undefined;
  }

  private _anyEffect(kind: EffectKind): boolean {
    for (const [key, fx] of this._effects) if (fx.kind === kind && this._effectOn(key) === kind) return true;
    return false;
  }

  private _after(ms: number, run: () => void): void {
    this._later.push({ at: this.now + ms, run });
  }

  /** `run` now and every `everyMs` for `forMs`: an error that keeps being reported. */
  private _repeat(forMs: number, everyMs: number, run: () => void): void {
    for (let t = 0; t < forMs; t += everyMs) this._after(t, run);
  }

  private _runDue(): void {
    if (this._later.length === 0) return;
    const due = this._later.filter((l) => l.at <= this.now).sort((a, b) => a.at - b.at);
    if (due.length === 0) return;
    this._later = this._later.filter((l) => l.at > this.now);
    for (const l of due) l.run();
  }

  private _int(lo: number, hi: number): number {
    return lo + Math.floor(this._rand() * (hi - lo + 1));
  }

  private _pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this._rand() * xs.length)];
  }

  private _shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this._rand() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

function _nicOf(gpu: number): string {
  return DEMO_NICS[gpu < 4 ? 0 : 1];
}
