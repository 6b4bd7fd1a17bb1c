// deploy/kubernetes/daemonset.yaml's container, run as the kubelet would run it from the image
// (deploy/container/Containerfile's ENTRYPOINT with the manifest's args and env), as the
// manifest's user with no capability and no_new_privs: every flag is one the binary takes, the
// host's /proc and /sys (mounted at /host/...) feed the collectors, the liveness and readiness
// paths answer 200, and the ServiceMonitor's path serves the exposition. With the privileged
// component (root, every capability) the kernel log is read too. Values the test machine
// decides are substituted, never flag names: the port (a free one), the listen address
// (loopback), and where /host/proc, /host/sys and the rules volume are.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { ROOT, freePort, waitFor } from "../_helpers.ts";

const BINARY = process.env.XCTL_BINARY;
const SKIP = !BINARY
  ? "XCTL_BINARY not set (scripts/test.sh sets it)"
  : process.getuid?.() !== 0 || spawnSync("setpriv", ["--version"]).error
    ? "needs root and setpriv to take the pod's user"
    : false;

// deno-lint-ignore no-explicit-any
const _yaml = (rel: string): any => parse(readFileSync(join(ROOT, "deploy", rel), "utf8"));

describe("the DaemonSet's container", { skip: SKIP }, () => {
  const ds = _yaml("kubernetes/daemonset.yaml");
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  const sm = _yaml("kubernetes/servicemonitor.yaml");
  const cf = readFileSync(join(ROOT, "deploy/container/Containerfile"), "utf8");
  const root = SKIP ? "" : mkdtempSync(join(tmpdir(), "xctl-k8s-"));
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The container's command line and environment, with this machine's paths and port. */
  async function container(): Promise<{ argv: string[]; env: Record<string, string>; port: number }> {
    const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(cf)![1]) as string[];
    assert.deepEqual(entry, ["/usr/local/bin/xctl-exporter"]);
    // Volumes: the hostPath ones are the host's trees (here, this machine's), the rest empty.
    const mounts = new Map<string, string>();
    const base = mkdtempSync(join(root, "pod-"));
    chmodSync(base, 0o755);
    for (const m of c.volumeMounts as { name: string; mountPath: string }[]) {
      const v = (pod.volumes as { name: string; hostPath?: { path: string } }[]).find((x) => x.name === m.name)!;
      const at = join(base, m.name);
      if (v.hostPath) symlinkSync(v.hostPath.path, at);
      else mkdirSync(at, { recursive: true });
      mounts.set(m.mountPath, at);
    }
    chmodSync(root, 0o755);
    const port = await freePort();
    const named = (v: string) => c.ports.find((p: { name: string }) => p.name === v)?.containerPort;
    const args = (c.args as string[]).map((a) => {
      const m = /^(--[\w.-]+)=(.*)$/.exec(a);
      if (!m) return a;
      const [, flag, value] = m;
      if (flag === "--port") {
        assert.equal(Number(value), named("metrics"), "--port is the metrics port");
        return `${flag}=${port}`;
      }
      if (flag === "--host") return `${flag}=127.0.0.1`;
      for (const [path, at] of mounts) if (value === path || value.startsWith(`${path}/`)) return `${flag}=${at}${value.slice(path.length)}`;
      return a;
    });
    const env: Record<string, string> = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
    // Plain values; a secretKeyRef marked optional is absent when its Secret is.
    for (const e of c.env as { name: string; value?: string; valueFrom?: { secretKeyRef?: { optional?: boolean } } }[]) {
      if (e.value !== undefined) env[e.name] = e.value;
      else assert.equal(e.valueFrom?.secretKeyRef?.optional, true, `${e.name} needs a Secret`);
    }
    return { argv: [BINARY!, ...args], env, port };
  }

  async function run(prefix: string[]): Promise<string> {
    const { argv, env, port } = await container();
    const cmd = [...prefix, ...argv];
    const child = spawn(cmd[0], cmd.slice(1), { cwd: "/", env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const at = (path: string) => `http://127.0.0.1:${port}${path}`;
      await waitFor(at(c.livenessProbe.httpGet.path), exited).catch((e) => assert.fail(`${e.message}\n${err}`));
      assert.equal(c.readinessProbe.httpGet.port, "metrics");
      await waitFor(at(c.readinessProbe.httpGet.path), exited, 10_000).catch((e) => assert.fail(`${e.message}\n${err}`));
      const metrics = await fetch(at(sm.spec.endpoints[0].path));
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^xctl_probe_up\{probe="procfs"\} 1$/m);
    } finally {
      // process.kill, not child.kill: Deno reports a child it signalled itself as killed (code null).
      process.kill(child.pid!, "SIGTERM");
    }
    assert.equal(await exited, 0, err);
    assert.doesNotMatch(err, /\b(warn|error)\b.*(unknown|did you mean|XCTL_)/i, err);
    return err;
  }

  it("starts with the manifest's args and env as user 65534 with no capability, the host's /proc and /sys read", async () => {
    const sc = pod.securityContext;
    assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] });
    const err = await run([
      "setpriv", `--reuid=${sc.runAsUser}`, `--regid=${sc.runAsGroup}`, "--clear-groups",
      "--inh-caps=-all", "--bounding-set=-all", ...(c.securityContext.allowPrivilegeEscalation === false ? ["--no-new-privs"] : []),
    ]);
    // JSON logs (--log-format=json); the collectors line names what runs and what is skipped.
    const line = err.split("\n").map((l) => (l.startsWith("{") ? JSON.parse(l) : {})).find((o) => /^collectors: /.test(o.msg ?? ""));
    assert.ok(line, err);
    assert.match(line.msg, /running [^;]*\bprocfs\b/);
    assert.doesNotMatch(line.msg, /running [^;]*\bkmsg\b/, "no kernel log unprivileged (as deploy/README.md says)");
  });

  it("with basic auth on, the probes' paths answer the kubelet (no credentials) when the web-config excludes them as deploy/README.md says", async () => {
    const readme = readFileSync(join(ROOT, "deploy/README.md"), "utf8");
    const excluded = /`(auth_excluded_paths: \[[^\]]*\])`/.exec(readme)?.[1];
    assert.ok(excluded, "deploy/README.md names auth_excluded_paths for the kubelet's probes");
    const { argv, env, port } = await container();
    const wc = join(root, "web-config.yml");
    // bcrypt of "secret" (cost 4).
    writeFileSync(wc, `basic_auth_users:\n  prometheus: "$2b$04$vXtY4ZtwFcOw/nDDm89vL.pQJGNteruddK2oQwp2uklLuSsVYDaBW"\n${excluded}\n`);
    const child = spawn(argv[0], [...argv.slice(1), `--web-config=${wc}`], { cwd: "/", env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const at = (path: string) => `http://127.0.0.1:${port}${path}`;
      await waitFor(at(c.livenessProbe.httpGet.path), exited).catch((e) => assert.fail(`${e.message}\n${err}`));
      await waitFor(at(c.readinessProbe.httpGet.path), exited, 10_000).catch((e) => assert.fail(`${e.message}\n${err}`));
      const anon = await fetch(at(sm.spec.endpoints[0].path));
      await anon.arrayBuffer();
      assert.equal(anon.status, 401, "the exposition still asks for credentials");
      const auth = await fetch(at(sm.spec.endpoints[0].path), { headers: { authorization: `Basic ${btoa("prometheus:secret")}` } });
      await auth.arrayBuffer();
      assert.equal(auth.status, 200);
    } finally {
      // process.kill, not child.kill: Deno reports a child it signalled itself as killed (code null).
      process.kill(child.pid!, "SIGTERM");
    }
    assert.equal(await exited, 0, err);
  });

  it("with the privileged component (root, every capability) reads the kernel log too", { skip: spawnSync("sh", ["-c", "exec 3</dev/kmsg"]).status !== 0 ? "no readable /dev/kmsg here" : false }, async () => {
    const err = await run([]);
    assert.match(err, /"msg":"collectors: running [^;"]*\bkmsg\b/, err);
  });
});
