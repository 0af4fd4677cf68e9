/**
 * `/keys` and `/keys/clearkey` over real sockets: the EME ClearKey license exchange, the
 * JWK Set, malformed requests, credentials, TTL expiry and refresh on reload, the drm switch.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";

const KID_A = "00112233445566778899aabbccddeeff";
const KEY_A = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
const KID_B = "ffeeddccbbaa99887766554433221100";
const KEY_B = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const KID_ENV = "0123456789abcdef0123456789abcdef";
const KEY_ENV = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

// The same values in unpadded base64url (RFC 4648 §5), written out rather than computed so a
// hex, padded or plain-base64 encoding cannot agree with the test by sharing its helper.
// KID_B and KEY_B hold "-" and "_", where base64 and base64url differ.
const B64: Record<string, string> = {
  [KID_A]: "ABEiM0RVZneImaq7zN3u_w",
  [KEY_A]: "oKGio6SlpqeoqaqrrK2urw",
  [KID_B]: "_-7dzLuqmYh3ZlVEMyIRAA",
  [KEY_B]: "sLGys7S1tre4ubq7vL2-vw",
  [KID_ENV]: "ASNFZ4mrze8BI0VniavN7w",
  [KEY_ENV]: "wMHCw8TFxsfIycrLzM3Ozw",
  ["11".repeat(16)]: "EREREREREREREREREREREQ",
  ["00".repeat(8)]: "AAAAAAAAAAA",
};

function b64url(hex: string): string {
  const value = B64[hex];
  if (value === undefined) throw new Error(`no base64url written out for ${hex}`);
  return value;
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
  return fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
    method: "POST",
    body,
    headers,
    signal: deadline(),
  });
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

    // GET: the JWK Set of every live key, byte for byte.
    const jwks = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, { signal: deadline() });
    assertEquals(jwks.status, 200);
    assertEquals(jwks.headers.get("content-type"), "application/json");
    assertEquals(jwks.headers.get("cache-control"), "no-store");
    assertEquals(
      await jwks.text(),
      JSON.stringify({
        keys: [
          { kty: "oct", kid: "ABEiM0RVZneImaq7zN3u_w", k: "oKGio6SlpqeoqaqrrK2urw" },
          { kty: "oct", kid: "_-7dzLuqmYh3ZlVEMyIRAA", k: "sLGys7S1tre4ubq7vL2-vw" },
          { kty: "oct", kid: "ASNFZ4mrze8BI0VniavN7w", k: "wMHCw8TFxsfIycrLzM3Ozw" },
        ],
      }),
    );

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

    // /keys lists identifiers (hex and base64url) and lifetimes, never key material.
    const listed = await fetch(`http://127.0.0.1:${port}/keys`, { signal: deadline() });
    assertEquals(listed.status, 200);
    assertEquals(listed.headers.get("cache-control"), "no-store");
    const listing = await listed.text();
    assertEquals(JSON.parse(listing), {
      keys: [
        // Keys of the configuration live as long as it does (null), unless they set a TTL.
        { kind: "clearkey", id: KID_A, kid: b64url(KID_A), expires_in_secs: null },
        { kind: "clearkey", id: KID_B, kid: b64url(KID_B), expires_in_secs: 1 },
        { kind: "clearkey", id: KID_ENV, kid: b64url(KID_ENV), expires_in_secs: null },
      ],
    });
    for (const key of [KEY_A, KEY_B, KEY_ENV]) {
      assert(!listing.includes(key) && !listing.includes(b64url(key)), "no key material");
    }

    // KID_B has a 1 s TTL: gone after it, from the listing and from licenses.
    await new Promise((r) => setTimeout(r, 1200));
    const later = await fetch(`http://127.0.0.1:${port}/keys`, { signal: deadline() });
    assertEquals((await later.json()).keys.map((k: { id: string }) => k.id), [KID_A, KID_ENV]);
    const expired = await license(port, JSON.stringify({ kids: [b64url(KID_B)] }));
    assertEquals((await expired.json()).keys, []);

    // A reload refreshes the store from configuration.
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded", 10_000);
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
    assertEquals(ok.status, 200);
    assertEquals(await ok.json(), {
      keys: [{ kty: "oct", kid: "ABEiM0RVZneImaq7zN3u_w", k: "oKGio6SlpqeoqaqrrK2urw" }],
      type: "temporary",
    });
    const list = await fetch(`http://127.0.0.1:${port}/keys`, { signal: deadline() });
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
    const get = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, { signal: deadline() });
    assertEquals(get.status, 404);
    assertEquals((await get.json()).error, "not_found");
    const post = await license(port, JSON.stringify({ kids: [b64url(KID_A)] }));
    assertEquals(post.status, 404);
    assert(!(await post.text()).includes(b64url(KEY_A)));
    assertEquals(originHits, 0, "the ClearKey path is not handed to the route");
    const list = await fetch(`http://127.0.0.1:${port}/keys`, { signal: deadline() });
    assertEquals(list.status, 200, "/keys lists the store whatever the drm switch says");
    await list.body?.cancel();
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
  }
});
