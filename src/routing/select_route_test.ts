import assert from "node:assert/strict";
import { ConfigSchema } from "../config/mod.ts";
import { ClientPool } from "./clients.ts";
import { compileRoutes, normaliseHost, requireRoute, selectRoute } from "./select_route.ts";
import { ProxyError } from "../errors/mod.ts";

const L = "127.0.0.1:8080";

function table(routes: Record<string, unknown>[]) {
  const config = ConfigSchema.parse({
    routes: routes.map((r) => ({
      listen: { host: "127.0.0.1", port: 8080 },
      upstream: { origin: "http://origin.internal" },
      ...r,
    })),
  });
  const pool = new ClientPool();
  return { table: compileRoutes(config, pool), pool };
}

Deno.test("normaliseHost() lower-cases and strips the port and trailing dot", () => {
  assert.equal(normaliseHost("Video.Example.COM.:8080"), "video.example.com");
  assert.equal(normaliseHost("[::1]:8080"), "[::1]");
});

Deno.test("selectRoute() prefers exact hosts, then the most specific wildcard", () => {
  const { table: t, pool } = table([
    { id: "any", host_patterns: ["*"] },
    { id: "one-label", host_patterns: ["*.example.com"] },
    { id: "deeper", host_patterns: ["*.vod.example.com"] },
    { id: "exact", host_patterns: ["live.vod.example.com"] },
  ]);
  try {
    const pick = (host: string) => selectRoute(t, { listener: "127.0.0.1:8080", host })?.id;
    assert.equal(pick("live.vod.example.com"), "exact");
    assert.equal(pick("a.vod.example.com"), "deeper");
    assert.equal(pick("vod.example.com"), "one-label");
    assert.equal(pick("a.b.example.com"), "any", "* matches exactly one label");
    assert.equal(pick("example.com"), "any");
    assert.equal(selectRoute(t, { listener: "127.0.0.1:9999", host: "example.com" }), undefined);
  } finally {
    pool.close();
  }
});

Deno.test("selectRoute() skips routes whose protocols exclude the request's", () => {
  const { table: t, pool } = table([
    { id: "tls-only", host_patterns: ["tv.example.com"], protocols: ["https"] },
    { id: "fallback", host_patterns: ["*.example.com"], protocols: ["http"] },
  ]);
  try {
    assert.equal(
      selectRoute(t, { listener: L, host: "tv.example.com", protocol: "https" })?.id,
      "tls-only",
    );
    assert.equal(
      selectRoute(t, { listener: L, host: "tv.example.com", protocol: "http" })?.id,
      "fallback",
    );
    assert.throws(
      () => requireRoute(t, { listener: L, host: "other.test", protocol: "http" }),
      (e) => e instanceof ProxyError && e.status === 404 && e.reason === "no_route",
    );
  } finally {
    pool.close();
  }
});

Deno.test("compileRoutes() builds one HTTP client per distinct setting", () => {
  const socks = { enabled: true, address: "127.0.0.1:1080" };
  const { table: t, pool } = table([
    { id: "a", host_patterns: ["a.test"] },
    { id: "b", host_patterns: ["b.test"] },
    { id: "c", host_patterns: ["c.test"], upstream: { origin: "http://o", socks5: socks } },
    { id: "d", host_patterns: ["d.test"], upstream: { origin: "http://p", socks5: socks } },
  ]);
  try {
    assert.equal(pool.size, 2);
    assert.equal(t.routes[0].origins[0].client, t.routes[1].origins[0].client);
    assert.equal(t.routes[2].origins[0].client, t.routes[3].origins[0].client);
    assert.notEqual(t.routes[0].origins[0].client, t.routes[2].origins[0].client);
  } finally {
    pool.close();
  }
});
