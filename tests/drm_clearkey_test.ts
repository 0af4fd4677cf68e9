/**
 * `/keys` and `/keys/clearkey` over real sockets: the EME ClearKey license exchange, the
 * JWK Set, malformed requests, credentials, TTL expiry and refresh on reload, the drm switch.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";

const KID_A = "00112233445566778899aabbccddeeff";
const KEY_A = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
const KID_B = "ffeeddccbbaa99887766554433221100";
const KEY_B = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const KID_ENV = "0123456789abcdef0123456789abcdef";
const KEY_ENV = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

function b64url(hex: string): string {
  const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function config(port: number, extra = ""): string {
  return `routes:
  - id: edge
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["edge.test"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit: { enabled: false }
secrets:
  default_ttl_secs: 300
  clearkey:
    - { kid: "${KID_A}", key: "${KEY_A}" }
    - { kid: "${KID_B}", key: "${KEY_B}", ttl_secs: 1 }
${extra}`;
}

function license(port: number, body: string, headers: Record<string, string> = {}) {
  return fetch(`http://127.0.0.1:${port}/keys/clearkey`, { method: "POST", body, headers });
}

Deno.test("ClearKey: EME license exchange, JWKS, malformed bodies, TTL and reload", async () => {
  const port = freePort();
  const sprox = await startSprox(config(port), {
    env: { SPROX_CLEARKEY_KEYS: `${KID_ENV}:${KEY_ENV}` },
  });
  try {
    // Only the requested, known keys come back, as EME ClearKey JWKs.
    const unknown = b64url("11".repeat(16));
    const answer = await license(
      port,
      JSON.stringify({ kids: [b64url(KID_A), unknown, b64url(KID_ENV)], type: "temporary" }),
    );
    assertEquals(answer.status, 200);
    assertEquals(answer.headers.get("content-type"), "application/json");
    assertEquals(answer.headers.get("cache-control"), "no-store");
    assertEquals(await answer.json(), {
      keys: [
        { kty: "oct", kid: b64url(KID_A), k: b64url(KEY_A) },
        { kty: "oct", kid: b64url(KID_ENV), k: b64url(KEY_ENV) },
      ],
      type: "temporary",
    });

    // GET: the JWK Set of every live key.
    const jwks = await (await fetch(`http://127.0.0.1:${port}/keys/clearkey`)).json();
    assertEquals(jwks.keys.length, 3);
    for (const key of jwks.keys) assertEquals(key.kty, "oct");

    // Malformed requests: 400 with a JSON reason.
    for (
      const body of [
        "not json",
        "[]",
        '{"type":"temporary"}',
        '{"kids":"abc"}',
        '{"kids":["%%%"]}',
        `{"kids":["${b64url("00".repeat(8))}"]}`,
        `{"kids":[],"type":"forever"}`,
      ]
    ) {
      const response = await license(port, body);
      assertEquals(response.status, 400, body);
      assertEquals((await response.json()).error, "bad_request");
    }
    const huge = await license(port, JSON.stringify({ kids: [], pad: "x".repeat(70_000) }));
    assertEquals(huge.status, 400);
    await huge.body?.cancel();

    // /keys lists identifiers, never key material.
    const listing = await (await fetch(`http://127.0.0.1:${port}/keys`)).text();
    for (const kid of [KID_A, KID_B, KID_ENV]) assert(listing.includes(kid), kid);
    for (const key of [KEY_A, KEY_B, KEY_ENV]) {
      assert(!listing.includes(key) && !listing.includes(b64url(key)), "no key material");
    }

    // KID_B has a 1 s TTL: gone after it, from the listing and from licenses.
    await new Promise((r) => setTimeout(r, 1200));
    assert(!(await (await fetch(`http://127.0.0.1:${port}/keys`)).text()).includes(KID_B));
    const expired = await license(port, JSON.stringify({ kids: [b64url(KID_B)] }));
    assertEquals((await expired.json()).keys, []);

    // A reload refreshes the store from configuration.
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    const refreshed = await license(port, JSON.stringify({ kids: [b64url(KID_B)] }));
    assertEquals((await refreshed.json()).keys, [{
      kty: "oct",
      kid: b64url(KID_B),
      k: b64url(KEY_B),
    }]);
  } finally {
    await sprox.stop();
  }
});

Deno.test("ClearKey: /keys and /keys/clearkey require the API credential when configured", async () => {
  const port = freePort();
  const token = "bearer-token-for-keys-0123";
  const sprox = await startSprox(config(port), { env: { SPROX_API_PASSWORD: token } });
  try {
    const body = JSON.stringify({ kids: [b64url(KID_A)] });
    const missing = await license(port, body);
    assertEquals(missing.status, 401);
    await missing.body?.cancel();
    const wrong = await license(port, body, { authorization: "Bearer nope" });
    assertEquals(wrong.status, 403);
    await wrong.body?.cancel();
    const ok = await license(port, body, { authorization: `Bearer ${token}` });
    assertEquals((await ok.json()).keys.length, 1);
    const list = await fetch(`http://127.0.0.1:${port}/keys`);
    assertEquals(list.status, 401);
    await list.body?.cancel();
  } finally {
    await sprox.stop();
  }
});

Deno.test("ClearKey: drm.enabled false removes /keys/clearkey, never forwarding it", async () => {
  let originHits = 0;
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    originHits++;
    return new Response("origin");
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: catch-all
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
secrets:
  clearkey:
    - { kid: "${KID_A}", key: "${KEY_A}" }
drm:
  enabled: false
`);
  try {
    const get = await fetch(`http://127.0.0.1:${port}/keys/clearkey`);
    assertEquals(get.status, 404);
    assertEquals((await get.json()).error, "not_found");
    const post = await license(port, JSON.stringify({ kids: [b64url(KID_A)] }));
    assertEquals(post.status, 404);
    assert(!(await post.text()).includes(b64url(KEY_A)));
    assertEquals(originHits, 0, "the ClearKey path is not handed to the route");
    const list = await fetch(`http://127.0.0.1:${port}/keys`);
    assertEquals(list.status, 200, "/keys lists the store whatever the drm switch says");
    await list.body?.cancel();
  } finally {
    await sprox.stop();
    await origin.shutdown();
  }
});
