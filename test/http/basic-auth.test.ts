import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import bcrypt from "bcryptjs";
import { Hono } from "hono";
import { basicAuth, securityHeaders } from "../../src/http/basic-auth.ts";

const USERS = new Map([
  ["alice", bcrypt.hashSync("wonderland", 4)],
  // htpasswd writes $2y$; the same algorithm.
  ["bob", bcrypt.hashSync("pass:with:colons", 4).replace(/^\$2b\$/, "$2y$")],
]);
const HEADERS = { "X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=31536000" };

function makeApp(users = USERS) {
  let served = 0;
  const app = new Hono();
  app.use(securityHeaders(HEADERS));
  app.use(basicAuth(users, { excludedPaths: ["/healthz"] }));
  app.get("/metrics", (c) => {
    served++;
    return c.text("metrics\n");
  });
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/boom", () => {
    throw new Error("boom");
  });
  app.onError((_e, c) => c.json({ error: "internal" }, 500));
  return { app, served: () => served };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const get = async (app: Hono, path: string, authorization?: string): Promise<Response> =>
  await app.fetch(new Request(`http://127.0.0.1${path}`, { headers: authorization ? { authorization } : {} }));

async function assertUnauthorized(res: Response): Promise<void> {
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Basic realm="xctl-exporter"');
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(await res.text(), '{"error":"unauthorized"}');
}

describe("basicAuth", () => {
  it("serves the right user and password", async () => {
    const { app, served } = makeApp();
    const res = await get(app, "/metrics", basic("alice", "wonderland"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "metrics\n");
    assert.equal(served(), 1);
  });

  it("splits user from password at the first colon, and accepts $2y$ hashes", async () => {
    const { app } = makeApp();
    assert.equal((await get(app, "/metrics", basic("bob", "pass:with:colons"))).status, 200);
  });

  it("answers 401 and nothing else for a wrong password, a missing header, an unknown user", async () => {
    const { app, served } = makeApp();
    await assertUnauthorized(await get(app, "/metrics", basic("alice", "wrong")));
    await assertUnauthorized(await get(app, "/metrics"));
    await assertUnauthorized(await get(app, "/metrics", basic("mallory", "wonderland")));
    await assertUnauthorized(await get(app, "/metrics", basic("", "")));
    assert.equal(served(), 0, "the handler never ran");
  });

  it("answers 401 for malformed Authorization headers", async () => {
    const { app } = makeApp();
    for (const h of ["Bearer abc", "Basic", "Basic !!!", `Basic ${Buffer.from("alice").toString("base64")}`, `Digest ${basic("alice", "wonderland").slice(6)}`]) {
      await assertUnauthorized(await get(app, "/metrics", h));
    }
  });

  it("accepts the scheme in any case", async () => {
    const { app } = makeApp();
    assert.equal((await get(app, "/metrics", basic("alice", "wonderland").replace("Basic", "basic"))).status, 200);
  });

  it("still refuses a wrong password after the right one was cached", async () => {
    const { app } = makeApp();
    for (let i = 0; i < 3; i++) assert.equal((await get(app, "/metrics", basic("alice", "wonderland"))).status, 200);
    await assertUnauthorized(await get(app, "/metrics", basic("alice", "wonderland ")));
    await assertUnauthorized(await get(app, "/metrics", basic("bob", "wonderland")));
    assert.equal((await get(app, "/metrics", basic("alice", "wonderland"))).status, 200);
  });

  it("answers concurrent good and bad logins correctly", async () => {
    const { app } = makeApp();
    const kinds: Array<[string, string, number]> = [["alice", "wonderland", 200], ["alice", "nope", 401], ["eve", "x", 401]];
    const tries = Array.from({ length: 12 }, (_, i) => kinds[i % 3]);
    const statuses = await Promise.all(tries.map(([u, p]) => get(app, "/metrics", basic(u, p)).then((r) => r.status)));
    assert.deepEqual(statuses, tries.map(([, , s]) => s));
  });

  it("lets excluded paths through without credentials, and only those", async () => {
    const { app } = makeApp();
    assert.equal((await get(app, "/healthz")).status, 200);
    await assertUnauthorized(await get(app, "/healthz/"));
  });

  it("is off when no users are configured", async () => {
    const { app } = makeApp(new Map());
    assert.equal((await get(app, "/metrics")).status, 200);
  });
});

describe("securityHeaders", () => {
  it("sets the configured headers on success, 401, 404 and error responses", async () => {
    const { app } = makeApp();
    const responses = [
      await get(app, "/metrics", basic("alice", "wonderland")),
      await get(app, "/metrics"),
      await get(app, "/nowhere", basic("alice", "wonderland")),
      await get(app, "/boom", basic("alice", "wonderland")),
    ];
    assert.deepEqual(responses.map((r) => r.status), [200, 401, 404, 500]);
    for (const res of responses) {
      assert.equal(res.headers.get("x-frame-options"), "deny");
      assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000");
    }
  });

  it("sets headers on a response whose headers are immutable", async () => {
    const app = new Hono();
    app.use(securityHeaders({ "X-Content-Type-Options": "nosniff" }));
    app.get("/", () => Response.redirect("http://127.0.0.1/elsewhere", 302));
    const res = await app.fetch(new Request("http://127.0.0.1/"));
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  });
});
