/**
 * The admin API over real sockets: its own listener and token, the running configuration
 * with every secret redacted (no secret value anywhere in any answer), routes with origin
 * health, reload through the SIGHUP path with errors as JSON (`file:line`), and ClearKey
 * key management with TTLs (keys of the configuration outlive `default_ttl_secs`).
 */
import assert from "node:assert/strict";
import { deadline, freePort, type SproxProcess, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";
import { b64url } from "./_support/encoding.ts";

const ADMIN_TOKEN = "Admin-Token-Strong-ABCdef123456";
const BEARER = "Env-Bearer-Token-1234abcdWXYZ";
const DIRECT_PASSWORD = "File-Direct-Password-5678Qq";
const SOCKS_PASSWORD = "Socks-Password-abcdef-XYZ";
const PROXY_PASSWORD = "ProxyUrlSecret99xyzABC";
const SIGNING_SECRET = "c2lnbmluZy1zZWNyZXQtb2YtMzItYnl0ZXMtYXQtbGVhc3Qh";
const AES_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const KID_FILE = "00112233445566778899aabbccddeeff";
const KEY_FILE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const KID_ENV = "ffeeddccbbaa99887766554433221100";
const KEY_ENV = "1234567890abcdef1234567890abcdef";
const KID_RUN = "aabbccddeeff00112233445566778899";
const KEY_RUN = "cafebabecafebabecafebabecafebabe";
const KID_RUN2 = "99887766554433221100ffeeddccbbaa";
const KEY_RUN2 = "deadbeefdeadbeefdeadbeefdeadbeef";

/** Every secret of the configuration and the environment, in every notation it may take. */
const SECRETS = [
  ADMIN_TOKEN,
  BEARER,
  DIRECT_PASSWORD,
  SOCKS_PASSWORD,
  PROXY_PASSWORD,
  SIGNING_SECRET,
  AES_KEY,
  AES_KEY.toUpperCase(),
  ...[KEY_FILE, KEY_ENV, KEY_RUN, KEY_RUN2].flatMap((k) => [k, k.toUpperCase(), b64url(k)]),
];

const ENV = {
  SPROX_ADMIN_TOKEN: ADMIN_TOKEN,
  SPROX_API_PASSWORD: BEARER,
  SPROX_CLEARKEY_KEYS: `${KID_ENV}:${KEY_ENV}`,
  SIGNING_SECRET,
  AES_KEY,
};

function config(port: number, adminPort: number, origin: string, extra = ""): string {
  return `
rate_limit: { enabled: false }
secrets:
  default_ttl_secs: 1
  clearkey:
    - { kid: "${KID_FILE}", key: "${KEY_FILE}" }
direct_stream:
  api_password: "${DIRECT_PASSWORD}"
  proxy_url: "http://user:${PROXY_PASSWORD}@127.0.0.1:3128"
  allowlist: [{ domain: "media.example" }]
admin:
  enabled: true
  listen: { host: 127.0.0.1, port: ${adminPort} }
routes:
  - id: tv
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origins:
        - { url: "${origin}", priority: 0, weight: 3 }
  - id: tunnel
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["tunnel.example"]
    upstream:
      origin: "http://tunnelled.example"
      socks5: { enabled: true, address: "127.0.0.1:1080", username: "u", password: "${SOCKS_PASSWORD}" }
${extra}`;
}

/** Admin requests, each answer's text kept for the secret check. */
class Admin {
  readonly seen: string[] = [];
  constructor(public port: number) {}

  async call(
    method: string,
    path: string,
    options: { token?: string | null; body?: string } = {},
    // deno-lint-ignore no-explicit-any
  ): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
    const token = options.token === undefined ? ADMIN_TOKEN : options.token;
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      body: options.body,
      signal: deadline(),
    });
    const text = await response.text();
    this.seen.push(text);
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: () => JSON.parse(text),
    };
  }
}

function assertNoSecrets(texts: readonly string[]): void {
  for (const text of texts) {
    for (const secret of SECRETS) {
      assert.ok(
        !text.includes(secret),
        `a secret leaked into an admin answer: ${text.slice(0, 300)}`,
      );
    }
  }
}

/** What each admin test runs against. */
interface AdminSetup {
  readonly origin: Awaited<ReturnType<typeof startOrigin>>;
  readonly port: number;
  readonly adminPort: number;
  readonly sprox: SproxProcess;
  readonly admin: Admin;
}

/** Starts an origin and sProx with the admin API, runs `test`, and stops both whatever happens. */
async function withAdmin(test: (setup: AdminSetup) => Promise<void>): Promise<void> {
  const origin = await startOrigin(() => new Response("origin"));
  try {
    const port = freePort();
    const adminPort = freePort();
    const sprox = await startSprox(config(port, adminPort, origin.url), { env: ENV });
    try {
      await test({ origin, port, adminPort, sprox, admin: new Admin(adminPort) });
    } finally {
      await sprox.stop();
    }
  } finally {
    await origin.close();
  }
}

Deno.test("admin API: its own listener and token, secrets redacted everywhere, routes with health", async () => {
  await withAdmin(async ({ origin, port, adminPort, sprox, admin }) => {
    const listening = await sprox.waitForLog((l) => l.msg === "admin API listening");
    assert.equal(listening.listener, `127.0.0.1:${adminPort}`);

    // Authentication: none, another scheme, a wrong token.
    const none = await admin.call("GET", "/admin/config", { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="sprox-admin"');
    assert.equal(none.json().error, "unauthorized");
    const basic = await fetch(`http://127.0.0.1:${adminPort}/admin/config`, {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
      signal: deadline(),
    });
    assert.equal(basic.status, 401);
    await basic.body?.cancel();
    const wrong = await admin.call("GET", "/admin/config", { token: `${ADMIN_TOKEN}x` });
    assert.equal(wrong.status, 403);
    assert.deepEqual(wrong.json(), { error: "forbidden", message: "wrong admin token" });
    const routesWithoutToken = await admin.call("GET", "/admin/routes", { token: "nope" });
    assert.equal(routesWithoutToken.status, 403);

    // Not the public app: the public listener forwards /admin/* to the origin, and the
    // admin listener has no public endpoint.
    const publicSide = await fetch(`http://127.0.0.1:${port}/admin/config`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: deadline(),
    });
    assert.equal(await publicSide.text(), "origin");
    const health = await admin.call("GET", "/health");
    assert.equal(health.status, 404);
    assert.equal(health.json().error, "not_found");

    // The running configuration and its hash.
    const shown = await admin.call("GET", "/admin/config");
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get("cache-control"), "no-store");
    const body = shown.json();
    const started = await sprox.waitForLog((l) => l.msg === "sprox started");
    assert.equal(body.hash, started.hash);
    assert.equal(body.file, sprox.configPath);
    const c = body.config;
    assert.equal(c.auth.bearer_token, "[REDACTED]");
    assert.equal(c.admin.bearer_token, "[REDACTED]");
    assert.equal(c.direct_stream.api_password, "[REDACTED]");
    assert.equal(c.direct_stream.proxy_url, "http://[REDACTED]@127.0.0.1:3128");
    assert.equal(c.routes[1].upstream.socks5.password, "[REDACTED]");
    assert.equal(c.routes[1].upstream.socks5.username, "u");
    assert.deepEqual(
      c.secrets.clearkey.map((k: { kid: string; key: string }) => [k.kid, k.key]),
      [[KID_FILE, "[REDACTED]"], [KID_ENV, "[REDACTED]"]],
    );
    assert.equal(c.tokens.signing_secret, "[REDACTED]");
    assert.equal(c.tokens.aes_key, "[REDACTED]");
    // Only secrets are hidden.
    assert.equal(c.rate_limit.key, "ip");
    assert.equal(c.routes[0].upstream.origins[0].url, origin.url);
    assert.equal(c.routes[0].upstream.origins[0].weight, 3);
    assert.equal(c.admin.listen.port, adminPort);

    // Routes with origin health and counters.
    const served = await fetch(`http://127.0.0.1:${port}/seg.ts`, { signal: deadline() });
    assert.equal(await served.text(), "origin");
    await sprox.waitForLog((l) => l.msg === "request" && l.path === "/seg.ts");
    const routes = await admin.call("GET", "/admin/routes");
    assert.equal(routes.status, 200);
    const tv = routes.json().routes.find((r: { id: string }) => r.id === "tv");
    assert.equal(tv.ready, true);
    assert.equal(tv.listener, `127.0.0.1:${port}`);
    assert.deepEqual(tv.origins.map((o: Record<string, unknown>) => [o.url, o.state, o.attempts]), [
      [origin.url, "healthy", 2],
    ]);
    assert.equal(tv.counters.requests["2xx"], 2);
    assert.equal(tv.counters.retries, 0);

    // Known paths answer 405 to other methods.
    const get = await admin.call("GET", "/admin/reload");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");

    const keys = await admin.call("GET", "/admin/keys");
    assert.deepEqual(keys.json().keys.map((k: Record<string, unknown>) => [k.id, k.source]), [
      [KID_FILE, "config"],
      [KID_ENV, "config"],
    ]);

    assertNoSecrets(admin.seen);
    // The log lines too, admin requests included.
    assertNoSecrets(sprox.logs.map((l) => JSON.stringify(l)));
  });
});

Deno.test("POST /admin/reload runs the SIGHUP path: errors as JSON with file:line, then a good file moves the listener", async () => {
  await withAdmin(async ({ origin, port, adminPort, sprox, admin }) => {
    const before = (await admin.call("GET", "/admin/config")).json().hash;

    // A broken file: an unknown key, an invalid port, and a secret of the wrong type.
    await Deno.writeTextFile(
      sprox.configPath,
      config(port, adminPort, origin.url).replace(
        "rate_limit: { enabled: false }",
        "rate_limit: { enabled: false, burts: 3 }",
      ).replace(`api_password: "${DIRECT_PASSWORD}"`, "api_password: 98765432109876543210").replace(
        `port: ${port} }\n    host_patterns: ["*"]`,
        `port: 70000 }\n    host_patterns: ["*"]`,
      ),
    );
    const rejected = await admin.call("POST", "/admin/reload");
    assert.equal(rejected.status, 422);
    const answer = rejected.json();
    assert.equal(answer.error, "config_invalid");
    assert.equal(answer.hash, before);
    const byPath = new Map(answer.errors.map((e: Record<string, unknown>) => [e.path, e]));
    const typo = byPath.get("rate_limit.burts") as Record<string, unknown>;
    assert.equal(typo.file, sprox.configPath);
    assert.equal(typo.line, 2);
    assert.match(String(typo.message), /is not a known key: did you mean "burst"\?/);
    assert.match(
      String(typo.text),
      new RegExp(`^${sprox.configPath}:2:\\d+: error: 'rate_limit\\.burts'`),
    );
    const badPort = byPath.get("routes[0].listen.port") as Record<string, unknown>;
    assert.equal(badPort.message, "must be <= 65535: current value is 70000");
    const token = byPath.get("direct_stream.api_password") as Record<string, unknown>;
    assert.equal(token.message, "must be string");
    assert.ok(!rejected.text.includes("98765432109876543210"), "the rejected secret is not echoed");
    assert.equal(answer.errors.length, 3);
    await sprox.waitForLog((l) => l.msg === "reload requested (admin)");
    await sprox.waitForLog((l) =>
      l.msg === "keeping the previous configuration" && l.hash === before
    );
    assert.equal((await admin.call("GET", "/admin/config")).json().hash, before);

    // A good file that moves the admin listener: the answer comes from the old one.
    const movedPort = freePort();
    await Deno.writeTextFile(sprox.configPath, config(port, movedPort, origin.url));
    const reloaded = await admin.call("POST", "/admin/reload");
    assert.equal(reloaded.status, 200);
    const done = reloaded.json();
    assert.equal(done.status, "reloaded");
    assert.notEqual(done.hash, before);
    await sprox.waitForLog((l) => l.msg === "config reloaded" && l.hash === done.hash);
    await assert.rejects(
      fetch(`http://127.0.0.1:${adminPort}/admin/config`, { signal: deadline() }),
      "the old admin port is closed",
    );
    const moved = new Admin(movedPort);
    assert.equal((await moved.call("GET", "/admin/config")).json().hash, done.hash);

    // SIGHUP is the same path: counted together.
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "reload requested (SIGHUP)");
    await sprox.waitForLog((l) => l.msg === "config reloaded" && l.hash === done.hash);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
      .text();
    assert.match(metrics, /sprox_config_reloads_total\{outcome="failure"\} 1\n/);
    assert.match(metrics, /sprox_config_reloads_total\{outcome="success"\} 2\n/);

    assertNoSecrets([...admin.seen, ...moved.seen]);
  });
});

Deno.test("keys: configuration keys outlive default_ttl_secs, runtime keys follow their TTL across a reload", async () => {
  await withAdmin(async ({ port, sprox, admin }) => {
    const license = async (kid: string) => {
      const response = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${BEARER}`,
          "x-sprox-api-password": DIRECT_PASSWORD,
          "content-type": "application/json",
        },
        body: JSON.stringify({ kids: [b64url(kid)] }),
        signal: deadline(),
      });
      assert.equal(response.status, 200);
      return ((await response.json()).keys as { k: string }[]).map((k) => k.k);
    };
    const listed = async () =>
      Object.fromEntries(
        (await admin.call("GET", "/admin/keys")).json().keys.map((
          k: { id: string; source: string; expires_in_secs: number | null },
        ) => [k.id, [k.source, k.expires_in_secs]]),
      );
    // Malformed requests.
    const bad: [string, string, string][] = [
      [`/admin/keys/clearkey/xyz`, `{"key":"${KEY_RUN}"}`, "the key id must be"],
      [`/admin/keys/clearkey/${KID_RUN}`, `{"key":"abc"}`, "'key' must be"],
      [
        `/admin/keys/clearkey/${KID_RUN}`,
        `{"key":"${KEY_RUN}","ttl_secs":0}`,
        "'ttl_secs' must be",
      ],
      [`/admin/keys/clearkey/${KID_RUN}`, `{"key":"${KEY_RUN}","ttl":5}`, 'unknown field "ttl"'],
      [`/admin/keys/clearkey/${KID_RUN}`, `not json`, "the body must be JSON"],
    ];
    for (const [path, body, message] of bad) {
      const answer = await admin.call("PUT", path, { body });
      assert.equal(answer.status, 400, path + body);
      assert.ok(answer.json().message.startsWith(message), answer.text);
    }

    // A key with its own TTL (added, then replaced) and one with the default TTL (1 s).
    const added = await admin.call("PUT", `/admin/keys/clearkey/${KID_RUN}`, {
      body: JSON.stringify({ key: KEY_RUN2, ttl_secs: 4 }),
    });
    assert.equal(added.status, 201);
    assert.deepEqual(added.json(), {
      kind: "clearkey",
      id: KID_RUN,
      kid: b64url(KID_RUN),
      source: "runtime",
      expires_in_secs: 4,
    });
    const replaced = await admin.call("PUT", `/admin/keys/clearkey/${b64url(KID_RUN)}`, {
      body: JSON.stringify({ key: b64url(KEY_RUN), ttl_secs: 4 }),
    });
    assert.equal(replaced.status, 200);
    assert.deepEqual(await license(KID_RUN), [b64url(KEY_RUN)]);
    // The key id and key as UUIDs (dashes), the notation `/proxy/decrypt` accepts too.
    const uuid = (hex: string) =>
      `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
        hex.slice(20)
      }`;
    const dashed = await admin.call("PUT", `/admin/keys/clearkey/${uuid(KID_RUN)}`, {
      body: JSON.stringify({ key: uuid(KEY_RUN), ttl_secs: 4 }),
    });
    assert.equal(dashed.status, 200);
    assert.equal(dashed.json().id, KID_RUN);
    assert.deepEqual(await license(KID_RUN), [b64url(KEY_RUN)]);
    const short = await admin.call("PUT", `/admin/keys/clearkey/${KID_RUN2}`, {
      body: JSON.stringify({ key: KEY_RUN2 }),
    });
    assert.equal(short.json().expires_in_secs, 1);

    // A reload keeps the runtime keys.
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    assert.deepEqual(await listed(), {
      [KID_FILE]: ["config", null],
      [KID_ENV]: ["config", null],
      [KID_RUN]: ["runtime", 4],
      [KID_RUN2]: ["runtime", 1],
    });

    // Past default_ttl_secs: the default-TTL key is gone, the configuration's keys are not.
    await new Promise((r) => setTimeout(r, 1600));
    assert.deepEqual(Object.keys(await listed()).sort(), [KID_RUN, KID_ENV, KID_FILE].sort());
    assert.deepEqual(await license(KID_FILE), [b64url(KEY_FILE)]);
    assert.deepEqual(await license(KID_RUN2), []);
    const jwks = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
      headers: { authorization: `Bearer ${BEARER}`, "x-sprox-api-password": DIRECT_PASSWORD },
      signal: deadline(),
    });
    assert.deepEqual(
      (await jwks.json()).keys.map((k: { kid: string }) => k.kid).sort(),
      [b64url(KID_FILE), b64url(KID_ENV), b64url(KID_RUN)].sort(),
    );

    // Past its own TTL, the runtime key is gone too.
    await new Promise((r) => setTimeout(r, 2600));
    assert.deepEqual(Object.keys(await listed()).sort(), [KID_ENV, KID_FILE].sort());
    assert.deepEqual(await license(KID_RUN), []);

    // DELETE removes a key until the configuration brings it back.
    const removed = await admin.call("DELETE", `/admin/keys/clearkey/${KID_FILE}`);
    assert.equal(removed.status, 204);
    assert.deepEqual(await license(KID_FILE), []);
    const again = await admin.call("DELETE", `/admin/keys/clearkey/${KID_FILE}`);
    assert.equal(again.status, 404);
    assert.equal(again.json().error, "not_found");
    const reloaded = await admin.call("POST", "/admin/reload");
    assert.equal(reloaded.status, 200);
    assert.deepEqual(await license(KID_FILE), [b64url(KEY_FILE)]);

    await sprox.waitForLog((l) => l.msg === "clearkey key added at run time");
    await sprox.waitForLog((l) => l.msg === "clearkey key removed at run time");
    assertNoSecrets(admin.seen);
    assertNoSecrets(sprox.logs.map((l) => JSON.stringify(l)));
  });
});
