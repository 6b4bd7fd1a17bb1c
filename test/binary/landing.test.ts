// The landing page as a browser shows it: the compiled binary with a scene active, opened in a
// real headless Chromium (Debian's `chromium`, installed by .ci/run). The page must say what
// is wrong without JavaScript, and text from events must stay text.
// Runs only with XCTL_BINARY set (scripts/test.sh builds the binary and sets it).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startExporter, type RunningExporter } from "../_helpers.ts";
import { CHROMIUM, headlessEnv, headlessFlags, visit } from "../_cdp.ts";

const BINARY = process.env.XCTL_BINARY;
const T0 = Date.now() - 5_000;
const SLOW = { timeout: 90_000 };

function line(event_type: string, entity_id: string, value: string, pid: number | null = null, job_id: string | null = null, ts = T0): string {
  return JSON.stringify({ ts, event_type, entity_id, job_id, pid, value });
}

/** Chromium headless, isolated and quiet, on `url`; resolves with stdout. */
function chromium(profile: string, url: string, extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = [...headlessFlags(profile), ...extra, url];
  return new Promise((resolve) => {
    const child = spawn(CHROMIUM!, args, { stdio: ["ignore", "pipe", "pipe"], env: headlessEnv(profile) });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err });
    });
  });
}

const skip = !BINARY ? "XCTL_BINARY not set (scripts/test.sh sets it)" : !CHROMIUM ? "chromium not installed (.ci/run installs it)" : false;

// Every Chromium run of this file sees HOME set to an empty directory (and no XDG directories);
// the last test checks that it is still empty. The environment is put back after the file.
let HOME = "";
const SAVED = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
before(() => {
  HOME = mkdtempSync(join(tmpdir(), "xctl-home-"));
  process.env.HOME = HOME;
  delete process.env.XDG_CONFIG_HOME;
  delete process.env.XDG_CACHE_HOME;
});
after(() => {
  for (const [k, v] of Object.entries(SAVED)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (HOME) rmSync(HOME, { recursive: true, force: true });
});

describe("the landing page in headless Chromium", { skip }, () => {
  let ex: RunningExporter;
  const profile = mkdtempSync(join(tmpdir(), "xctl-chromium-"));
  before(async () => {
    ex = await startExporter(["--probe", "builtin:demo?rate=1&seed=7"]);
    const body = [
      line("process.state", "host", "start", 5, "job-<b>train</b>"),
      line("compute.mem", "gpu-0", "98", 5, "job-<b>train</b>", T0 + 1),
      line("error.hw", "gpu-0", "OOM", null, null, T0 + 2),
    ].join("\n");
    const push = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body });
    assert.equal(((await push.json()) as { accepted: number }).accepted, 3);
    // The automatic run after the debounce makes the scene active (an on-demand run moves none).
    await eventually(
      async () => ((await (await fetch(`${ex.url}/api/v1/status`)).json()) as { scenes: { scene: string }[] }).scenes.some((x) => x.scene === "gpu_oom"),
      10_000,
      "gpu_oom active",
    );
  }, SLOW);
  after(async () => {
    await ex?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  it("shows the active scene with its root cause and job, the sources, counts, rules and version, no script needed", SLOW, async () => {
    const r = await chromium(profile, `${ex.url}/`, ["--dump-dom"]);
    assert.equal(r.code, 0, r.stderr);
    const dom = r.stdout;
    assert.match(dom, /<h2 id="now">What is wrong now<\/h2>/);
    assert.ok(!/<script/i.test(dom), "server-rendered: the page carries no script");
    assert.match(dom, /<strong class="bad">gpu_oom<\/strong>/);
    assert.match(dom, /Root cause: [^<]*OOM on gpu-0/);
    // The job id is text: its tags arrive escaped and no <b> element exists.
    assert.ok(dom.includes("job-&lt;b&gt;train&lt;/b&gt;"), dom);
    assert.ok(!/<b>train<\/b>/.test(dom));
    assert.match(dom, /<td><code>demo<\/code><\/td><td class="ok">up<\/td>/);
    assert.match(dom, /\d+ processes \(\d+ running\)/);
    assert.match(dom, /\d+ diagnosis runs? over 19 rules/);
    assert.match(dom, /Version \d+\.\d+\.\d+/);
    // Its events: a stream filtered to the scene's evidence and the scene records.
    assert.match(dom, /href="api\/v1\/events\/stream\?type=[^"]*error\.hw[^"]*scene"/);
  });

  it("renders to a picture (for a person to look at)", SLOW, async () => {
    const png = join(profile, "landing.png");
    const r = await chromium(profile, `${ex.url}/`, [`--screenshot=${png}`, "--window-size=1100,1300", "--hide-scrollbars"]);
    assert.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(bytes.length > 10_000, `a real picture, not a blank: ${bytes.length} bytes`);
    if (process.env.XCTL_KEEP_SCREENSHOT) spawnSync("cp", [png, process.env.XCTL_KEEP_SCREENSHOT]);
  });
});

// bcrypt of "right" at cost 10 (bcryptjs), as in edge.test.ts.
const HASH = "$2b$10$trF/U/pOYREWk1LSOZ9Gf.3xksaQq8zkxN1pUHrZiYmjLpIQNStxK";

describe("the landing page as a person sees it (Chromium over the DevTools protocol)", { skip }, () => {
  let ex: RunningExporter;
  const dir = mkdtempSync(join(tmpdir(), "xctl-landing-"));
  // Hostile ids pushed through the API: each would run a script or change the page if it
  // reached the HTML unescaped.
  const job = `<script>document.title="pwned-job"</script>`;
  const gpu = `gpu-<img src=x onerror="alert('pwned-gpu')">`;
  const cause = `OOM</code><script>alert("pwned-value")</script>`;
  before(async () => {
    // A strict Content-Security-Policy, one of the headers the web-config file may set.
    writeFileSync(join(dir, "web.yml"), `basic_auth_users:\n  prometheus: ${HASH}\nhttp_server_config:\n  headers:\n    Content-Security-Policy: "default-src 'self'"\n`);
    ex = await startExporter(["--web-config", join(dir, "web.yml")], { waitHealthy: false });
    const auth = { Authorization: `Basic ${Buffer.from("prometheus:right").toString("base64")}` };
    await eventually(async () => (await fetch(`${ex.url}/healthz`, { headers: auth })).status === 200, 20_000, "exporter up");
    const body = [
      line("process.state", "host", "start", 9, job),
      line("compute.mem", gpu, "99", 9, job, T0 + 1),
      line("error.hw", gpu, cause, null, null, T0 + 2),
    ].join("\n");
    const push = await fetch(`${ex.url}/api/v1/events`, { method: "POST", body, headers: auth });
    assert.equal(((await push.json()) as { accepted: number }).accepted, 3);
    await eventually(
      async () => ((await (await fetch(`${ex.url}/api/v1/status`, { headers: auth })).json()) as { scenes: { scene: string }[] }).scenes.some((x) => x.scene === "gpu_oom"),
      10_000,
      "gpu_oom active",
    );
  }, SLOW);
  after(async () => {
    await ex?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("renders styled behind basic auth and a strict CSP, with nothing in the console (no failed favicon request), running nothing it was sent", SLOW, async () => {
    const seen = await visit(`${ex.url}/`, {
      headers: { Authorization: `Basic ${Buffer.from("prometheus:right").toString("base64")}` },
      expressions: [
        "document.title",
        "document.scripts.length + document.images.length",
        "document.querySelector('.scene')?.innerText ?? ''",
        "getComputedStyle(document.body).fontFamily",
      ],
    });
    assert.deepEqual(seen.console, [], "the DevTools console stays empty");
    assert.deepEqual(seen.dialogs, [], "no script sent as an id ran");
    assert.ok(seen.responses.every((r) => r.startsWith("200 ")), seen.responses.join("\n"));
    const [title, elements, scene, font] = seen.values as [string, number, string, string];
    assert.match(font, /system-ui/, "the stylesheet applies under the CSP");
    assert.ok(seen.responses.includes(`200 ${ex.url}/landing.css`), seen.responses.join("\n"));
    assert.equal(title, "xctl-exporter (1 active)");
    assert.equal(elements, 0, "no script or image element came from the pushed ids");
    // The ids are shown as the text they are.
    assert.ok(scene.includes(job) && scene.includes(gpu) && scene.includes(cause), scene);
  });

  it("without credentials the browser gets the 401 and nothing of the page", SLOW, async () => {
    const seen = await visit(`${ex.url}/`, { expressions: ["document.documentElement.outerHTML"] });
    assert.deepEqual(seen.responses.filter((r) => r.endsWith("/")), [`401 ${ex.url}/`]);
    assert.doesNotMatch(String(seen.values[0]), /What is wrong now|gpu_oom/);
  });
});

describe("Chromium in these tests, and the home directory", { skip }, () => {
  it("was left nothing in HOME by the runs above: its crash database, dconf and caches stay in the profiles removed", () => {
    assert.deepEqual(readdirSync(HOME), [], `left in HOME (${HOME})`);
  });
});
