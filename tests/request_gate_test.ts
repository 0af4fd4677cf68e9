/**
 * The request gate over real sockets: methods (405 with `Allow`, 501), TRACE and CONNECT never
 * proxied, `OPTIONS *` answered locally, request target (414) and head size (431) at their
 * exact limits, upgrades refused (h2c ignored); nothing the gate refuses reaches the origin.
 */
import assert from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/direct.ts";
import { rawRequest } from "./_support/raw_http.ts";

const MAX_URL_BYTES = 1024;
const MAX_HEADER_BYTES = 4096;

/** A raw request with `Connection: close`, the given request id and extra header lines. */
function head(requestLine: string, id: string, extra: string[] = []): string {
  return [requestLine, "Host: gate.test", `X-Request-Id: ${id}`, ...extra, "Connection: close"]
    .join("\r\n") + "\r\n\r\n";
}

function errorBody(reason: string, message: string, id: string): string {
  return JSON.stringify({ error: reason, message, request_id: id });
}

Deno.test("the request gate answers before policy and routing", async (t) => {
  const origin = startOrigin(() => new Response("from origin"));
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: gated
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["gate.test"]
    upstream: { origin: "http://127.0.0.1:${origin.port}" }
rate_limit: { enabled: false }
server:
  limits:
    max_url_bytes: ${MAX_URL_BYTES}
    max_header_bytes: ${MAX_HEADER_BYTES}
    allowed_methods: [GET, HEAD, POST, OPTIONS, PURGE, TRACE, CONNECT]
`);
  const allow = "GET, HEAD, POST, OPTIONS, PURGE";
  const send = (text: string) => rawRequest(port, text);
  let forwarded = 0;
  try {
    await t.step("an allowed method is proxied, a non-standard allowed one too", async () => {
      const get = await send(head("GET /a HTTP/1.1", "g-get"));
      assert.equal(get.status, 200);
      assert.equal(get.body, "from origin");
      const purge = await send(head("PURGE /a HTTP/1.1", "g-purge"));
      assert.equal(purge.status, 200);
      forwarded += 2;
      assert.deepEqual(origin.requests.map((r) => r.method), ["GET", "PURGE"]);
    });

    await t.step("a standard method not allowed: 405 with Allow", async () => {
      const r = await send(head("DELETE /a HTTP/1.1", "g-delete"));
      assert.equal(r.status, 405);
      assert.equal(r.headers.get("allow"), allow);
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.equal(r.body, errorBody("method_not_allowed", "method not allowed", "g-delete"));
      const line = await sprox.waitForLog((l) =>
        l.msg === "request" && l.request_id === "g-delete"
      );
      assert.equal(line.status, 405);
      assert.equal(line.route, "request_gate");
      assert.equal(line.outcome, "method_not_allowed");
      assert.equal(line.method, "DELETE");
    });

    await t.step("TRACE and CONNECT are refused even when listed", async () => {
      const trace = await send(head("TRACE /a HTTP/1.1", "g-trace"));
      assert.equal(trace.status, 405);
      assert.equal(trace.headers.get("allow"), allow);
      assert.equal(trace.body, errorBody("method_not_allowed", "method not allowed", "g-trace"));
      const connect = await send(head("CONNECT gate.test:443 HTTP/1.1", "g-connect"));
      assert.equal(connect.status, 405);
      assert.equal(connect.headers.get("allow"), allow);
    });

    await t.step("an unknown method: 501; a long one is logged cut short", async () => {
      const brew = await send(head("BREW /a HTTP/1.1", "g-brew"));
      assert.equal(brew.status, 501);
      assert.equal(brew.headers.get("allow"), null);
      assert.equal(
        brew.body,
        errorBody("method_not_implemented", "method not implemented", "g-brew"),
      );
      // A lower-case standard name is another method (methods are case-sensitive).
      const lower = await send(head("get /a HTTP/1.1", "g-lower"));
      assert.equal(lower.status, 501);
      const long = await send(head(`${"M".repeat(1000)} /a HTTP/1.1`, "g-long"));
      assert.equal(long.status, 501);
      const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "g-long");
      assert.equal(line.method, `${"M".repeat(16)}…`);
      assert.equal(line.outcome, "method_not_implemented");
      const seventeen = await send(head(`${"P".repeat(17)} /a HTTP/1.1`, "g-17"));
      assert.equal(seventeen.status, 501);
      const at16 = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "g-17");
      assert.equal(at16.method, `${"P".repeat(16)}…`);
      const brewLine = await sprox.waitForLog((l) =>
        l.msg === "request" && l.request_id === "g-brew"
      );
      assert.equal(brewLine.method, "BREW");
    });

    await t.step("OPTIONS * is answered here with Allow", async () => {
      const r = await send(head("OPTIONS * HTTP/1.1", "g-star"));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("allow"), allow);
      assert.equal(r.body, "");
      const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "g-star");
      assert.equal(line.route, "request_gate");
      assert.equal(line.outcome, "ok");
      // An OPTIONS on a resource is still proxied.
      const resource = await send(head("OPTIONS /a HTTP/1.1", "g-options"));
      assert.equal(resource.status, 200);
      forwarded += 1;
    });

    await t.step("request target at the limit passes, one byte more is 414", async () => {
      const at = `/${"a".repeat(MAX_URL_BYTES - 1)}`;
      assert.equal((await send(head(`GET ${at} HTTP/1.1`, "g-url-at"))).status, 200);
      forwarded += 1;
      const over = await send(head(`GET ${at}b HTTP/1.1`, "g-url-over"));
      assert.equal(over.status, 414);
      assert.equal(over.body, errorBody("uri_too_long", "request target too long", "g-url-over"));
      const query = await send(head(`GET /q?${"b".repeat(MAX_URL_BYTES)} HTTP/1.1`, "g-url-q"));
      assert.equal(query.status, 414, "the query counts");
    });

    await t.step("request head at the limit passes, one byte more is 431", async () => {
      // method + target + per field name + value + 4: GET /h, host, x-request-id,
      // connection, x-pad.
      const fixed = 3 + 2 + (4 + 9 + 4) + (12 + 6 + 4) + (10 + 5 + 4) + (5 + 4);
      const pad = (n: number) => [`X-Pad: ${"p".repeat(n)}`];
      const at = await send(head("GET /h HTTP/1.1", "g-hd-0", pad(MAX_HEADER_BYTES - fixed)));
      assert.equal(at.status, 200);
      forwarded += 1;
      const over = await send(
        head("GET /h HTTP/1.1", "g-hd-1", pad(MAX_HEADER_BYTES - fixed + 1)),
      );
      assert.equal(over.status, 431);
      assert.equal(
        over.body,
        errorBody("request_header_fields_too_large", "request header fields too large", "g-hd-1"),
      );
    });

    await t.step("a WebSocket upgrade is refused with 501; an h2c upgrade is ignored", async () => {
      const ws = await send(head("GET /a HTTP/1.1", "g-ws", [
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      ]));
      assert.equal(ws.status, 501);
      assert.equal(
        ws.body,
        errorBody("upgrade_not_supported", "protocol upgrades are not supported", "g-ws"),
      );
      const h2c = await send(
        head("GET /a HTTP/1.1", "g-h2c", ["Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"]),
      );
      assert.equal(h2c.status, 200);
      assert.equal(h2c.body, "from origin");
      forwarded += 1;
    });

    await t.step("nothing refused reached the origin; refusals are counted", async () => {
      assert.equal(origin.requests.length, forwarded);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const count = (labels: string) =>
        Number(
          new RegExp(`^sprox_http_requests_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1] ??
            0,
        );
      assert.equal(count('route="request_gate",method="OTHER",status_class="5xx"'), 4);
      assert.equal(count('route="request_gate",method="DELETE",status_class="4xx"'), 1);
      assert.equal(count('route="request_gate",method="GET",status_class="4xx"'), 3);
      assert.equal(count('route="request_gate",method="OPTIONS",status_class="2xx"'), 1);
    });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
