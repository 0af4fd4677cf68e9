import assert from "node:assert/strict";
import { ProxyError } from "../errors/mod.ts";
import {
  checkRequest,
  compileRequestGate,
  loggedMethod,
  type RequestGatePlan,
  requestHeadBytes,
} from "./gate.ts";

const limits = {
  max_connections: 10,
  max_connections_per_ip: 10,
  header_timeout_ms: 1000,
  idle_timeout_ms: 1000,
  max_header_bytes: 1024,
  max_url_bytes: 256,
  allowed_methods: ["GET", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PURGE", "GET"],
  fd_reserve: 128,
};

function check(gate: RequestGatePlan, url: string, init: RequestInit = {}) {
  return checkRequest(gate, new Request(url, init), new URL(url));
}

function reason(decision: ReturnType<typeof checkRequest>): string | undefined {
  return decision instanceof ProxyError ? `${decision.status} ${decision.reason}` : undefined;
}

Deno.test("compileRequestGate() drops TRACE and CONNECT and duplicates, keeps the order", () => {
  const gate = compileRequestGate(limits);
  assert.deepEqual([...gate.allowedMethods], ["GET", "HEAD", "OPTIONS", "PURGE"]);
  assert.equal(gate.allow, "GET, HEAD, OPTIONS, PURGE");
  assert.equal(gate.maxUrlBytes, 256);
  assert.equal(gate.maxHeaderBytes, 1024);
});

Deno.test("checkRequest() lets allowed requests through", () => {
  const gate = compileRequestGate(limits);
  assert.equal(check(gate, "http://a/x"), undefined);
  assert.equal(check(gate, "http://a/x", { method: "PURGE" }), undefined);
  assert.equal(check(gate, "http://a/x", { method: "OPTIONS" }), undefined, "OPTIONS on a path");
  assert.equal(check(gate, "http://a/*?q", { method: "OPTIONS" }), undefined, "not asterisk");
});

Deno.test("checkRequest() refuses standard methods with 405 and others with 501", () => {
  const gate = compileRequestGate(limits);
  const refused = check(gate, "http://a/x", { method: "DELETE" });
  assert.equal(reason(refused), "405 method_not_allowed");
  assert.deepEqual((refused as ProxyError).headers, { allow: "GET, HEAD, OPTIONS, PURGE" });
  assert.equal(reason(check(gate, "http://a/x", { method: "PATCH" })), "405 method_not_allowed");
  assert.equal(reason(check(gate, "http://a/x", { method: "BREW" })), "501 method_not_implemented");
  assert.equal(
    reason(check(gate, "http://a/x", { method: "X".repeat(17) })),
    "501 method_not_implemented",
  );
});

Deno.test("checkRequest() answers OPTIONS * with 200 and Allow, without a body", () => {
  const gate = compileRequestGate(limits);
  const response = check(gate, "http://a/*", { method: "OPTIONS" });
  assert.ok(response instanceof Response);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS, PURGE");
  assert.equal(response.body, null);
  assert.equal(check(gate, "http://a/*"), undefined, "GET /* is an ordinary path");
});

Deno.test("checkRequest() measures the target against max_url_bytes, query included", () => {
  const gate = compileRequestGate(limits);
  assert.equal(check(gate, `http://a/${"a".repeat(255)}`), undefined);
  assert.equal(reason(check(gate, `http://a/${"a".repeat(256)}`)), "414 uri_too_long");
  assert.equal(check(gate, `http://a/?${"q".repeat(254)}`), undefined);
  assert.equal(reason(check(gate, `http://a/?${"q".repeat(255)}`)), "414 uri_too_long");
});

Deno.test("checkRequest() measures the head against max_header_bytes", () => {
  const gate = compileRequestGate(limits);
  // GET + /h + x-pad (5 + value + 4).
  const fixed = 3 + 2 + 5 + 4;
  const at = { headers: { "x-pad": "p".repeat(1024 - fixed) } };
  assert.equal(check(gate, "http://a/h", at), undefined);
  const over = { headers: { "x-pad": "p".repeat(1024 - fixed + 1) } };
  assert.equal(
    reason(check(gate, "http://a/h", over)),
    "431 request_header_fields_too_large",
  );
});

Deno.test("checkRequest() refuses upgrades but h2c, and ignores an empty Upgrade", () => {
  const gate = compileRequestGate(limits);
  const upgrade = (value: string) => check(gate, "http://a/x", { headers: { upgrade: value } });
  assert.equal(reason(upgrade("websocket")), "501 upgrade_not_supported");
  assert.equal(reason(upgrade("h2c, websocket")), "501 upgrade_not_supported");
  assert.equal(upgrade("h2c"), undefined);
  assert.equal(upgrade("H2C"), undefined);
  assert.equal(upgrade(""), undefined);
  assert.equal(upgrade(" , "), undefined);
});

Deno.test("requestHeadBytes() counts method, target and name + value + 4 per field", () => {
  const headers = new Headers({ host: "a.test", accept: "*/*" });
  assert.equal(requestHeadBytes("GET", 5, headers), 3 + 5 + (4 + 6 + 4) + (6 + 3 + 4));
});

Deno.test("loggedMethod() keeps short tokens and cuts anything else", () => {
  assert.equal(loggedMethod("GET"), "GET");
  assert.equal(loggedMethod("M".repeat(16)), "M".repeat(16));
  assert.equal(loggedMethod("M".repeat(17)), `${"M".repeat(16)}…`);
  assert.equal(loggedMethod("X".repeat(1000)).length, 17);
  assert.equal(loggedMethod("G T"), "G?T…");
});
