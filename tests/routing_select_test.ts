/**
 * Route selection and forwarding over real sockets: host and listener routing, the
 * protocols allowlist, safe path joining, and the header policy.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";
import { curl, hostClient, startOrigin } from "./_support/origins.ts";

/** An origin that echoes what it received as JSON. */
function echo(name: string) {
  return startOrigin((request) => {
    const url = new URL(request.url);
    const status = request.headers.has("range") ? 206 : 200;
    return Response.json({
      origin: name,
      path: url.pathname,
      search: url.search,
      headers: Object.fromEntries(request.headers),
    }, {
      status,
      headers: {
        "connection": "keep-alive, x-hop",
        "x-hop": "secret-hop",
        "keep-alive": "timeout=5",
        "x-origin": name,
      },
    });
  });
}

Deno.test("routes by Host on one listener and by listener port, with safe path joining and header policy", async (t) => {
  const [a, b, c] = await Promise.all([echo("a"), echo("b"), echo("c")]);
  const p1 = freePort();
  const p2 = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: alpha
    listen: { host: 127.0.0.1, port: ${p1} }
    host_patterns: ["alpha.test", "*.alpha.test"]
    upstream: { origin: "${a.url}/base/" }
    headers: { deny: ["Cookie"], x_forwarded_for: append }
  - id: beta
    listen: { host: 127.0.0.1, port: ${p1} }
    host_patterns: ["*.test"]
    upstream: { origin: "${b.url}/b" }
    headers: { allow: ["Accept", "Range", "X-Keep"], x_forwarded_for: replace }
  - id: https-only
    listen: { host: 127.0.0.1, port: ${p1} }
    host_patterns: ["secure.example"]
    protocols: [https]
    upstream: { origin: "${c.url}" }
  - id: gamma
    listen: { host: 127.0.0.1, port: ${p2} }
    host_patterns: ["*"]
    upstream: { origin: "${c.url}/g" }
`);
  const client = hostClient();
  const get = async (port: number, host: string, path: string, headers: HeadersInit = {}) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      client,
      headers: { host, ...headers },
      signal: deadline(),
    });
    const text = await response.text();
    return {
      response,
      json: response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text,
    };
  };
  try {
    await t.step("exact host, wildcard, catch-all on another port", async () => {
      const r1 = await get(p1, "Alpha.Test.:80", "/movie/seg1.ts?x=1");
      assert.equal(r1.response.status, 200);
      assert.equal(r1.json.origin, "a");
      assert.equal(r1.json.path, "/base/movie/seg1.ts");
      assert.equal(r1.json.search, "?x=1");
      const r2 = await get(p1, "cdn.alpha.test", "/x");
      assert.equal(r2.json.origin, "a", "the more specific wildcard wins");
      const r3 = await get(p1, "other.test", "/x");
      assert.equal(r3.json.origin, "b");
      assert.equal(r3.json.path, "/b/x");
      const r4 = await get(p2, "anything.example", "//double//slash/");
      assert.equal(r4.json.origin, "c");
      assert.equal(r4.json.path, "/g/double/slash/");
    });

    await t.step("no route: 404 JSON; protocol not allowed: 404", async () => {
      const miss = await get(p1, "deep.sub.other.example", "/");
      assert.equal(miss.response.status, 404);
      assert.equal(miss.json.error, "no_route");
      const plain = await get(p1, "secure.example", "/");
      assert.equal(plain.response.status, 404);
      assert.equal(plain.json.error, "no_route");
    });

    await t.step("dot-segments, raw or encoded, cannot escape the base path", async () => {
      for (const path of ["/a/%2e%2e/%2e%2e/etc", "/a/..%2f..%2fetc", "/%2E%2E/x", "/a/../../x"]) {
        const r = await curl([
          "--path-as-is",
          "-H",
          "host: alpha.test",
          "-w",
          "\n%{http_code}",
          `http://127.0.0.1:${p1}${path}`,
        ]);
        const [body, status] = r.stdout.split("\n");
        const json = JSON.parse(body);
        if (status === "403") assert.equal(json.error, "ambiguous_path");
        else assert.ok(json.path.startsWith("/base/"), `${path} reached ${json.path}`);
      }
    });

    await t.step(
      "headers: hop-by-hop stripped both ways, Via, X-Forwarded-*, deny list",
      async () => {
        const r = await get(p1, "alpha.test", "/h", {
          "connection": "x-drop-me",
          "x-drop-me": "1",
          "te": "trailers",
          "proxy-authorization": "Basic abc",
          "cookie": "session=1",
          "x-forwarded-for": "203.0.113.9",
          "via": "1.1 edge",
          "range": "bytes=0-9",
          "if-none-match": '"v1"',
        });
        const h = r.json.headers;
        assert.equal(r.response.status, 206, "Range passes through");
        assert.equal(h["x-drop-me"], undefined);
        assert.equal(h["te"], undefined);
        assert.equal(h["proxy-authorization"], undefined);
        assert.equal(h["cookie"], undefined, "denied header");
        assert.equal(h["range"], "bytes=0-9");
        assert.equal(h["if-none-match"], '"v1"');
        assert.equal(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert.equal(h["x-forwarded-proto"], "http");
        assert.equal(h["x-forwarded-host"], "alpha.test");
        assert.equal(h["via"], "1.1 edge, 1.1 sprox");
        assert.equal(h["host"], `127.0.0.1:${a.port}`);
        assert.equal(r.response.headers.get("x-hop"), null, "named by Connection");
        assert.equal(r.response.headers.get("keep-alive"), null);
        assert.equal(r.response.headers.get("x-origin"), "a");
        assert.equal(r.response.headers.get("via"), "1.1 sprox");
      },
    );

    await t.step("allow list and x_forwarded_for: replace", async () => {
      const r = await get(p1, "b.test", "/h", {
        "accept": "text/plain",
        "x-keep": "yes",
        "x-other": "no",
        "x-forwarded-for": "203.0.113.9",
      });
      const h = r.json.headers;
      assert.equal(h["x-keep"], "yes");
      assert.equal(h["accept"], "text/plain");
      assert.equal(h["x-other"], undefined);
      assert.equal(
        h["x-forwarded-for"],
        "203.0.113.9",
        "replace uses the resolved client IP (peer is trusted)",
      );
    });
  } finally {
    client.close();
    await sprox.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});
