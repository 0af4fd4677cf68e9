import assert from "node:assert/strict";
import { appendCacheStatus, formatCacheStatus } from "./cache_status.ts";

Deno.test("formatCacheStatus() writes the RFC 9211 examples", () => {
  assert.equal(formatCacheStatus({ hit: true }, "ExampleCache"), "ExampleCache; hit");
  assert.equal(
    formatCacheStatus({ fwd: "uri-miss", stored: true }, "ExampleCache"),
    "ExampleCache; fwd=uri-miss; stored",
  );
  assert.equal(
    formatCacheStatus({ fwd: "stale", fwdStatus: 304 }, "ExampleCache"),
    "ExampleCache; fwd=stale; fwd-status=304",
  );
  assert.equal(
    formatCacheStatus({ hit: true, ttl: 1100 }, "OriginCache"),
    "OriginCache; hit; ttl=1100",
  );
  assert.equal(
    formatCacheStatus({ hit: true, ttl: 545 }, "CDN Company Here"),
    '"CDN Company Here"; hit; ttl=545',
  );
});

Deno.test("formatCacheStatus() writes sProx's members, ttl floored", () => {
  assert.equal(formatCacheStatus({ hit: true, ttl: 12.9 }), "sprox; hit; ttl=12");
  assert.equal(
    formatCacheStatus({ hit: true, ttl: -0.5, detail: "stale-while-revalidate" }),
    "sprox; hit; ttl=-1; detail=stale-while-revalidate",
  );
  assert.equal(
    formatCacheStatus({ fwd: "uri-miss", collapsed: true, stored: true, ttl: 3 }),
    "sprox; fwd=uri-miss; stored; collapsed; ttl=3",
  );
  assert.equal(
    formatCacheStatus({ fwd: "bypass", detail: "a b" }),
    'sprox; fwd=bypass; detail="a b"',
  );
  assert.equal(formatCacheStatus({ detail: "only-if-cached" }), "sprox; detail=only-if-cached");
});

Deno.test("appendCacheStatus() adds sProx after the upstream caches", () => {
  const headers = new Headers({ "cache-status": "OriginCache; hit; ttl=1100" });
  appendCacheStatus(headers, "sprox; hit");
  assert.equal(headers.get("cache-status"), "OriginCache; hit; ttl=1100, sprox; hit");
  const empty = new Headers();
  appendCacheStatus(empty, "sprox; hit");
  assert.equal(empty.get("cache-status"), "sprox; hit");
});
