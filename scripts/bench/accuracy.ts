// `npm run accuracy`: the diagnosis accuracy benchmark. Each incident of the labelled corpus
// in test/fixtures/incidents/ (an NDJSON event stream and the answer an SRE would give per
// pid) is fed through the real pipeline, an in-process Exporter read exactly as `replay`
// reads a file, and each labelled pid is asked about through GET /api/v1/why/:pid on the
// exporter's own HTTP app, the route `xctl-exporter why` calls. An incident may also label the
// host: the scenes active once the stream has ended, as GET /api/v1/status (what `xctl-exporter
// status` prints) lists them, for host scenes about a device no process uses (an NVSwitch).
// Prints precision and recall per scene and overall, the root causes named and missed, and every miss.
//   node --import tsx scripts/bench/accuracy.ts [--json] [--only NAME] [--markdown FILE] [DIR]
// --markdown writes (or replaces) the "Diagnosis accuracy" section of FILE (BENCHMARKS.md).
// Exit status: 0 when the target holds, 1 when it does not, 2 for a bad corpus.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Exporter } from "../../src/exporter.ts";
import { createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/log.ts";
import { LineLocator, readInto } from "../../src/cli/replay-input.ts";

export const CORPUS_DIR = fileURLToPath(new URL("../../test/fixtures/incidents/", import.meta.url));

/** The bar: overall precision and recall, and the least either may be for any one scene. */
export const TARGET = { precision: 0.98, recall: 0.95, perScene: 0.9 } as const;

/** A root cause an answer must name: the error's entity and a text its error type contains. */
export interface RootCause {
  entity: string;
  error_type: string;
}

/** What an SRE would answer for one pid at the end of the incident. */
export interface PidTruth {
  /** Scenes `why` must report for this pid. */
  scenes: string[];
  /** Scenes the incident tempts a diagnosis to report and that would be wrong (near misses). */
  not?: string[];
  /** Scenes that are true in a weak sense and may go either way; never scored. */
  may?: string[];
  /** Errors the answer must name (in root_causes or in a match's evidence); any other error named is a wrong blame. */
  root_causes?: RootCause[];
}

export interface Expectation {
  title: string;
  /** What happened, as it would be told in a postmortem. */
  story: string;
  /** Labels of what the incident covers (shared_gpu, reuse, concurrent, near_miss, noise, ...). */
  tags?: string[];
  pids: Record<string, PidTruth>;
  /**
   * The host's active scenes once the stream has ended (GET /api/v1/status), scored like a pid:
   * `scenes` must be active, any other active scene is a false positive, `root_causes` must be
   * among the errors the active scenes name. Optional: most incidents are about processes.
   */
  host?: PidTruth;
}

/** The label of the host in misses (a pid otherwise). */
export const HOST = "host";

export interface Incident {
  name: string;
  file: string;
  expect: Expectation;
}

export interface Miss {
  incident: string;
  /** The pid, or "host" for the host's label. */
  pid: number | typeof HOST;
  scene: string;
  kind: "missed" | "false_positive" | "near_miss_reported";
  expected: string[];
  got: string[];
}

export interface CauseMiss {
  incident: string;
  pid: number | typeof HOST;
  kind: "not_named" | "wrong_blame";
  cause: string;
}

export interface SceneScore {
  tp: number;
  fp: number;
  fn: number;
  /** Near misses held: a scene labelled `not` for a pid and rightly not reported. */
  tn: number;
}

export interface Report {
  incidents: number;
  pids: number;
  /** Incidents whose host was labelled and asked about (GET /api/v1/status). */
  hosts: number;
  events: number;
  byScene: Map<string, SceneScore>;
  overall: SceneScore;
  causes: SceneScore;
  /** Reported scenes that carried no evidence (an answer an SRE cannot check). */
  unevidenced: { incident: string; pid: number | typeof HOST; scene: string }[];
  misses: Miss[];
  causeMisses: CauseMiss[];
  /** Per-incident rejected lines (a corpus must be clean). */
  rejected: { incident: string; count: number }[];
  seconds: number;
}

const _ERROR_EVENTS = new Set(["error.hw", "error.net", "topo.link_down"]);

/** Reads every `<name>.ndjson` with its `<name>.expect.json`. Throws on a malformed corpus. */
export function loadCorpus(dir = CORPUS_DIR): Incident[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ndjson")).sort();
  const out: Incident[] = [];
  for (const f of files) {
    const name = f.slice(0, -".ndjson".length);
    const expectFile = join(dir, `${name}.expect.json`);
    let expect: Expectation;
    try {
      expect = JSON.parse(readFileSync(expectFile, "utf8")) as Expectation;
    } catch (e) {
      throw new Error(`${expectFile}: ${(e as Error).message}`);
    }
    _checkExpectation(expectFile, expect);
    out.push({ name, file: join(dir, f), expect });
  }
  return out;
}

function _checkExpectation(file: string, x: Expectation): void {
  const bad = (why: string) => {
    throw new Error(`${file}: ${why}`);
  };
  if (typeof x.title !== "string" || x.title === "") bad("title: a non-empty string is required");
  if (typeof x.story !== "string" || x.story === "") bad("story: a non-empty string is required");
  if (x.pids === null || typeof x.pids !== "object" || Object.keys(x.pids).length === 0) bad("pids: at least one pid is required");
  const truth = (where: string, t: PidTruth) => {
    if (t === null || typeof t !== "object") bad(`${where}: an object is required`);
    for (const k of ["scenes", "not", "may"] as const) {
      const v = t[k];
      if (v === undefined && k !== "scenes") continue;
      if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) bad(`${where}.${k}: a list of scene ids is required`);
    }
    const both = t.scenes.filter((s) => t.not?.includes(s) || t.may?.includes(s));
    if (both.length > 0) bad(`${where}: ${both.join(", ")} both required and not/may`);
    for (const c of t.root_causes ?? []) {
      if (typeof c.entity !== "string" || typeof c.error_type !== "string") bad(`${where}.root_causes: {entity, error_type} strings are required`);
    }
  };
  for (const [pid, t] of Object.entries(x.pids)) {
    if (!/^\d+$/.test(pid)) bad(`pids: "${pid}" is not a pid`);
    truth(`pids.${pid}`, t);
  }
  if (x.host !== undefined) truth("host", x.host);
}

interface WhyScene {
  scene: string;
  [key: string]: unknown;
}

interface WhyAnswerLike {
  root_causes: { entity?: string; error_type?: string }[];
  scenes: WhyScene[];
}

interface StatusLike {
  scenes: { scene: string; errors: string[]; affected_pids: number[]; affected_jobs: string[] }[];
}

/**
 * The answer of GET /api/v1/why/:pid per labelled pid (null for 404), and of GET
 * /api/v1/status when the host is labelled, after the whole stream.
 */
export async function askIncident(
  inc: Incident,
): Promise<{ answers: Map<number, WhyAnswerLike | null>; host: StatusLike | undefined; events: number; rejected: number }> {
  const exporter = new Exporter({
    log: createLogger("silent"),
    processMetrics: false,
    // As replay: event time drives the graph and the diagnosis.
    liveClock: false,
  });
  await replayFile(exporter, inc.file);
  const app = createApp(exporter);
  const answers = new Map<number, WhyAnswerLike | null>();
  for (const pid of Object.keys(inc.expect.pids)) {
    // Asked from loopback, as `xctl-exporter why` on the host asks.
    const res = await app.request(`/api/v1/why/${pid}`, {}, { remoteAddress: "127.0.0.1" });
    if (res.status === 404) {
      await res.arrayBuffer();
      answers.set(Number(pid), null);
      continue;
    }
    if (res.status !== 200) throw new Error(`${inc.name}: why ${pid} answered ${res.status}: ${await res.text()}`);
    answers.set(Number(pid), (await res.json()) as WhyAnswerLike);
  }
  let host: StatusLike | undefined;
  if (inc.expect.host !== undefined) {
    const res = await app.request("/api/v1/status", {}, { remoteAddress: "127.0.0.1" });
    if (res.status !== 200) throw new Error(`${inc.name}: status answered ${res.status}: ${await res.text()}`);
    host = (await res.json()) as StatusLike;
  }
  await exporter.stop();
  const rejected = exporter.ingest.rejected();
  return { answers, host, events: exporter.ingest.accepted, rejected };
}

/** Reads an event file into the exporter the way `xctl-exporter replay` does (one feed, plain or gzip). */
export async function replayFile(exporter: Exporter, file: string): Promise<void> {
  const input = exporter.ingest.feed("replay", { streamClock: true });
  await readInto(file, input, new LineLocator(exporter.ingest.maxLineBytes), undefined);
}

/** Every error an answer names: its root causes and the errors in its matches' evidence. */
export function namedErrors(a: WhyAnswerLike): Set<string> {
  const out = new Set<string>();
  for (const c of a.root_causes) if (c.entity !== undefined) out.add(_causeKey(c.entity, c.error_type ?? ""));
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8 || v === null || typeof v !== "object") return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    const entity = typeof o.entity_id === "string" ? o.entity_id : typeof o.entity === "string" ? o.entity : undefined;
    if (entity !== undefined) {
      if (typeof o.error_type === "string") out.add(_causeKey(entity, o.error_type));
      else if (typeof o.event_type === "string" && _ERROR_EVENTS.has(o.event_type) && typeof o.value === "string") out.add(_causeKey(entity, o.value));
    }
    for (const [k, x] of Object.entries(o)) if (k !== "root_cause" && k !== "solution_steps") walk(x, depth + 1);
  };
  for (const s of a.scenes) walk(s, 0);
  return out;
}

function _causeKey(entity: string, errorType: string): string {
  return `${errorType} on ${entity}`;
}

/** Whether a reported scene carries the evidence that made it hold. */
function _evidenced(s: WhyScene): boolean {
  for (const k of ["evidence", "causes"]) {
    const v = s[k];
    if (Array.isArray(v) && v.length > 0) return true;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) return true;
  }
  return false;
}

export async function runCorpus(incidents: Incident[]): Promise<Report> {
  const t0 = performance.now();
  const report: Report = {
    incidents: incidents.length,
    pids: 0,
    hosts: 0,
    events: 0,
    byScene: new Map(),
    overall: { tp: 0, fp: 0, fn: 0, tn: 0 },
    causes: { tp: 0, fp: 0, fn: 0, tn: 0 },
    unevidenced: [],
    misses: [],
    causeMisses: [],
    rejected: [],
    seconds: 0,
  };
  for (const inc of incidents) {
    const { answers, host, events, rejected } = await askIncident(inc);
    report.events += events;
    if (rejected > 0) report.rejected.push({ incident: inc.name, count: rejected });
    for (const [pidText, truth] of Object.entries(inc.expect.pids)) {
      const pid = Number(pidText);
      report.pids++;
      const a = answers.get(pid) ?? null;
      _score(report, inc.name, pid, truth, a === null ? null : { scenes: a.scenes, named: namedErrors(a) });
    }
    if (inc.expect.host !== undefined && host !== undefined) {
      // The active scenes with the errors each names (`XID_79 on gpu-03`), as `status` shows them;
      // a scene that names no error (host_oom_kill: a pid that has left the graph) is evidenced by
      // the pids and jobs it names.
      const named = new Set(host.scenes.flatMap((s) => s.errors));
      const scenes = host.scenes.map((s) => ({
        scene: s.scene,
        causes: s.errors.length > 0 ? s.errors : [...s.affected_pids.map((p) => `pid ${p}`), ...s.affected_jobs.map((j) => `job ${j}`)],
      }));
      report.hosts++;
      _score(report, inc.name, HOST, inc.expect.host, { scenes, named });
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** "pid 123", or "host". */
export function whoOf(pid: number | typeof HOST): string {
  return pid === HOST ? HOST : `pid ${pid}`;
}

/** Scores one label (a pid's, or the host's) against the answer (null: the pid was unknown). */
function _score(report: Report, incident: string, pid: number | typeof HOST, truth: PidTruth, a: { scenes: WhyScene[]; named: Set<string> } | null): void {
  const score = (scene: string) => {
    let s = report.byScene.get(scene);
    if (s === undefined) report.byScene.set(scene, (s = { tp: 0, fp: 0, fn: 0, tn: 0 }));
    return s;
  };
  const got = a === null ? [] : [...new Set(a.scenes.map((s) => s.scene))].sort();
  const expected = [...truth.scenes].sort();
  for (const scene of truth.scenes) score(scene);
  for (const scene of expected) {
    if (got.includes(scene)) {
      score(scene).tp++;
      report.overall.tp++;
    } else {
      score(scene).fn++;
      report.overall.fn++;
      report.misses.push({ incident, pid, scene, kind: "missed", expected, got: a === null ? ["(pid unknown: 404)"] : got });
    }
  }
  for (const scene of truth.not ?? []) {
    if (got.includes(scene)) continue;
    score(scene).tn++;
    report.overall.tn++;
  }
  for (const scene of got) {
    if (expected.includes(scene) || truth.may?.includes(scene)) continue;
    score(scene).fp++;
    report.overall.fp++;
    const kind = truth.not?.includes(scene) ? "near_miss_reported" : "false_positive";
    report.misses.push({ incident, pid, scene, kind, expected, got });
  }
  if (a === null) {
    for (const c of truth.root_causes ?? []) {
      report.causes.fn++;
      report.causeMisses.push({ incident, pid, kind: "not_named", cause: _causeKey(c.entity, c.error_type) });
    }
    return;
  }
  for (const s of a.scenes) if (!_evidenced(s)) report.unevidenced.push({ incident, pid, scene: s.scene });
  const named = a.named;
  const want = truth.root_causes ?? [];
  const matched = new Set<string>();
  for (const c of want) {
    const hit = [...named].find((n) => n.endsWith(` on ${c.entity}`) && n.toLowerCase().includes(c.error_type.toLowerCase()));
    if (hit !== undefined) {
      matched.add(hit);
      report.causes.tp++;
    } else {
      report.causes.fn++;
      report.causeMisses.push({ incident, pid, kind: "not_named", cause: _causeKey(c.entity, c.error_type) });
    }
  }
  for (const n of named) {
    if (matched.has(n)) continue;
    // The same error named twice (root causes and evidence) counts once.
    if (want.some((c) => n.endsWith(` on ${c.entity}`) && n.toLowerCase().includes(c.error_type.toLowerCase()))) continue;
    report.causes.fp++;
    report.causeMisses.push({ incident, pid, kind: "wrong_blame", cause: n });
  }
}

export function precision(s: SceneScore): number {
  return s.tp + s.fp === 0 ? 1 : s.tp / (s.tp + s.fp);
}

export function recall(s: SceneScore): number {
  return s.tp + s.fn === 0 ? 1 : s.tp / (s.tp + s.fn);
}

/** Why the target fails, one line per reason; empty when it holds. */
export function targetFailures(r: Report): string[] {
  const out: string[] = [];
  const p = precision(r.overall);
  const rc = recall(r.overall);
  if (p < TARGET.precision) out.push(`overall precision ${p.toFixed(4)} < ${TARGET.precision}`);
  if (rc < TARGET.recall) out.push(`overall recall ${rc.toFixed(4)} < ${TARGET.recall}`);
  for (const [scene, s] of [...r.byScene].sort()) {
    if (precision(s) < TARGET.perScene) out.push(`${scene}: precision ${precision(s).toFixed(4)} < ${TARGET.perScene}`);
    if (recall(s) < TARGET.perScene) out.push(`${scene}: recall ${recall(s).toFixed(4)} < ${TARGET.perScene}`);
  }
  // The errors named are held to the same bar: a right scene with the wrong culprit is a wrong answer.
  if (precision(r.causes) < TARGET.precision) out.push(`root causes named: precision ${precision(r.causes).toFixed(4)} < ${TARGET.precision}`);
  if (recall(r.causes) < TARGET.recall) out.push(`root causes named: recall ${recall(r.causes).toFixed(4)} < ${TARGET.recall}`);
  if (r.rejected.length > 0) out.push(`corpus lines rejected: ${r.rejected.map((x) => `${x.incident} (${x.count})`).join(", ")}`);
  return out;
}

export function formatReport(r: Report): string {
  const lines: string[] = [];
  const f = (n: number) => n.toFixed(3);
  lines.push(`accuracy: ${r.incidents} incidents, ${r.pids} pids and ${r.hosts} hosts asked, ${r.events.toLocaleString("en-US")} events, ${r.seconds.toFixed(2)} s`);
  lines.push("");
  const n = (x: number) => String(x).padStart(4);
  const row = (name: string, s: SceneScore, tn = true) =>
    `${name.padEnd(22)} ${n(s.tp)} ${n(s.fp)} ${n(s.fn)} ${tn ? n(s.tn) : "    "}  ${f(precision(s)).padStart(9)}  ${f(recall(s)).padStart(6)}`;
  lines.push(`${"scene".padEnd(22)} ${"tp".padStart(4)} ${"fp".padStart(4)} ${"fn".padStart(4)} ${"held".padStart(4)}  precision  recall`);
  for (const [scene, s] of [...r.byScene].sort()) lines.push(row(scene, s));
  lines.push(row("overall", r.overall));
  lines.push(row("root causes named", r.causes, false));
  lines.push("(held: near misses labelled `not` and rightly not reported)");
  lines.push(`scenes reported without evidence: ${r.unevidenced.length}`);
  lines.push("");
  if (r.misses.length === 0) lines.push("misses: none");
  else {
    lines.push(`misses (${r.misses.length}):`);
    for (const m of r.misses) {
      const what = m.kind === "missed" ? "missed" : m.kind === "near_miss_reported" ? "near miss reported" : "false positive";
      lines.push(`  ${m.incident} ${whoOf(m.pid)}: ${m.scene} ${what}; expected [${m.expected.join(", ")}], got [${m.got.join(", ")}]`);
    }
  }
  if (r.causeMisses.length > 0) {
    lines.push(`root-cause misses (${r.causeMisses.length}):`);
    for (const m of r.causeMisses) lines.push(`  ${m.incident} ${whoOf(m.pid)}: ${m.kind === "not_named" ? "not named" : "wrong blame"}: ${m.cause}`);
  }
  if (r.unevidenced.length > 0) {
    lines.push(`without evidence (${r.unevidenced.length}):`);
    for (const u of r.unevidenced.slice(0, 50)) lines.push(`  ${u.incident} ${whoOf(u.pid)}: ${u.scene}`);
  }
  const fails = targetFailures(r);
  lines.push("");
  lines.push(
    fails.length === 0
      ? `target met: precision >= ${TARGET.precision}, recall >= ${TARGET.recall}, every scene >= ${TARGET.perScene}, root causes named at the same bar`
      : `target NOT met:\n${fails.map((x) => `  ${x}`).join("\n")}`,
  );
  return lines.join("\n") + "\n";
}

/** The report as JSON-friendly data (maps as objects). */
export function reportJson(r: Report): Record<string, unknown> {
  const scenes: Record<string, unknown> = {};
  for (const [k, s] of [...r.byScene].sort()) scenes[k] = { ...s, precision: precision(s), recall: recall(s) };
  return {
    incidents: r.incidents,
    pids: r.pids,
    hosts: r.hosts,
    events: r.events,
    seconds: r.seconds,
    overall: { ...r.overall, precision: precision(r.overall), recall: recall(r.overall) },
    root_causes: { ...r.causes, precision: precision(r.causes), recall: recall(r.causes) },
    scenes,
    misses: r.misses,
    root_cause_misses: r.causeMisses,
    unevidenced: r.unevidenced,
    target: TARGET,
    target_failures: targetFailures(r),
  };
}

const _BEGIN = "<!-- accuracy:begin (scripts/bench/accuracy.ts --markdown) -->";
const _END = "<!-- accuracy:end -->";

/** The "Diagnosis accuracy" section of BENCHMARKS.md. */
export function markdownSection(r: Report, when = new Date()): string {
  const f = (n: number) => n.toFixed(3);
  const row = (name: string, s: SceneScore, tn = true) => `| ${name} | ${s.tp} | ${s.fp} | ${s.fn} | ${tn ? s.tn : ""} | ${f(precision(s))} | ${f(recall(s))} |`;
  const fails = targetFailures(r);
  const out = [
    _BEGIN,
    "## Diagnosis accuracy",
    "",
    `\`npm run accuracy\` (scripts/bench/accuracy.ts) on ${when.toISOString().slice(0, 19).replace("T", " ")} UTC: the labelled corpus of test/fixtures/incidents/ ` +
      `(${r.incidents} incidents, ${r.pids} processes and ${r.hosts} hosts asked about, ${r.events.toLocaleString("en-US")} events; its README says what a label means), ` +
      "each stream fed to an in-process exporter as `replay` reads it, each pid asked through `GET /api/v1/why/:pid` " +
      "(and where an incident labels the host, its active scenes through `GET /api/v1/status`, as `xctl-exporter status` shows them). " +
      "A scene reported for a pid that its label does not list is a false positive; a listed one not reported is a miss. " +
      `Target: precision ≥ ${TARGET.precision} and recall ≥ ${TARGET.recall} overall, no scene under ${TARGET.perScene} on either.`,
    "",
    "| scene | tp | fp | fn | near misses held | precision | recall |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...[...r.byScene].sort().map(([k, s]) => row(`\`${k}\``, s)),
    row("**overall**", r.overall),
    row("root causes named", r.causes, false),
    "",
    fails.length === 0 ? "Target met." : `Target **not met**: ${fails.join("; ")}.`,
    "",
  ];
  if (r.misses.length > 0 || r.causeMisses.length > 0) {
    out.push("Misses:", "");
    for (const m of r.misses) {
      const what = m.kind === "missed" ? "missed" : m.kind === "near_miss_reported" ? "near miss reported" : "false positive";
      out.push(`- ${m.incident} ${whoOf(m.pid)}: \`${m.scene}\` ${what} (expected [${m.expected.join(", ")}], got [${m.got.join(", ")}])`);
    }
    for (const m of r.causeMisses) out.push(`- ${m.incident} ${whoOf(m.pid)}: ${m.kind === "not_named" ? "root cause not named" : "wrong blame"}: ${m.cause}`);
    out.push("");
  }
  out.push(_END);
  return out.join("\n");
}

/** Replaces the section in `text`, or puts it before "## Reproduce" (else at the end). */
export function withSection(text: string, section: string): string {
  const a = text.indexOf(_BEGIN);
  const b = text.indexOf(_END);
  if (a >= 0 && b > a) return text.slice(0, a) + section + text.slice(b + _END.length);
  const at = text.indexOf("\n## Reproduce");
  if (at >= 0) return text.slice(0, at + 1) + section + "\n\n" + text.slice(at + 1);
  return (text.endsWith("\n") || text === "" ? text : text + "\n") + "\n" + section + "\n";
}

async function _main(argv: string[]): Promise<number> {
  let json = false;
  let markdown: string | undefined;
  let only: string | undefined;
  let dir = CORPUS_DIR;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--only") only = argv[++i];
    else if (a === "--markdown") markdown = argv[++i];
    else if (a.startsWith("-")) {
      process.stderr.write(`accuracy: unknown flag ${a} (--json, --only NAME, --markdown FILE, DIR)\n`);
      return 2;
    } else dir = a;
  }
  let incidents: Incident[];
  try {
    incidents = loadCorpus(dir);
  } catch (e) {
    process.stderr.write(`accuracy: ${(e as Error).message}\n`);
    return 2;
  }
  if (only !== undefined) incidents = incidents.filter((i) => i.name.includes(only!));
  if (incidents.length === 0) {
    process.stderr.write(`accuracy: no incidents in ${dir}\n`);
    return 2;
  }
  const report = await runCorpus(incidents);
  process.stdout.write(json ? JSON.stringify(reportJson(report), null, 2) + "\n" : formatReport(report));
  if (markdown !== undefined) {
    const text = existsSync(markdown) ? readFileSync(markdown, "utf8") : "";
    writeFileSync(markdown, withSection(text, markdownSection(report)));
    process.stderr.write(`accuracy: wrote its section of ${markdown}\n`);
  }
  return targetFailures(report).length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  _main(process.argv.slice(2)).then((code) => process.exit(code));
}
