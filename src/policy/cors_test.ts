import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { applyCorsHeaders, compileCors, preflightResponse } from "./cors.ts";

const BASE = {
  allow_origins: [],
  allow_methods: [],
  allow_headers: [],
  expose_headers: ["Content-Range", "Content-Length", "Accept-Ranges"],
  max_age_secs: 600,
};

function preflight(origin: string, method = "GET", requestHeaders?: string): Request {
  const headers = new Headers({ origin, "access-control-request-method": method });
  if (requestHeaders) headers.set("access-control-request-headers", requestHeaders);
  return new Request("http://sprox.test/x", { method: "OPTIONS", headers });
}

Deno.test("preflightResponse() answers an allowed origin with 204 and the allowlists", () => {
  const cors = compileCors({
    ...BASE,
    allow_origins: ["https://app.example"],
    allow_methods: ["GET", "options"],
    allow_headers: ["Range", "Authorization"],
  });
  const response = preflightResponse(cors, preflight("https://app.example"));
  assertEquals(response.status, 204);
  assertEquals(response.headers.get("access-control-allow-origin"), "https://app.example");
  assertEquals(response.headers.get("access-control-allow-methods"), "GET, OPTIONS");
  assertEquals(response.headers.get("access-control-allow-headers"), "range, authorization");
  assertEquals(response.headers.get("access-control-max-age"), "600");
  assertEquals(response.headers.get("vary")?.includes("Origin"), true);
});

Deno.test("preflightResponse() refuses other origins and methods with 403", () => {
  const cors = compileCors({
    ...BASE,
    allow_origins: ["https://app.example"],
    allow_methods: ["GET"],
  });
  const refused = preflightResponse(cors, preflight("https://evil.example"));
  assertEquals(refused.status, 403);
  assertEquals(refused.headers.get("access-control-allow-origin"), null);
  assertEquals(preflightResponse(cors, preflight("https://app.example", "DELETE")).status, 403);
});

Deno.test("empty lists mean any: `*`, with requested headers echoed", () => {
  const cors = compileCors(BASE);
  const response = preflightResponse(
    cors,
    preflight("https://any.example", "PUT", "authorization, range"),
  );
  assertEquals(response.status, 204);
  assertEquals(response.headers.get("access-control-allow-origin"), "*");
  assertEquals(response.headers.get("access-control-allow-methods"), "*");
  assertEquals(response.headers.get("access-control-allow-headers"), "authorization, range");
  const bare = preflightResponse(cors, preflight("https://any.example"));
  assertEquals(bare.headers.get("access-control-allow-headers"), "*");
});

Deno.test("applyCorsHeaders() exposes player headers to allowed origins only", () => {
  const cors = compileCors({ ...BASE, allow_origins: ["https://app.example"] });
  const allowed = new Headers({ vary: "Accept-Encoding" });
  applyCorsHeaders(
    cors,
    new Request("http://s/", { headers: { origin: "https://APP.example" } }),
    allowed,
  );
  assertEquals(allowed.get("access-control-allow-origin"), "https://APP.example");
  assertEquals(
    allowed.get("access-control-expose-headers"),
    "Content-Range, Content-Length, Accept-Ranges",
  );
  assertEquals(allowed.get("vary"), "Accept-Encoding, Origin");

  const refused = new Headers();
  applyCorsHeaders(
    cors,
    new Request("http://s/", { headers: { origin: "https://x.example" } }),
    refused,
  );
  assertEquals(refused.get("access-control-allow-origin"), null);
  assertEquals(refused.get("vary"), "Origin");
});
