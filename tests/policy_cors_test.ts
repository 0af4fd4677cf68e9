/**
 * CORS over real sockets: preflights answered by sProx (never forwarded), simple requests
 * through a route, `/keys/*` and `/proxy/*`, for allowed and refused origins.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";

const ALLOWED = "https://app.example";
const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
const GRANTS = [
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-allow-credentials",
  "access-control-max-age",
  "access-control-expose-headers",
];

/** Whether the response's Vary lists `name` (other fields may be there too). */
function varies(response: Response, name: string): boolean {
  const vary = response.headers.get("vary") ?? "";
  return vary.toLowerCase().split(/\s*,\s*/).includes(name.toLowerCase());
}

/** The CORS grants a response carries (empty for a refusal). */
function grants(response: Response): Record<string, string> {
  return Object.fromEntries(
    GRANTS.flatMap((name) => {
      const value = response.headers.get(name);
      return value === null ? [] : [[name, value]];
    }),
  );
}

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
      signal: deadline(),
    });
    assertEquals(preflight.status, 204);
    assertEquals(grants(preflight), {
      "access-control-allow-origin": ALLOWED,
      "access-control-allow-methods": "GET, OPTIONS",
      "access-control-allow-headers": "range, authorization",
      "access-control-max-age": "900",
    });
    assertEquals(preflight.headers.get("vary"), PREFLIGHT_VARY);
    assertEquals(preflight.headers.get("cache-control"), "no-store");
    assertEquals(await preflight.text(), "");
    assertEquals(seen.length, 0, "a preflight is never forwarded upstream");

    // Preflight from a refused origin: 403 without CORS grants.
    const refusedPreflight = await fetch(url("/vod/seg1.ts"), {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
      signal: deadline(),
    });
    assertEquals(refusedPreflight.status, 403);
    assertEquals(grants(refusedPreflight), {});
    assertEquals(refusedPreflight.headers.get("vary"), PREFLIGHT_VARY);
    assertEquals(refusedPreflight.headers.get("content-type"), "application/json");
    assertEquals(await refusedPreflight.json(), {
      error: "forbidden",
      message: "origin not allowed",
    });

    // Preflight from the allowed origin for methods the policy does not list: 403, no grants,
    // whatever the case of the method; never forwarded.
    for (const method of ["DELETE", "PUT", "post"]) {
      const wrongMethod = await fetch(url("/vod/seg1.ts"), {
        method: "OPTIONS",
        headers: {
          origin: ALLOWED,
          "access-control-request-method": method,
          "access-control-request-headers": "range",
        },
        signal: deadline(),
      });
      assertEquals(wrongMethod.status, 403, method);
      assertEquals(grants(wrongMethod), {}, method);
      assertEquals(wrongMethod.headers.get("vary"), PREFLIGHT_VARY);
      assertEquals(wrongMethod.headers.get("cache-control"), "no-store");
      assertEquals(wrongMethod.headers.get("content-type"), "application/json");
      assertEquals(await wrongMethod.json(), {
        error: "forbidden",
        message: "method not allowed by CORS policy",
      });
    }
    // A listed method in another case is the same method.
    const lowerGet = await fetch(url("/vod/seg1.ts"), {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "get" },
      signal: deadline(),
    });
    assertEquals(lowerGet.status, 204);
    assertEquals(grants(lowerGet)["access-control-allow-methods"], "GET, OPTIONS");
    await lowerGet.body?.cancel();
    assertEquals(seen.length, 0, "no preflight is forwarded upstream");

    // Simple request through the route from the allowed origin.
    const simple = await fetch(url("/vod/seg1.ts"), {
      headers: { origin: ALLOWED },
      signal: deadline(),
    });
    assertEquals(simple.status, 200);
    assertEquals(await simple.text(), "segment-bytes");
    assertEquals(grants(simple), {
      "access-control-allow-origin": ALLOWED,
      "access-control-expose-headers": "Content-Range, Content-Length, Accept-Ranges",
    });
    assert(varies(simple, "Origin"), String(simple.headers.get("vary")));
    assertEquals(seen, ["GET /vod/seg1.ts"]);

    // Simple request from a refused origin: served, but the browser gets no grant.
    const refused = await fetch(url("/vod/seg1.ts"), {
      headers: { origin: "https://evil.example" },
      signal: deadline(),
    });
    assertEquals(refused.status, 200);
    assertEquals(await refused.text(), "segment-bytes");
    assertEquals(grants(refused), {});
    assert(varies(refused, "Origin"), String(refused.headers.get("vary")));

    // /keys/* and /proxy/* carry the same fields, whatever their status.
    for (const path of ["/keys", "/keys/clearkey", "/proxy/stream?d=https%3A%2F%2Fx.example%2F"]) {
      const response = await fetch(url(path), { headers: { origin: ALLOWED }, signal: deadline() });
      await response.body?.cancel();
      assertEquals(grants(response), {
        "access-control-allow-origin": ALLOWED,
        "access-control-expose-headers": "Content-Range, Content-Length, Accept-Ranges",
      }, path);
      assert(varies(response, "Origin"), path);
    }
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
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
      signal: deadline(),
    });
    assertEquals(preflight.status, 204);
    assertEquals(grants(preflight), {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "*",
      "access-control-allow-headers": "*",
      "access-control-max-age": "600",
    });
    // Any method at all, and requested headers echoed (a literal `*` would not cover
    // Authorization).
    const echoed = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
      method: "OPTIONS",
      headers: {
        origin: "https://anyone.example",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization, range",
      },
      signal: deadline(),
    });
    assertEquals(echoed.status, 204);
    assertEquals(grants(echoed)["access-control-allow-headers"], "authorization, range");
    await echoed.body?.cancel();
    const simple = await fetch(`http://127.0.0.1:${port}/ip`, {
      headers: { origin: "https://anyone.example" },
      signal: deadline(),
    });
    await simple.body?.cancel();
    assertEquals(grants(simple), {
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "Content-Range, Content-Length, Accept-Ranges",
    });
  } finally {
    await sprox.stop();
  }
});
