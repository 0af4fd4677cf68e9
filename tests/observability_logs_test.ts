/**
 * The request log line and redaction, over real sockets: a hostile run full of secrets, then
 * every log line and all of stderr searched for each of them.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";

/** Every secret the run sends or configures; none may appear in any log output. */
const SECRETS = {
  envBearer: "EnvBearerS3cretValue01",
  directPassword: "DirectPassw0rdSecret02",
  queryPassword: "QueryPasswordSecret03",
  queryToken: "QueryTokenSecret04",
  accessToken: "AccessTokenSecret05",
  queryKey: "QueryKeySecret06",
  querySig: "QuerySigSecret07",
  amzSignature: "AmzSignatureSecret08",
  authorization: "AuthorizationHeaderSecret09",
  cookie: "CookieSessionSecret10",
  headerPassword: "HeaderPasswordSecret11",
  drmKid: "DrmKidSecret12",
  drmSig: "DrmSigSecret13",
  nestedUserinfo: "NestedUserinfoSecret14",
  nestedToken: "NestedTokenSecret15",
  refererToken: "RefererTokenSecret16",
  overrideAuth: "OverrideAuthSecret17",
  setCookie: "UpstreamSetCookieSecret18",
  clearKey: "5ec2e75ec2e75ec2e75ec2e75ec2e75e",
  clearKeyB64: "XsLnXsLnXsLnXsLnXsLnXg",
  proxyPassword: "ProxyPasswordSecret19",
};

Deno.test("no secret reaches a log line or stderr after a hostile run", async () => {
  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("x".repeat(100_000), {
        headers: { "set-cookie": `sid=${SECRETS.setCookie}` },
      }),
  );
  const port = freePort();
  const sprox = await startSprox(
    `routes:
  - id: media
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
direct_stream:
  api_password: "${SECRETS.directPassword}"
  proxy_url: "http://user:${SECRETS.proxyPassword}@127.0.0.1:3128"
secrets:
  clearkey:
    - { kid: "00112233445566778899aabbccddeeff", key: "${SECRETS.clearKey}" }
telemetry:
  log_level: debug
rate_limit:
  enabled: false
`,
    { env: { SPROX_API_PASSWORD: SECRETS.envBearer } },
  );
  const base = `http://127.0.0.1:${port}`;
  const hostile = {
    authorization: `Bearer ${SECRETS.authorization}`,
    cookie: `session=${SECRETS.cookie}`,
    "x-sprox-api-password": SECRETS.headerPassword,
    referer: `https://player.example/watch?token=${SECRETS.refererToken}`,
  };
  const nested = encodeURIComponent(
    `https://u:${SECRETS.nestedUserinfo}@cdn.example/a.mp4?token=${SECRETS.nestedToken}`,
  );
  const targets = [
    `/vod/a.ts?api_password=${SECRETS.queryPassword}&token=${SECRETS.queryToken}` +
    `&access_token=${SECRETS.accessToken}&key=${SECRETS.queryKey}&sig=${SECRETS.querySig}` +
    `&X-Amz-Signature=${SECRETS.amzSignature}&ok=1`,
    `/keys/clearkey?kid=${SECRETS.drmKid}&sig=${SECRETS.drmSig}`,
    `/keys?api_password=${SECRETS.directPassword}`,
    `/proxy/stream?d=${nested}&h_authorization=${SECRETS.overrideAuth}`,
    // A configured secret under an innocent name: only the value scrubber can catch it.
    `/ip?note=${SECRETS.directPassword}&memo=${SECRETS.envBearer}`,
    "/health",
  ];
  try {
    for (const target of targets) {
      const variants: Record<string, string>[] = [
        hostile,
        { authorization: `Bearer ${SECRETS.envBearer}` },
        {},
      ];
      for (const headers of variants) {
        const response = await fetch(`${base}${target}`, { headers, signal: deadline() });
        await response.arrayBuffer();
      }
    }
    // A successful license exchange returns key material; the logs must not.
    const license = await fetch(`${base}/keys/clearkey?api_password=${SECRETS.directPassword}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${SECRETS.envBearer}`,
        "x-sprox-api-password": SECRETS.directPassword,
      },
      body: JSON.stringify({ kids: ["ABEiM0RVZneImaq7zN3u_w"], type: "temporary" }),
      signal: deadline(),
    });
    assertEquals((await license.json()).keys[0].k, SECRETS.clearKeyB64);
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    await sprox.waitForLog((l) =>
      l.msg === "request" && l.route === "clearkey" && l.method === "POST"
    );
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
  }

  const requestLines = sprox.logs.filter((l) => l.msg === "request");
  assertEquals(requestLines.length, targets.length * 3 + 1);
  const everything = [...sprox.logs.map((l) => JSON.stringify(l)), sprox.stderr()].join("\n");
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert(!everything.includes(secret), `${name} leaked into the logs`);
    assert(!everything.includes(encodeURIComponent(secret)), `${name} leaked (encoded)`);
  }
  // Debug level logs headers, with the sensitive ones redacted.
  const withHeaders = requestLines.find((l) =>
    (l.request_headers as Record<string, string> | undefined)?.cookie
  );
  assertEquals((withHeaders?.request_headers as Record<string, string>).cookie, "[REDACTED]");
});

Deno.test("one JSON line per request with the documented fields; X-Request-Id echoed", async () => {
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    // A streamed body of known size without Content-Length: bytes must be counted.
    let left = 5;
    return new Response(
      new ReadableStream({
        pull(controller) {
          if (left-- === 0) return controller.close();
          controller.enqueue(new Uint8Array(10_000));
        },
      }),
    );
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: media
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
`);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/seg.ts?token=abc&q=1`, {
      headers: { "x-request-id": "trace-42" },
      signal: deadline(),
    });
    assertEquals((await response.arrayBuffer()).byteLength, 50_000);
    assertEquals(response.headers.get("x-request-id"), "trace-42");
    const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "trace-42");
    for (const field of ["ts", "level", "msg", "route", "method", "path", "status", "bytes"]) {
      assert(field in line, field);
    }
    assertEquals(line.route, "media");
    assertEquals(line.method, "GET");
    assertEquals(line.path, "/seg.ts?token=[REDACTED]&q=1");
    assertEquals(line.status, 200);
    assertEquals(line.bytes, 50_000);
    assertEquals(line.client_ip, "127.0.0.1");
    assertEquals(line.outcome, "ok");
    assertEquals(typeof line.duration_ms, "number");
    assertEquals(typeof line.upstream_ms, "number");

    const generated = await fetch(`http://127.0.0.1:${port}/ip`, {
      headers: { "x-request-id": "bad id with spaces" },
      signal: deadline(),
    });
    await generated.arrayBuffer();
    const id = generated.headers.get("x-request-id")!;
    assert(/^[0-9a-f-]{36}$/.test(id), `a malformed incoming id is replaced: ${id}`);
    await sprox.waitForLog((l) => l.msg === "request" && l.request_id === id);
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
  }
});

Deno.test("a client that leaves mid-body is logged as 499 client_closed with the bytes sent", async () => {
  const size = 256 * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024);
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let left = size / chunk.length;
    return new Response(
      new ReadableStream({
        pull(controller) {
          if (left-- <= 0) return controller.close();
          controller.enqueue(chunk);
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-length": String(size) } },
    );
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: media
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
`);
  try {
    // A raw socket that reads the start of the body and hangs up.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        "GET /movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: leaver\r\n\r\n",
      ),
    );
    const buffer = new Uint8Array(256 * 1024);
    let received = 0;
    await withTimeout(
      (async () => {
        while (received < 1024 * 1024) {
          const n = await conn.read(buffer);
          if (n === null) throw new Error(`connection closed after ${received} bytes`);
          received += n;
        }
      })(),
      10_000,
      "the first MiB of the body",
    );
    conn.close();
    const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === "leaver");
    assertEquals(line.outcome, "client_closed");
    assertEquals(line.status, 499);
    assertEquals(line.level, "warn");
    const bytes = line.bytes as number;
    assert(bytes >= 1024 * 1024 && bytes < size, `bytes sent before the hang-up: ${bytes}`);
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
  }
});
