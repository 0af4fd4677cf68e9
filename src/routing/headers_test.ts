import assert from "node:assert/strict";
import {
  clientResponseHeaders,
  compileHeaderPolicy,
  directResponseHeaders,
  upstreamRequestHeaders,
} from "./headers.ts";

const FACTS = {
  peerIp: "10.0.0.2",
  clientIp: "198.51.100.7",
  protocol: "https",
  host: "tv.test",
} as const;

Deno.test("upstreamRequestHeaders() appends to X-Forwarded-For and Via, sets the forwarded facts", () => {
  const policy = compileHeaderPolicy({ allow: [], deny: ["Cookie"], x_forwarded_for: "append" });
  const fields = upstreamRequestHeaders(
    new Headers({
      "x-forwarded-for": "203.0.113.1",
      via: "1.0 cdn",
      cookie: "a=1",
      "x-forwarded-host": "evil",
    }),
    { ...FACTS, policy },
  );
  // Each name once, so the list reads the same as the Headers fetch builds from it.
  assert.equal(new Set(fields.map(([n]) => n)).size, fields.length);
  const out = new Headers(fields);
  assert.equal(out.get("x-forwarded-for"), "203.0.113.1, 10.0.0.2");
  assert.equal(out.get("via"), "1.0 cdn, 1.1 sprox");
  assert.equal(out.get("x-forwarded-proto"), "https");
  assert.equal(out.get("x-forwarded-host"), "tv.test");
  assert.equal(out.get("cookie"), null);
  assert.equal(out.get("accept-encoding"), "identity");
});

Deno.test("upstreamRequestHeaders() with replace and an allow list", () => {
  const policy = compileHeaderPolicy({ allow: ["Range"], deny: [], x_forwarded_for: "replace" });
  const fields = upstreamRequestHeaders(
    new Headers({ range: "bytes=1-2", "user-agent": "x", "x-forwarded-for": "203.0.113.1" }),
    { ...FACTS, policy },
  );
  const out = new Headers(fields);
  assert.equal(fields.length, 6, JSON.stringify(fields));
  assert.equal(out.get("range"), "bytes=1-2");
  assert.equal(out.get("user-agent"), null);
  assert.equal(out.get("x-forwarded-for"), "198.51.100.7");
});

Deno.test("clientResponseHeaders() strips hop-by-hop and extends Via", () => {
  const out = clientResponseHeaders(
    new Headers({ connection: "keep-alive", "content-type": "video/mp2t" }),
  );
  assert.equal(out.get("connection"), null);
  assert.equal(out.get("content-type"), "video/mp2t");
  assert.equal(out.get("via"), "1.1 sprox");
});

Deno.test("directResponseHeaders() keeps the allowlist, drops the rest, adds content safety", () => {
  const out = directResponseHeaders(
    new Headers({
      "content-type": "video/mp2t",
      "content-length": "10",
      "content-range": "bytes 0-9/20",
      "accept-ranges": "bytes",
      etag: '"v1"',
      "last-modified": "Tue, 01 Jul 2025 00:00:00 GMT",
      "cache-control": "max-age=60",
      expires: "Tue, 01 Jul 2025 00:01:00 GMT",
      date: "Tue, 01 Jul 2025 00:00:00 GMT",
      "content-disposition": "inline",
      "set-cookie": "session=1",
      server: "origin/1.0",
      "x-powered-by": "PHP",
      "x-internal-token": "secret",
      "access-control-allow-origin": "*",
      "content-security-policy": "script-src *",
      "content-encoding": "gzip",
      location: "/elsewhere",
      connection: "close",
      via: "1.1 cdn",
    }),
  );
  assert.deepEqual(Object.fromEntries(out), {
    "accept-ranges": "bytes",
    "cache-control": "max-age=60",
    "content-disposition": "inline",
    "content-length": "10",
    "content-range": "bytes 0-9/20",
    "content-security-policy": "sandbox; default-src 'none'",
    "content-type": "video/mp2t",
    date: "Tue, 01 Jul 2025 00:00:00 GMT",
    etag: '"v1"',
    expires: "Tue, 01 Jul 2025 00:01:00 GMT",
    "last-modified": "Tue, 01 Jul 2025 00:00:00 GMT",
    "x-content-type-options": "nosniff",
  });
  assert.deepEqual(Object.fromEntries(directResponseHeaders(new Headers())), {
    "content-security-policy": "sandbox; default-src 'none'",
    "x-content-type-options": "nosniff",
  });
});
