/**
 * CORS over real sockets: preflights answered by sProx (never forwarded), simple requests
 * through a route, `/keys/*` and `/proxy/*`, for allowed and refused origins.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";

const ALLOWED = "https://app.example";

Deno.test("CORS: preflight and simple requests for allowed and refused origins", async () => {
  const seen: string[] = [];
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push(`${request.method} ${new URL(request.url).pathname}`);
    return new Response("segment-bytes", {
      headers: { "content-type": "video/mp2t", "accept-ranges": "bytes" },
    });
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: media
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
cors:
  allow_origins: ["${ALLOWED}"]
  allow_methods: [GET, OPTIONS]
  allow_headers: [Range, Authorization]
  max_age_secs: 900
`);
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  try {
    // Preflight from an allowed origin: 204, answered by sProx.
    const preflight = await fetch(url("/vod/seg1.ts"), {
      method: "OPTIONS",
      headers: {
        origin: ALLOWED,
        "access-control-request-method": "GET",
        "access-control-request-headers": "range",
      },
    });
    assertEquals(preflight.status, 204);
    assertEquals(preflight.headers.get("access-control-allow-origin"), ALLOWED);
    assertEquals(preflight.headers.get("access-control-allow-methods"), "GET, OPTIONS");
    assertEquals(preflight.headers.get("access-control-allow-headers"), "range, authorization");
    assertEquals(preflight.headers.get("access-control-max-age"), "900");
    assert(preflight.headers.get("vary")?.includes("Origin"));
    assertEquals(seen.length, 0, "a preflight is never forwarded upstream");

    // Preflight from a refused origin: 403 without CORS grants.
    const refusedPreflight = await fetch(url("/vod/seg1.ts"), {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    assertEquals(refusedPreflight.status, 403);
    assertEquals(refusedPreflight.headers.get("access-control-allow-origin"), null);
    await refusedPreflight.body?.cancel();

    // Simple request through the route from the allowed origin.
    const simple = await fetch(url("/vod/seg1.ts"), { headers: { origin: ALLOWED } });
    assertEquals(await simple.text(), "segment-bytes");
    assertEquals(simple.headers.get("access-control-allow-origin"), ALLOWED);
    assertEquals(
      simple.headers.get("access-control-expose-headers"),
      "Content-Range, Content-Length, Accept-Ranges",
    );
    assert(simple.headers.get("vary")?.includes("Origin"));

    // Simple request from a refused origin: served, but the browser gets no grant.
    const refused = await fetch(url("/vod/seg1.ts"), {
      headers: { origin: "https://evil.example" },
    });
    await refused.body?.cancel();
    assertEquals(refused.headers.get("access-control-allow-origin"), null);
    assert(refused.headers.get("vary")?.includes("Origin"));

    // /keys/* and /proxy/* carry the same fields, whatever their status.
    for (const path of ["/keys", "/keys/clearkey", "/proxy/stream?d=https%3A%2F%2Fx.example%2F"]) {
      const response = await fetch(url(path), { headers: { origin: ALLOWED } });
      await response.body?.cancel();
      assertEquals(response.headers.get("access-control-allow-origin"), ALLOWED, path);
      assert(response.headers.get("vary")?.includes("Origin"), path);
    }
  } finally {
    await sprox.stop();
    await origin.shutdown();
  }
});

Deno.test("CORS: empty allowlists mean `*`", async () => {
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: any
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["cdn.test"]
    upstream: { origin: "http://127.0.0.1:9" }
`);
  try {
    const preflight = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
      method: "OPTIONS",
      headers: { origin: "https://anyone.example", "access-control-request-method": "POST" },
    });
    assertEquals(preflight.status, 204);
    assertEquals(preflight.headers.get("access-control-allow-origin"), "*");
    assertEquals(preflight.headers.get("access-control-allow-methods"), "*");
    assertEquals(preflight.headers.get("access-control-allow-headers"), "*");
    const simple = await fetch(`http://127.0.0.1:${port}/ip`, {
      headers: { origin: "https://anyone.example" },
    });
    await simple.body?.cancel();
    assertEquals(simple.headers.get("access-control-allow-origin"), "*");
  } finally {
    await sprox.stop();
  }
});
