/**
 * Ambiguous paths never reach an origin: route mode (raw request targets on a socket) and
 * `/proxy/stream` (the `d` destination and every redirect hop) refuse them with the same
 * `403 ambiguous_path`, while legitimate encodings pass byte-exact. The origin records
 * every path it receives.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";
import { startOrigin, streamUrl } from "./_support/direct.ts";

const REQUEST_ID = "path-ambiguity-test";

/** [path as written, description in the refusal message]. */
const AMBIGUOUS: readonly [string, string][] = [
  ["/..;/secret", "dot segment with parameters"],
  ["/a/..;x=1/secret", "dot segment with parameters"],
  ["/%2e%2e;/secret", "dot segment with parameters"],
  ["/.;/secret", "dot segment with parameters"],
  ["/../secret", "dot segment"],
  ["/a/../../secret", "dot segment"],
  ["/%2e%2e/secret", "dot segment"],
  ["/a/.%2E/secret", "dot segment"],
  ["/./secret", "dot segment"],
  ["/%252e%252e/secret", "double percent-encoding"],
  ["/%25%32%65%25%32%65/secret", "double percent-encoding"],
  ["/..%2fsecret", "encoded path separator"],
  ["/..%2Fsecret", "encoded path separator"],
  ["/..%5csecret", "encoded path separator"],
  ["/..%5Csecret", "encoded path separator"],
  ["/..\\secret", "backslash"],
  ["/a%00.ts", "control character"],
  ["/a%0d%0aX-Injected:%201", "control character"],
  ["/%zz", "malformed percent-encoding"],
  ["/%c0%ae%c0%ae/secret", "invalid UTF-8"],
  ["/%e0%80%ae/secret", "invalid UTF-8"],
  ["/%E2%88%95secret", "look-alike of a path separator or dot"],
  ["/%E2%81%84secret", "look-alike of a path separator or dot"],
  ["/%EF%BC%8Fsecret", "look-alike of a path separator or dot"],
  ["/%E2%A7%B8secret", "look-alike of a path separator or dot"],
  ["/%EF%BC%8E%EF%BC%8E/secret", "look-alike of a path separator or dot"],
  ["/%E2%80%A4%E2%80%A4/secret", "look-alike of a path separator or dot"],
  ["/%EF%B9%92%EF%B9%92/secret", "look-alike of a path separator or dot"],
  ["/%E3%80%82/secret", "look-alike of a path separator or dot"],
  ["/\u2215secret", "look-alike of a path separator or dot"],
  ["/\uFF0E\uFF0E/secret", "look-alike of a path separator or dot"],
];

/** Legitimate encodings: [path as sent, path the origin receives (after the base)]. */
const ADMITTED: readonly [string, string][] = [
  ["/a%20b.ts", "/a%20b.ts"],
  ["/a%2Bb.ts", "/a%2Bb.ts"],
  ["/caf%C3%A9.m3u8", "/caf%C3%A9.m3u8"],
  ["/caf\u00e9.m3u8", "/caf%C3%A9.m3u8"],
  ["/seg.ts;v=1", "/seg.ts;v=1"],
];

function refusal(description: string): string {
  return JSON.stringify({
    error: "ambiguous_path",
    message: `ambiguous path: ${description}`,
    request_id: REQUEST_ID,
  });
}

/** One HTTP/1.1 exchange on a raw socket: the request target goes out byte for byte. */
async function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const encoder = new TextEncoder();
    await conn.write(encoder.encode(`GET ${target} HTTP/1.1\r\n`));
    await conn.write(
      encoder.encode(
        `Host: route.test\r\nX-Request-Id: ${REQUEST_ID}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: Uint8Array[] = [];
    const read = (async () => {
      for await (const chunk of conn.readable) chunks.push(chunk);
    })();
    await withTimeout(read, 10_000, `response to ${target}`);
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const [head, ...rest] = text.split("\r\n\r\n");
    const status = Number(head.split(" ")[1]);
    let body = rest.join("\r\n\r\n");
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      let decoded = "";
      for (;;) {
        const eol = body.indexOf("\r\n");
        const size = parseInt(body.slice(0, eol), 16);
        if (!size) break;
        decoded += body.slice(eol + 2, eol + 2 + size);
        body = body.slice(eol + 2 + size + 2);
      }
      body = decoded;
    }
    return { status, body };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the peer.
    }
  }
}

function echoOrigin() {
  return startOrigin((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/vod/redirect") {
      return new Response(null, {
        status: 302,
        headers: { location: url.searchParams.get("to")! },
      });
    }
    // The raw target as received, so the test sees exactly what reached the origin.
    const raw = request.url.slice(request.url.indexOf("/", "http://".length));
    return new Response(raw, { headers: { "content-type": "video/mp2t" } });
  });
}

Deno.test("route mode: ambiguous paths are refused before the origin, legitimate ones pass", async () => {
  const origin = echoOrigin();
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: vod
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${origin.port}/vod" }
rate_limit: { enabled: false }
`);
  try {
    for (const [path, description] of AMBIGUOUS) {
      const response = await rawGet(port, path);
      assert.deepEqual(response, { status: 403, body: refusal(description) }, path);
    }
    assert.deepEqual(origin.requests.map((r) => r.url), [], "the origin saw no request");
    for (const [path, received] of ADMITTED) {
      const response = await rawGet(port, path);
      assert.deepEqual(response, { status: 200, body: `/vod${received}` }, path);
    }
    assert.equal(origin.requests.length, ADMITTED.length);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("/proxy/stream: ambiguous destinations and redirect hops never reach the origin", async () => {
  const origin = echoOrigin();
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit: { enabled: false }
direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/vod/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
`);
  const base = `http://media.test:${origin.port}/vod`;
  const get = async (url: string) => {
    const response = await fetch(url, {
      headers: { "x-request-id": REQUEST_ID },
      signal: deadline(),
    });
    return { status: response.status, body: await response.text() };
  };
  try {
    for (const [path, description] of AMBIGUOUS) {
      const expected = { status: 403, body: refusal(description) };
      assert.deepEqual(await get(streamUrl(port, `${base}${path}`)), expected, path);
      const manifest = `http://127.0.0.1:${port}/proxy/hls/manifest.m3u8?d=${
        encodeURIComponent(`${base}${path}`)
      }`;
      assert.deepEqual(await get(manifest), expected, `manifest ${path}`);
    }
    assert.deepEqual(origin.requests.map((r) => r.url), [], "the origin saw no request");

    // Each redirect hop is classified before it is followed. Plain dot segments in a
    // Location are resolved (RFC 3986 §5.2) like any client does; the result is checked.
    const hops = AMBIGUOUS.filter(([p, d]) => d !== "dot segment" && !/[\\\u0080-\uffff]/.test(p));
    assert.equal(hops.length, 23);
    for (const [path, description] of hops) {
      const redirect = `${base}/redirect?to=${encodeURIComponent(`/vod${path}`)}`;
      assert.deepEqual(
        await get(streamUrl(port, redirect)),
        { status: 403, body: refusal(description) },
        `redirect to ${path}`,
      );
    }
    const denied = JSON.stringify({
      error: "allowlist_denied",
      message: "destination is not allowlisted",
      request_id: REQUEST_ID,
    });
    for (const location of ["/vod/../secret", "/vod/%2e%2e/secret", "../secret"]) {
      const redirect = `${base}/redirect?to=${encodeURIComponent(location)}`;
      assert.deepEqual(await get(streamUrl(port, redirect)), { status: 403, body: denied });
    }
    const seen = new Set(origin.requests.map((r) => new URL(r.url).pathname));
    assert.deepEqual([...seen], ["/vod/redirect"], "only the redirecting URL was fetched");
    origin.requests.length = 0;
    const inside = `${base}/redirect?to=${encodeURIComponent("/vod/a/../b.ts")}`;
    assert.deepEqual(await get(streamUrl(port, inside)), { status: 200, body: "/vod/b.ts" });
    origin.requests.length = 0;

    for (const [path, received] of ADMITTED) {
      const response = await get(streamUrl(port, `${base}${path}`));
      assert.deepEqual(response, { status: 200, body: `/vod${received}` }, path);
    }
    assert.equal(origin.requests.length, ADMITTED.length);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
