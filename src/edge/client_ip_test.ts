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
