import assert from "node:assert/strict";
import { classifyUpstreamError, toProxyError, UpstreamFailure } from "./upstream_failure.ts";

const fetchError = (cause: string) => new TypeError("fetch failed", { cause: new Error(cause) });

Deno.test("classifyUpstreamError() names each cause", () => {
  const kind = (cause: string) => classifyUpstreamError(fetchError(cause)).kind;
  assert.equal(
    kind("client error (Connect): tcp connect error: Connection refused (os error 111)"),
    "refused",
  );
  assert.equal(kind("client error (Connect): invalid peer certificate: UnknownIssuer"), "tls");
  assert.equal(kind("client error (Connect): Password auth failure, code: 2"), "socks");
  assert.equal(kind("connection reset by peer (os error 104)"), "reset");
  assert.equal(kind("dns error: failed to lookup address information"), "dns");
  assert.equal(kind("something else"), "other");
});

Deno.test("toProxyError() maps timeouts to 504 and connection failures to 502", () => {
  assert.equal(
    toProxyError(new UpstreamFailure("connect_timeout", "")).reason,
    "upstream_connect_timeout",
  );
  assert.equal(toProxyError(new UpstreamFailure("timeout", "")).status, 504);
  assert.equal(toProxyError(new UpstreamFailure("refused", "")).status, 502);
  assert.equal(toProxyError(new UpstreamFailure("reset", "")).status, 502);
});

Deno.test("classifyUpstreamError() ignores words inside URLs", () => {
  const error = fetchError(
    "error sending request for url (https://tls.socks.example/): connection reset",
  );
  assert.equal(classifyUpstreamError(error).kind, "reset");
});
