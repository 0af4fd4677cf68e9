import assert from "node:assert/strict";
import { compileTrustedProxies, resolveClientIp } from "./client_ip.ts";

const trusted = compileTrustedProxies(["127.0.0.0/8", "10.0.0.0/8"]);

Deno.test("resolveClientIp() uses the socket peer when it is not a trusted proxy", () => {
  const headers = new Headers({ "x-forwarded-for": "203.0.113.1" });
  assert.equal(resolveClientIp(headers, "198.51.100.9", trusted), "198.51.100.9");
});

Deno.test("resolveClientIp() skips trusted hops from the right of a chain", () => {
  const headers = new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.1, 10.0.0.2" });
  assert.equal(resolveClientIp(headers, "127.0.0.1", trusted), "203.0.113.1");
});

Deno.test("resolveClientIp() prefers Forwarded over X-Forwarded-For", () => {
  const headers = new Headers({
    forwarded: 'for=192.0.2.43, for="[2001:db8:cafe::17]:4711"',
    "x-forwarded-for": "203.0.113.1",
  });
  assert.equal(resolveClientIp(headers, "127.0.0.1", trusted), "2001:db8:cafe::17");
});

Deno.test("resolveClientIp() answers per trusted list: a reload's new list is not the old one", () => {
  const headers = new Headers({ "x-forwarded-for": "203.0.113.1" });
  const before = compileTrustedProxies(["192.0.2.0/24"]);
  const after = compileTrustedProxies([]);
  assert.equal(resolveClientIp(headers, "192.0.2.7", before), "203.0.113.1");
  assert.equal(resolveClientIp(headers, "192.0.2.7", after), "192.0.2.7");
  assert.equal(resolveClientIp(headers, "192.0.2.7", before), "203.0.113.1");
  // More peers than are remembered: each still resolves on its own facts.
  for (let i = 0; i < 5000; i++) {
    const peer = `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(resolveClientIp(headers, peer, before), peer);
  }
  assert.equal(resolveClientIp(headers, "192.0.2.7", before), "203.0.113.1");
  assert.equal(resolveClientIp(headers, "::ffff:192.0.2.7", after), "::ffff:c000:207");
});
