// The deploy kit is written against the exporter's metric names and HTTP routes; these
// checks keep it honest: promtool accepts and unit-tests the rules, every expression names
// only served metrics, and the manifests and the unit carry what an operator relies on.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { envName, parseFlags } from "../../src/cli/flags.ts";
import { SERVE_FLAGS } from "../../src/cli/serve.ts";
import { EXTRA_METRICS, FAMILIES, SEED_METRICS } from "../../src/metrics/names.ts";
import { REJECT_REASONS } from "../../src/events/schema.ts";
import { EVENT_SCENES, loadDefaults, RUNBOOK_BASE } from "../../scripts/gen-runbooks.ts";
import { Exporter } from "../../src/exporter.ts";
import { createLogger } from "../../src/log.ts";
import { createApp } from "../../src/http/app.ts";
import { CORPUS_DIR, replayFile } from "../../scripts/bench/accuracy.ts";
import { parseExposition } from "../_helpers.ts";

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));
const SERVED: Record<string, string> = { ...SEED_METRICS, ...EXTRA_METRICS };

function _read(rel: string): string {
  return readFileSync(join(DEPLOY, rel), "utf8");
}

/** Runs a tool that must be installed; a missing tool fails the test, it never skips it. */
function _run(cmd: string, args: string[], hint: string, env?: Record<string, string>) {
  const r = spawnSync(cmd, args, {
    cwd: DEPLOY,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    assert.fail(`${cmd} not found on PATH: ${hint}`);
  }
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stderr: r.stderr };
}

const PROMTOOL_HINT = "install Debian's prometheus package (apt-get install -y prometheus)";
function _promtool(...args: string[]) {
  return _run("promtool", args, PROMTOOL_HINT);
}

function _hasTool(cmd: string): boolean {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  return !r.error;
}

/** Every metric name an expression mentions. */
function _metricNames(expr: string): string[] {
  return expr.match(/\bxctl_[a-z_]+/g) ?? [];
}

/** True when the exporter serves this series name (histograms add _bucket, _sum, _count). */
function _isServed(name: string): boolean {
  if (name in SERVED) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && SERVED[m[1]] === "histogram";
}

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function _alertRules(): AlertRule[] {
  const doc = parse(_read("prometheus/alerts.yml")) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** Every PromQL string in the dashboard: panel targets and variable queries. */
function _dashboardExprs(): string[] {
  const found: string[] = [];
  const walk = (v: unknown, key: string): void => {
    if (typeof v === "string") {
      if (key === "expr" || key === "definition" || key === "query") found.push(v);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, key);
    } else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, k);
    }
  };
  walk(JSON.parse(_read("grafana/xctl-exporter.json")), "");
  // The datasource variable's query is a plugin type, not PromQL.
  return found.filter((e) => e !== "prometheus");
}

function _withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "xctl-deploy-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("prometheus rules and config", () => {
  it("promtool check rules accepts alerts.yml", () => {
    const r = _promtool("check", "rules", "--lint-fatal", "prometheus/alerts.yml");
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: \d+ rules found/);
  });

  it("the alerts fire as their unit tests expect (promtool test rules)", () => {
    const r = _promtool("test", "rules", "prometheus/alerts.test.yml");
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  it("the README's runbook base change leaves every alert on the new base and the unit tests passing", () => {
    // The commands of deploy/README.md's "Runbook URLs" paragraph, run as written on a copy.
    const readme = _read("README.md");
    const at = readme.indexOf("**Runbook URLs.**");
    const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
    assert.ok(at >= 0 && block, "the Runbook URLs paragraph and its commands");
    const base = /s\|https:\/\/runbooks\.example\/xctl-exporter\|([^|]+)\|/.exec(block[1])?.[1];
    assert.ok(base, block[1]);
    _withTmp((dir) => {
      mkdirSync(join(dir, "deploy/prometheus"), { recursive: true });
      for (const f of ["alerts.yml", "alerts.test.yml"]) writeFileSync(join(dir, "deploy/prometheus", f), _read(`prometheus/${f}`));
      const r = spawnSync("bash", ["-euo", "pipefail", "-c", block[1]], { cwd: dir, encoding: "utf8" });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      const rules = (parse(readFileSync(join(dir, "deploy/prometheus/alerts.yml"), "utf8")) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
      const urls = rules.map((x) => x.annotations?.runbook_url).filter((u) => u !== undefined);
      assert.ok(urls.length > 19, `${urls.length} runbook links`);
      for (const u of urls) assert.ok(u.startsWith(`${base}/`), u);
      // The README's next step after changing a rule: the unit tests, which expect each runbook_url.
      const t = spawnSync("promtool", ["test", "rules", "alerts.test.yml"], { cwd: join(dir, "deploy/prometheus"), encoding: "utf8" });
      assert.equal(t.status, 0, `${t.stdout}${t.stderr}`.slice(0, 1500));
    });
  });

  it("the unit tests feed series as the binary serves them: each family's own labels, and values it can take", () => {
    // Labels a scrape adds to every target: Prometheus's own, the scrape example's cluster, the
    // ServiceMonitor's namespace and service.
    const target = new Set(["job", "instance", "cluster", "namespace", "service"]);
    const families = new Map(Object.values(FAMILIES).map((f) => [f.name, f]));
    const scenes = new Set([...loadDefaults().map((r) => r.rule.scene), "nvlink_error"]);
    const tests = (parse(_read("prometheus/alerts.test.yml")) as { tests: { input_series: { series: string }[] }[] }).tests;
    let n = 0;
    for (const s of tests.flatMap((t) => t.input_series.map((i) => i.series))) {
      const m = /^([a-z_]+)\{(.*)\}$/.exec(s);
      assert.ok(m, s);
      if (!m[1].startsWith("xctl_")) continue;
      n++;
      const f = families.get(m[1]);
      assert.ok(f, `${s}: the exporter serves no ${m[1]}`);
      const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      assert.deepEqual(Object.keys(labels).filter((k) => !target.has(k)).sort(), [...f.labels].sort(), s);
      if (labels.scene !== undefined) assert.ok(scenes.has(labels.scene), `${s}: no rule has scene ${labels.scene}`);
      if (labels.severity !== undefined) assert.match(labels.severity, /^(critical|warning|info)$/, s);
      if (labels.reason !== undefined) assert.ok((REJECT_REASONS as readonly string[]).includes(labels.reason), `${s}: no rejection reason ${labels.reason}`);
      if (labels.scene !== undefined && labels.severity !== undefined) {
        const rule = loadDefaults().find((r) => r.rule.scene === labels.scene)?.rule;
        if (rule) assert.equal(labels.severity, rule.severity, `${s}: the embedded rule's severity`);
      }
    }
    assert.ok(n > 50, `${n} exporter series`);
  });

  it("promtool check config accepts the scrape example", () => {
    // Targets are not resolved by the check, so the example host names do no harm offline.
    const r = _promtool("check", "config", "--lint-fatal", "prometheus/prometheus.yml");
    assert.equal(r.status, 0, r.out);
  });

  it("has the operator's alerts, each with severity, summary and description", () => {
    const rules = _alertRules();
    const names = new Set(rules.map((r) => r.alert));
    for (const n of [
      "XctlSceneActive",
      "XctlSceneOccurred",
      "XctlSceneRecurring",
      "XctlDiagnosesRising",
      "XctlProbeDown",
      "XctlProbeCrashLooping",
      "XctlEventsStopped",
      "XctlRejectedEventsRising",
      "XctlExporterDown",
      "XctlExporterNotRunning",
      "XctlRulesReloadFailed",
    ]) {
      assert.ok(names.has(n), `alert ${n} missing`);
    }
    for (const r of rules) {
      assert.ok(r.alert, `recording rule ${r.record} in an alert file`);
      if (r.alert === "XctlSceneActive" || r.alert === "XctlSceneOccurred") {
        // Severity is the rule's, joined from xctl_scene_info; a static label would hide it.
        assert.equal(r.labels?.severity, undefined, `${r.expr}: static severity`);
        assert.match(r.expr, /\* on \(job, instance, scene\) group_left \(severity\)\s+max by \(job, instance, scene, severity\) \(xctl_scene_info or on \(job, instance, scene\) last_over_time\(xctl_scene_info\[5m\]\)\)/);
      } else assert.match(r.labels?.severity ?? "", /^(critical|warning|info)$/, `${r.alert} severity`);
      // A host's alert names the host; the DaemonSet's (kube-state-metrics) names the DaemonSet.
      if (r.expr.includes("kube_daemonset_")) assert.match(r.annotations?.description ?? "", /\$labels\.namespace.*\$labels\.daemonset/s, `${r.alert} description`);
      else assert.match(r.annotations?.summary ?? "", /\$labels\.instance/, `${r.alert} summary`);
      assert.ok(r.annotations?.description, `${r.alert} description`);
    }
    const down = rules.find((r) => r.alert === "XctlExporterDown");
    assert.match(down?.expr ?? "", /\bup\{job="xctl"\}\s*==\s*0/);
    const scene = rules.filter((r) => r.alert === "XctlSceneActive");
    assert.ok(scene.every((r) => /\bscene\b/.test(r.expr)), "scene alerts keep the scene label");
  });

  it("every default scene has its alert with title, root cause and a runbook that exists", () => {
    const scene = _alertRules().filter((r) => r.alert === "XctlSceneActive" || r.alert === "XctlSceneOccurred");
    for (const { rule } of loadDefaults()) {
      const mine = scene.filter((r) => r.expr.includes(`{scene="${rule.scene}"}`));
      assert.equal(mine.length, 1, `alerts for ${rule.scene}`);
      const a = mine[0];
      // A scene that is an event (its process leaves) alerts on activation, every other on its state.
      assert.equal(a.alert, EVENT_SCENES.has(rule.scene) ? "XctlSceneOccurred" : "XctlSceneActive", rule.scene);
      assert.ok(a.annotations?.summary?.startsWith(`${rule.name} on `), `${rule.scene} title`);
      assert.equal(a.annotations?.root_cause, rule.root_cause_pattern.primary, `${rule.scene} root cause`);
      const url = a.annotations?.runbook_url ?? "";
      assert.ok(url.startsWith(`${RUNBOOK_BASE}/`), `${rule.scene} runbook_url ${url}`);
      assert.ok(existsSync(join(DEPLOY, "runbooks", url.slice(RUNBOOK_BASE.length + 1))), `${url} has no file in deploy/runbooks`);
    }
    // And one for every other scene, so a site rule alerts too.
    assert.ok(scene.some((r) => /scene!~"/.test(r.expr) && r.annotations?.runbook_url?.endsWith("/{{ $labels.scene }}.md")));
  });

  it("an event scene's alert and runbook send the reader to `why PID`, which gives an ended process's last answer (test/binary/ended.test.ts), not away from it", () => {
    const occurred = _alertRules().filter((r) => r.alert === "XctlSceneOccurred" && /\{scene="/.test(r.expr));
    assert.ok(occurred.length >= 2);
    for (const a of occurred) {
      const text = a.annotations?.description ?? "";
      assert.doesNotMatch(text, /no longer knows/, text);
      assert.match(text, /`xctl-exporter why PID` on the host gives its last answer/, text);
    }
    for (const scene of EVENT_SCENES) {
      const runbook = _read(`runbooks/${scene}.md`);
      assert.doesNotMatch(runbook, /soon answers 404|knows the pid only until/, scene);
      assert.match(runbook, /`why <pid>` then gives its last answer/, scene);
    }
  });

  it("no alert reads a counter that on-demand runs move (diagnosis runs and their conclusions)", () => {
    for (const r of _alertRules()) assert.doesNotMatch(r.expr, /xctl_diagnoses_(total|by_scene)\b/, r.alert);
    const rising = _alertRules().find((r) => r.alert === "XctlDiagnosesRising");
    assert.match(rising?.expr ?? "", /xctl_scene_activations_total/);
  });

  it("the scrape job is the job the alerts select", () => {
    const cfg = parse(_read("prometheus/prometheus.yml")) as {
      scrape_configs: { job_name: string; metrics_path?: string }[];
    };
    const job = cfg.scrape_configs.find((s) => s.job_name === "xctl");
    assert.ok(job, "scrape job xctl");
    assert.equal(job.metrics_path ?? "/metrics", "/metrics");
  });
});

describe("metric names in dashboard and alerts", () => {
  const alertExprs = _alertRules().map((r) => r.expr);
  const dashExprs = _dashboardExprs();

  it("the extractor sees the expressions", () => {
    assert.ok(alertExprs.length >= 6, `alert expressions: ${alertExprs.length}`);
    assert.ok(dashExprs.length >= 10, `dashboard expressions: ${dashExprs.length}`);
    assert.ok(_isServed("xctl_diagnosis_latency_seconds_bucket"));
    assert.ok(!_isServed("xctl_events_total_count"), "only histograms take suffixes");
    assert.ok(!_isServed("xctl_event_total"));
  });

  it("every metric an expression names is served by the exporter", () => {
    const unknown = new Set<string>();
    for (const e of [...alertExprs, ...dashExprs]) {
      for (const n of _metricNames(e)) if (!_isServed(n)) unknown.add(n);
    }
    assert.deepEqual([...unknown], [], "metrics not in src/metrics/names.ts");
  });

  it("the dashboard covers every seed metric", () => {
    const used = new Set(dashExprs.flatMap(_metricNames).map((n) => n.replace(/_(bucket|sum|count)$/, "")));
    const missing = Object.keys(SEED_METRICS).filter((n) => !used.has(n));
    assert.deepEqual(missing, [], "seed metrics without a dashboard panel");
  });

  it("the dashboard quantiles go through histogram_quantile", () => {
    const q = dashExprs.filter((e) => e.includes("xctl_diagnosis_latency_seconds_bucket"));
    for (const p of ["0.5", "0.9", "0.99"]) {
      assert.ok(
        q.some((e) => e.startsWith(`histogram_quantile(${p},`) && /\bby \(le\)/.test(e)),
        `p${p} latency`,
      );
    }
  });

  it("every dashboard expression is valid PromQL (promtool parses it)", () => {
    // Grafana's variables become what they stand for, then each expression becomes a
    // recording rule that promtool must accept.
    const rules = dashExprs.map((e, i) => {
      const expr = e
        .replaceAll("$__rate_interval", "5m")
        .replaceAll("$instance", ".*")
        .replace(/^label_values\((\w+), *\w+\)$/, "$1");
      assert.ok(!expr.includes("$"), `unexpanded variable in ${e}`);
      return { record: `dashboard:expr_${i}`, expr };
    });
    _withTmp((dir) => {
      const file = join(dir, "dashboard-rules.yml");
      writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
      const r = _promtool("check", "rules", file);
      assert.equal(r.status, 0, r.out);
    });
  });

  it("the dashboard takes its data source and host from variables", () => {
    const d = JSON.parse(_read("grafana/xctl-exporter.json"));
    assert.ok(d.schemaVersion >= 36, "schemaVersion");
    const vars = d.templating.list as { name: string; type: string; query: unknown }[];
    const ds = vars.find((v) => v.name === "datasource");
    assert.equal(ds?.type, "datasource");
    assert.equal(ds?.query, "prometheus");
    assert.ok(vars.some((v) => v.name === "instance" && v.type === "query"));
    const ids = new Set<number>();
    for (const p of d.panels as { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] }[]) {
      assert.ok(!ids.has(p.id), `duplicate panel id ${p.id}`);
      ids.add(p.id);
      if (p.type === "row") continue;
      assert.equal(p.datasource?.uid, "${datasource}", `${p.title} datasource`);
      for (const t of p.targets ?? []) assert.match(t.expr, /instance=~"\$instance"/, p.title);
    }
  });
});

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // deno-lint-ignore no-explicit-any
  spec?: any;
  resources?: string[];
}

function _k8s(file: string): K8sDoc[] {
  const docs = parseAllDocuments(_read(`kubernetes/${file}`));
  assert.ok(Array.isArray(docs), `${file}: not a YAML stream`);
  return docs.map((d) => {
    assert.deepEqual(d.errors, [], `${file}: YAML errors`);
    return d.toJS() as K8sDoc;
  });
}

function _mebibytes(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `memory quantity ${q}`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}

function _matches(selector: Record<string, string>, labels: Record<string, string> | undefined) {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe("kubernetes manifests", () => {
  it("each file parses and holds the expected kinds", () => {
    const expected: Record<string, [string, string]> = {
      "namespace.yaml": ["v1", "Namespace"],
      "daemonset.yaml": ["apps/v1", "DaemonSet"],
      "service.yaml": ["v1", "Service"],
      "servicemonitor.yaml": ["monitoring.coreos.com/v1", "ServiceMonitor"],
      "kustomization.yaml": ["kustomize.config.k8s.io/v1beta1", "Kustomization"],
    };
    const files = readdirSync(join(DEPLOY, "kubernetes")).filter((f) => f.endsWith(".yaml"));
    assert.deepEqual(files.sort(), Object.keys(expected).sort());
    for (const [file, [apiVersion, kind]] of Object.entries(expected)) {
      const docs = _k8s(file);
      assert.equal(docs.length, 1, file);
      assert.equal(docs[0].apiVersion, apiVersion, file);
      assert.equal(docs[0].kind, kind, file);
    }
    const kust = _k8s("kustomization.yaml")[0];
    assert.deepEqual(
      [...(kust.resources ?? [])].sort(),
      files.filter((f) => f !== "kustomization.yaml").sort(),
      "kustomization lists every manifest",
    );
  });

  it("the DaemonSet runs on GPU nodes with host PIDs, limits and health probes", () => {
    const ds = _k8s("daemonset.yaml")[0];
    const pod = ds.spec.template.spec;
    assert.ok(_matches(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels));
    assert.equal(pod.hostPID, true);
    assert.ok(pod.tolerations?.some((t: { key: string }) => t.key === "nvidia.com/gpu"));
    assert.ok(Object.keys(pod.nodeSelector ?? {}).length > 0, "nodeSelector");
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.containers.length, 1);
    const c = pod.containers[0];
    assert.match(c.image, /^registry\.example\//, "placeholder image, no real registry");
    for (const a of ["--collectors=auto", "--path.procfs=/host/proc", "--path.sysfs=/host/sys"]) assert.ok(c.args.includes(a), a);
    assert.ok(c.resources.limits.cpu && c.resources.limits.memory, "limits");
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, "requests");
    // Measured: 57 MiB resident at start with the demo, 68 MiB at its peak in ten minutes.
    assert.ok(_mebibytes(c.resources.requests.memory) >= 96, `request ${c.resources.requests.memory} covers measured use`);
    assert.ok(_mebibytes(c.resources.limits.memory) >= 2 * _mebibytes(c.resources.requests.memory), "limit leaves room to grow");
    assert.equal(pod.priorityClassName, "system-node-critical");
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    const port = c.ports.find((p: { name: string }) => p.name === "metrics");
    assert.equal(port?.containerPort, 9091);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.equal(c.livenessProbe.httpGet.port, "metrics");
    assert.equal(c.readinessProbe.httpGet.port, "metrics");
    const mounts = new Set(c.volumeMounts.map((m: { name: string }) => m.name));
    for (const v of pod.volumes) assert.ok(mounts.has(v.name), `volume ${v.name} mounted`);
  });

  it("the host collectors read the host's /proc and /sys, read-only, and nothing more", () => {
    const pod = _k8s("daemonset.yaml")[0].spec.template.spec;
    const c = pod.containers[0];
    const hostPaths = pod.volumes.filter((v: { hostPath?: unknown }) => v.hostPath);
    assert.deepEqual(
      hostPaths.map((v: { name: string; hostPath: { path: string } }) => [v.name, v.hostPath.path]).sort(),
      [["proc", "/proc"], ["sys", "/sys"]],
    );
    for (const v of hostPaths) {
      const m = c.volumeMounts.find((x: { name: string }) => x.name === v.name);
      assert.equal(m.readOnly, true, `${v.name} read-only`);
      assert.equal(m.mountPath, `/host${v.hostPath.path}`);
    }
    assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] }, "no capability");
    assert.notEqual(c.securityContext.privileged, true);
  });

  it("the image has a kustomize images entry, and the privileged component patches what exists", () => {
    const kust = _k8s("kustomization.yaml")[0] as K8sDoc & { images?: { name: string; newTag?: string }[] };
    const image = _k8s("daemonset.yaml")[0].spec.template.spec.containers[0].image as string;
    const [name, tag] = image.split(/:(?=[^:/]+$)/);
    assert.deepEqual(kust.images?.map((i) => [i.name, i.newTag]), [[name, tag]]);
    const comp = parse(_read("kubernetes/privileged/kustomization.yaml"));
    assert.equal(comp.kind, "Component");
    const ops = parse(comp.patches[0].patch) as { op: string; path: string; value: unknown }[];
    const ds = _k8s("daemonset.yaml")[0];
    for (const o of ops) {
      assert.equal(o.op, "replace");
      const at = o.path.split("/").slice(1).reduce((n: Record<string, unknown> | undefined, k) => n?.[k] as Record<string, unknown> | undefined, ds as unknown as Record<string, unknown>);
      assert.notEqual(at, undefined, `${o.path} exists to replace`);
    }
    const sc = ops.find((o) => o.path.endsWith("/containers/0/securityContext"))?.value as Record<string, unknown>;
    assert.deepEqual(sc, { privileged: true, readOnlyRootFilesystem: true });
  });

  const kubectl = _hasTool("kubectl");
  (kubectl ? it : it.skip)("kubectl kustomize renders the kit, with and without the privileged component", () => {
    const plain = _run("kubectl", ["kustomize", join(DEPLOY, "kubernetes")], "");
    assert.equal(plain.status, 0, plain.out);
    assert.match(plain.out, /image: registry\.example\/xctl-exporter:0\.1\.0/);
    _withTmp((dir) => {
      // A site overlay: the kit as its base, the component on top.
      const rel = (p: string) => relative(dir, join(DEPLOY, p));
      writeFileSync(join(dir, "kustomization.yaml"), `resources:\n  - ${rel("kubernetes")}\ncomponents:\n  - ${rel("kubernetes/privileged")}\n`);
      const r = _run("kubectl", ["kustomize", "--load-restrictor=LoadRestrictionsNone", dir], "");
      assert.equal(r.status, 0, r.out);
      const ds = parseAllDocuments(r.out).map((d) => d.toJS()).find((d) => d.kind === "DaemonSet");
      assert.equal(ds.spec.template.spec.securityContext.runAsUser, 0);
      assert.equal(ds.spec.template.spec.containers[0].securityContext.privileged, true);
    });
  });

  it("the image recipe runs the release binary as the user the pod expects", () => {
    const pod = _k8s("daemonset.yaml")[0].spec.template.spec;
    const cf = _read("container/Containerfile");
    // The binary is a build argument: dist/xctl-exporter-<target> in a checkout (what
    // scripts/build.sh writes), `xctl-exporter` in an unpacked release tarball
    // (test/binary/release.test.ts builds that path from a real tarball).
    assert.match(cf, /^COPY \$\{BINARY\} \/usr\/local\/bin\/xctl-exporter$/m);
    assert.match(cf, /^ARG BINARY=dist\/xctl-exporter-linux-x64$/m);
    assert.match(readFileSync(join(DEPLOY, "../scripts/build.sh"), "utf8"), /out="dist\/xctl-exporter-\$t"/);
    assert.match(cf, /^ENTRYPOINT \["\/usr\/local\/bin\/xctl-exporter"\]$/m);
    const user = /^USER (\d+):(\d+)$/m.exec(cf);
    assert.deepEqual(
      [Number(user?.[1]), Number(user?.[2])],
      [pod.securityContext.runAsUser, pod.securityContext.runAsGroup],
    );
  });

  it("a scene active through a DaemonSet rollout stays one alert (the ServiceMonitor drops the pod's labels, the alert bridges the gap; promtool)", () => {
    // The Prometheus Operator labels each target with namespace, service, pod, container and
    // endpoint, then applies the ServiceMonitor's relabelings. A rollout replaces the node's pod
    // at 10m; the scene is active throughout.
    const sm = _k8s("servicemonitor.yaml")[0];
    const drops = (sm.spec.endpoints[0].relabelings ?? [])
      .filter((r: { action?: string }) => r.action === "labeldrop")
      .map((r: { regex: string }) => new RegExp(`^(?:${r.regex})$`));
    const labels = (pod: string) => {
      const all: Record<string, string> = { job: "xctl", instance: "gpu-node-1", namespace: "xctl", service: "xctl-exporter", pod, container: "xctl-exporter", endpoint: "metrics" };
      return Object.entries(all).filter(([k]) => !drops.some((d: RegExp) => d.test(k)));
    };
    const series = (name: string, pod: string, extra: Record<string, string>) =>
      `${name}{${[...labels(pod), ...Object.entries(extra)].map(([k, v]) => `${k}="${v}"`).join(",")}}`;
    const input = (pod: string, values: string) => [
      { series: series("xctl_scene_active", pod, { scene: "gpu_xid" }), values },
      { series: series("xctl_scene_info", pod, { scene: "gpu_xid", severity: "critical" }), values },
    ];
    // Old pod: 0 to 10m, then stale (its last scrape failed); a minute without a scrape while
    // the pod is replaced; new pod: from 11m15s (its exporter finds the scene again).
    const test = {
      rule_files: [join(DEPLOY, "prometheus/alerts.yml")],
      evaluation_interval: "15s",
      tests: [{
        interval: "15s",
        // Labels that tell the pods apart make two series; without them it is one that goes
        // stale for a scrape while the pod is replaced.
        input_series: series("x", "xctl-exporter-a", {}) === series("x", "xctl-exporter-b", {})
          ? input("xctl-exporter-a", "1x40 stale _x3 1x40")
          : [...input("xctl-exporter-a", "1x40 stale"), ...input("xctl-exporter-b", "_x44 1x40")],
        // One alert firing at 12m (both pods in the window) and at 16m (the old one out of it),
        // active since before the rollout: never resolved and fired again.
        promql_expr_test: ["12m", "16m"].flatMap((t) => [
          { expr: 'count(ALERTS{alertname="XctlSceneActive",alertstate="firing"})', eval_time: t, exp_samples: [{ labels: "{}", value: 1 }] },
          { expr: 'count(ALERTS_FOR_STATE{alertname="XctlSceneActive"} < 600)', eval_time: t, exp_samples: [{ labels: "{}", value: 1 }] },
        ]),
      }],
    };
    _withTmp((dir) => {
      const file = join(dir, "rollout.test.yml");
      writeFileSync(file, JSON.stringify(test));
      const r = _promtool("test", "rules", file);
      assert.equal(r.status, 0, r.out);
    });
  });

  it("the Service selects the pods and the ServiceMonitor scrapes it as job xctl", () => {
    const ds = _k8s("daemonset.yaml")[0];
    const svc = _k8s("service.yaml")[0];
    const sm = _k8s("servicemonitor.yaml")[0];
    const ns = _k8s("namespace.yaml")[0];
    for (const d of [ds, svc, sm]) assert.equal(d.metadata.namespace, ns.metadata.name);
    assert.ok(_matches(svc.spec.selector, ds.spec.template.metadata.labels), "service selector");
    const port = svc.spec.ports.find((p: { name: string }) => p.name === "metrics");
    assert.equal(port?.port, 9091);
    assert.ok(_matches(sm.spec.selector.matchLabels, svc.metadata.labels), "monitor selector");
    assert.equal(sm.spec.endpoints[0].port, "metrics");
    assert.equal(sm.spec.endpoints[0].interval, "15s");
    assert.equal(svc.metadata.labels?.[sm.spec.jobLabel], "xctl", "job label the alerts expect");
  });
});

/** The unit as section -> key -> values (keys may repeat). */
function _unit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = new Map();
      out.set(head[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section && eq > 0, `bad unit line: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** Variables of a systemd environment file: KEY=value, or KEY="value" spanning lines. */
function _envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^[ \t]*([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|(.*))[ \t]*$/gm;
  const body = text.replace(/^[ \t]*[#;].*$/gm, "");
  for (const m of body.matchAll(re)) out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3].trim();
  return out;
}

/** The XCTL_* variable of every serve flag. */
const _FLAG_ENV = new Set(
  Object.entries(SERVE_FLAGS).map(([name, def]) => envName(name, def)).filter((v) => v !== undefined),
);

describe("systemd unit", () => {
  const text = _read("systemd/xctl-exporter.service");
  const unit = _unit(text);
  const svc = unit.get("Service") ?? new Map<string, string[]>();
  const one = (k: string) => svc.get(k)?.at(-1);

  it("has the three sections and starts the installed binary", () => {
    assert.deepEqual([...unit.keys()], ["Unit", "Service", "Install"]);
    assert.match(one("ExecStart") ?? "", /^\/usr\/local\/bin\/xctl-exporter serve\b/);
    assert.equal(one("Restart"), "on-failure");
    assert.deepEqual(svc.get("EnvironmentFile"), ["-/etc/default/xctl-exporter"]);
    assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target");
  });

  it("is hardened", () => {
    const want: Record<string, string> = {
      DynamicUser: "yes",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectControlGroups: "yes",
      RestrictNamespaces: "yes",
      RestrictSUIDSGID: "yes",
      LockPersonality: "yes",
      DevicePolicy: "closed",
      PrivateMounts: "yes",
      IPAddressDeny: "any",
    };
    for (const [k, v] of Object.entries(want)) assert.equal(one(k), v, k);
    assert.match(one("RestrictAddressFamilies") ?? "", /^AF_INET AF_INET6 AF_UNIX$/);
    assert.equal(svc.get("SystemCallFilter")?.[0], "@system-service");
    assert.match(one("MemoryMax") ?? "", /^\d+[KMG]$/);
    // The nvidia-smi probe needs the GPU device nodes: host /dev, cgroup-filtered.
    assert.notEqual(one("PrivateDevices"), "yes");
    assert.ok(svc.get("DeviceAllow")?.some((d) => /^char-nvidia/.test(d)), "nvidia devices allowed");
    // capset alone comes back: setpriv, which starts every probe, re-applies its capabilities
    // (test/binary/systemd-unit.test.ts runs a probe under this filter).
    assert.deepEqual(svc.get("SystemCallFilter"), ["@system-service", "~@privileged @resources", "capset"]);
  });

  it("grants the host collectors what they need and no more", () => {
    // builtin:kmsg: /dev/kmsg read-only, CAP_SYSLOG for kernel.dmesg_restrict=1, and the kernel
    // log not hidden; nothing else.
    assert.equal(one("CapabilityBoundingSet"), "CAP_SYSLOG");
    assert.equal(one("AmbientCapabilities"), "CAP_SYSLOG");
    assert.equal(one("ProtectKernelLogs"), "no");
    assert.ok(svc.get("DeviceAllow")?.includes("/dev/kmsg r"), "/dev/kmsg readable");
    assert.ok(!svc.get("DeviceAllow")?.some((d) => d.startsWith("/dev/kmsg") && d.includes("w")), "/dev/kmsg not writable");
    // procfs, diskstats, infiniband: every pid visible, /proc/stat, /proc/diskstats and /sys whole.
    assert.equal(one("ProtectProc"), "default");
    assert.equal(one("ProcSubset"), "all");
    assert.ok(svc.get("Environment")?.includes("XCTL_COLLECTORS=auto"), "collectors auto");
    // Other users' environ and fd: both capabilities, only through the opt-in drop-in.
    const dropIn = _unit(_read("systemd/process-details.conf")).get("Service");
    assert.deepEqual(dropIn?.get("CapabilityBoundingSet"), ["CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"]);
    assert.deepEqual(dropIn?.get("AmbientCapabilities"), ["CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"]);
    assert.deepEqual([...(dropIn?.keys() ?? [])].sort(), ["AmbientCapabilities", "CapabilityBoundingSet"]);
  });

  it("its defaults and the environment file mean what they say to the exporter's flag parser", () => {
    // systemd applies Environment= first, then the file; the exporter reads XCTL_* for
    // every flag absent from the command line (here: all of them).
    const env: Record<string, string> = {};
    for (const e of svc.get("Environment") ?? []) Object.assign(env, _envFile(e.replace(/^"(.*)"$/, "$1")));
    const file = _envFile(_read("systemd/xctl-exporter.default"));
    for (const k of Object.keys(file)) assert.ok(_FLAG_ENV.has(k), `${k} is no flag's variable`);
    Object.assign(env, file);
    const { values } = parseFlags(SERVE_FLAGS, [], env);
    assert.equal(values.port, "9091");
    assert.equal(values.host, "0.0.0.0");
    // The host collectors (nvidia-smi among them) run by default; no probe is needed for them.
    assert.equal(values.collectors, "auto");
    assert.equal(values.probe, undefined);
    // The multi-line form the file shows, uncommented, gives two probes.
    const example = /^#(XCTL_PROBE="[^"]*)\n#([^"]*")$/m.exec(_read("systemd/xctl-exporter.default"));
    assert.ok(example, "multi-line XCTL_PROBE example");
    const two = parseFlags(SERVE_FLAGS, [], _envFile(`${example[1]}\n${example[2]}\n`)).values.probe;
    assert.deepEqual(two, ["builtin:nvidia-smi", "/opt/xctl/probes/ib-probe --interval 1s"]);
  });

  const analyze = _hasTool("systemd-analyze");
  const itAnalyze = analyze ? it : it.skip;

  itAnalyze("systemd-analyze verifies the unit and its web-config drop-in", () => {
    _withTmp((dir) => {
      // Alone, the unit rates 2.0 or better; 20 is that on the 0..100 scale the option takes.
      writeFileSync(join(dir, "xctl-exporter.service"), text.replaceAll("/usr/local/bin/xctl-exporter", "/bin/true"));
      const alone = _run("systemd-analyze", ["security", "--offline=true", "--threshold=20", join(dir, "xctl-exporter.service")], "", { SYSTEMD_UNIT_PATH: `${dir}:` });
      assert.equal(alone.status, 0, alone.out.split("\n").slice(-3).join("\n"));
      // Exactly what deploy/README.md says, not only as good.
      const said = /security` rates it (\d+\.\d) \("OK"\)/.exec(_read("README.md").replace(/\n\s*/g, " "))?.[1];
      assert.equal(/Overall exposure level for xctl-exporter\.service: (\d+\.\d)/.exec(alone.out)?.[1], said, "deploy/README.md's rating");
    });
    _withTmp((dir) => {
      // verify insists that ExecStart exists; point it at a binary this machine has.
      const unitText = text.replaceAll("/usr/local/bin/xctl-exporter", "/bin/true");
      writeFileSync(join(dir, "xctl-exporter.service"), unitText);
      mkdirSync(join(dir, "xctl-exporter.service.d"));
      writeFileSync(
        join(dir, "xctl-exporter.service.d", "web-config.conf"),
        _read("systemd/web-config.conf"),
      );
      writeFileSync(join(dir, "xctl-exporter.service.d", "process-details.conf"), _read("systemd/process-details.conf"));
      const file = join(dir, "xctl-exporter.service");
      const env = { SYSTEMD_UNIT_PATH: `${dir}:` };
      const r = _run("systemd-analyze", ["verify", file], "", env);
      assert.equal(r.status, 0, r.out);
      // verify exits 0 on unknown keys and bad values, and only says so on stderr.
      const ours = r.stderr.split("\n").filter((l) => l.includes("xctl-exporter") || l.includes("web-config") || l.includes("process-details"));
      assert.deepEqual(ours, [], "systemd-analyze warnings");
      // With both drop-ins (process-details adds two capabilities) it says 2.4, as the drop-in
      // documents: 0 (locked down) .. 100 (wide open), 24 means 2.4 on the printed scale.
      const s = _run("systemd-analyze", ["security", "--offline=true", "--threshold=24", file], "", env);
      assert.equal(s.status, 0, s.out.split("\n").slice(-3).join("\n"));
      const said = /the rating becomes (\d+\.\d)/.exec(_read("README.md").replace(/\n\s*/g, " "))?.[1];
      assert.equal(/Overall exposure level for xctl-exporter\.service: (\d+\.\d)/.exec(s.out)?.[1], said, "deploy/README.md's rating with process-details.conf");
      assert.match(_read("systemd/process-details.conf"), new RegExp(`rates the unit with this drop-in ${said} instead of`));
    });
  });
});

interface DashPanel {
  id: number;
  type: string;
  title: string;
  fieldConfig?: { defaults?: { unit?: string; mappings?: unknown[] }; overrides?: unknown[] };
  targets?: { expr: string }[];
}

describe("grafana dashboard: import, provisioning, what it shows", () => {
  const text = _read("grafana/xctl-exporter.json");
  const d = JSON.parse(text) as {
    __inputs: { name: string; type: string; pluginId: string }[];
    __requires: { type: string; id: string }[];
    id?: unknown;
    uid: string;
    panels: DashPanel[];
    templating: { list: { name: string; current?: { value?: string } }[] };
  };
  const panels = d.panels.filter((p) => p.type !== "row");

  it("imports through Grafana's Import dialog: a Prometheus input, every plugin it needs required", () => {
    assert.equal(d.__inputs.length, 1);
    assert.deepEqual([d.__inputs[0].type, d.__inputs[0].pluginId], ["datasource", "prometheus"]);
    // Every ${DS_...} placeholder is a declared input, and the input is used.
    const used = new Set([...text.matchAll(/\$\{(DS_[A-Z0-9_]+)\}/g)].map((m) => m[1]));
    assert.deepEqual([...used], [d.__inputs[0].name]);
    assert.equal(d.templating.list.find((v) => v.name === "datasource")?.current?.value, `\${${d.__inputs[0].name}}`);
    const req = new Set(d.__requires.map((r) => `${r.type}:${r.id}`));
    assert.ok(req.has("grafana:grafana") && req.has("datasource:prometheus"));
    for (const type of new Set(panels.map((p) => p.type))) assert.ok(req.has(`panel:${type}`), `__requires lacks panel ${type}`);
  });

  it("provisions from a file: a fixed uid, no database id", () => {
    assert.equal(d.uid, "xctl-exporter");
    assert.ok(d.id === undefined || d.id === null);
  });

  it("shows every scene's state over time and activations by scene", () => {
    const state = panels.find((p) => p.type === "state-timeline" && p.targets?.some((t) => /xctl_scene_active\{/.test(t.expr)));
    assert.ok(state, "a state timeline of xctl_scene_active");
    // Every loaded scene, active or clear: no filter that hides the clear ones.
    for (const t of state.targets ?? []) assert.doesNotMatch(t.expr, /[><]=?\s*0\s*$|==\s*1\s*$/, t.expr);
    assert.ok(
      panels.some((p) => p.targets?.some((t) => /increase\(xctl_scene_activations_total\{[^}]*\}\[\$__rate_interval\]\)/.test(t.expr) && /by \(scene\)/.test(t.expr))),
      "activations by scene",
    );
  });

  it("keeps one unit per axis: seconds never share a panel with counts", () => {
    const seconds = (e: string) => /_seconds\b|_seconds_(bucket|sum|count)\b|\btime\(\)/.test(e);
    for (const p of panels) {
      const exprs = (p.targets ?? []).map((t) => t.expr);
      if (exprs.length === 0) continue;
      const kinds = new Set(exprs.map(seconds));
      assert.equal(kinds.size, 1, `${p.title} mixes seconds and counts`);
      assert.deepEqual(p.fieldConfig?.overrides ?? [], [], `${p.title}: per-series overrides hide a second unit`);
      if (kinds.has(true)) assert.equal(p.fieldConfig?.defaults?.unit, "s", `${p.title} unit`);
    }
  });

  it("shows no silence for a probe that never sent an event (promtool evaluates the panel's query)", () => {
    const silence = panels.flatMap((p) => p.targets ?? []).map((t) => t.expr).filter((e) => e.includes("xctl_probe_last_event_timestamp_seconds"));
    assert.ok(silence.length > 0, "a panel on the probes' last event");
    for (const e of silence) assert.match(e, /xctl_probe_last_event_timestamp_seconds\{[^}]*\}\s*>\s*0/, e);
    const expr = silence[0].replaceAll('instance=~"$instance"', 'instance=~".*"');
    // At 10m: "quiet" last sent at 8m (silent 120 s); "never" has sent nothing (its timestamp is 0).
    const test = {
      rule_files: [],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            { series: 'xctl_probe_last_event_timestamp_seconds{instance="h:9091",probe="quiet"}', values: "0+60x8 480x4" },
            { series: 'xctl_probe_last_event_timestamp_seconds{instance="h:9091",probe="never"}', values: "0x12" },
          ],
          promql_expr_test: [{ expr, eval_time: "10m", exp_samples: [{ labels: '{instance="h:9091",probe="quiet"}', value: 120 }] }],
        },
      ],
    };
    _withTmp((dir) => {
      const file = join(dir, "silence.test.yml");
      writeFileSync(file, JSON.stringify(test));
      const r = _promtool("test", "rules", file);
      assert.equal(r.status, 0, r.out);
    });
  });

  it("names only metric families the exporter really serves (its exposition, rendered)", async () => {
    const ex = new Exporter({ log: createLogger("silent"), liveClock: false, processMetrics: false, ruleSource: { defaults: true } });
    const page = await ex.metrics.render();
    await ex.stop();
    const families = new Map([...page.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    const served = (n: string) => families.has(n) || (/_(bucket|sum|count)$/.test(n) && families.get(n.replace(/_(bucket|sum|count)$/, "")) === "histogram");
    const exprs = [...panels.flatMap((p) => p.targets ?? []).map((t) => t.expr), ..._alertRules().map((r) => r.expr)];
    const missing = new Set(exprs.flatMap(_metricNames).filter((n) => !served(n)));
    assert.deepEqual([...missing], [], "not in the exposition");
  });
});

const LOCAL = { remoteAddress: "127.0.0.1" };

describe("what the scene alerts read", () => {
  it("does not move when runs are asked for on demand (POST /api/v1/diagnoses, why)", async () => {
    const ex = new Exporter({ log: createLogger("silent"), liveClock: false, processMetrics: false });
    await replayFile(ex, join(CORPUS_DIR, "08-xid79-fallen-off-bus.ndjson"));
    const app = createApp(ex);
    const read = async () => parseExposition(await ex.metrics.render());
    const pick = (m: Map<string, number>, re: RegExp) => [...m].filter(([k]) => re.test(k)).sort();
    const before = await read();
    // What the alerts and the dashboard's scene panels read.
    const alertInputs = /^xctl_(scene_(active|activations_total|info)\{|diagnoses_total$|diagnoses_by_scene\{)/;
    assert.ok(pick(before, /^xctl_scene_activations_total\{/).length > 0, "xctl_scene_activations_total is served");
    for (let i = 0; i < 10; i++) {
      // From loopback, as `xctl-exporter why` on the host asks (POST is guarded like pushes).
      assert.equal((await app.request("/api/v1/diagnoses", { method: "POST" }, LOCAL)).status, 200);
      assert.equal((await app.request("/api/v1/diagnoses?pid=83310", { method: "POST" }, LOCAL)).status, 200);
      assert.equal((await app.request("/api/v1/why/83002", {}, LOCAL)).status, 200);
    }
    const after = await read();
    await ex.stop();
    assert.equal(after.get("xctl_diagnoses_on_demand_total"), (before.get("xctl_diagnoses_on_demand_total") ?? 0) + 20, "the runs happened");
    assert.deepEqual(pick(after, alertInputs), pick(before, alertInputs));
  });
});
