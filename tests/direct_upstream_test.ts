/**
 * How `/proxy/stream` reaches upstreams: through a real tinyproxy (`proxy_url` and
 * `SPROX_DIRECT_PROXY_URL`), and over HTTPS with the connection pinned to the checked
 * address while TLS still verifies the name.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  deadline,
  freePort,
  scratchDir,
  selfSignedCertificate,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { directConfig, startOrigin, startTinyproxy, streamUrl } from "./_support/direct.ts";

const ALLOW_MEDIA = `  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http, https] }
    - { domain: "other.test", schemes: [https] }
  hosts:
    "media.test": ["127.0.0.1"]
    "other.test": ["127.0.0.1"]
`;

Deno.test("proxy_url and SPROX_DIRECT_PROXY_URL send requests through tinyproxy", async () => {
  const tinyproxy = await startTinyproxy();
  const origin = startOrigin(() => new Response("via proxy"));
  // The outbound proxy resolves names itself, so the destination is a literal it can reach.
  const block = `direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "127.0.0.1", schemes: [http], paths: ["/allowed/**"] }
`;
  const port = freePort();
  const sprox = await startSprox(
    directConfig(port, `${block}  proxy_url: "http://127.0.0.1:${tinyproxy.port}"\n`),
  );
  const envPort = freePort();
  const fromEnv = await startSprox(directConfig(envPort, block), {
    env: { SPROX_DIRECT_PROXY_URL: `http://127.0.0.1:${tinyproxy.port}` },
  });
  try {
    for (const p of [port, envPort]) {
      const response = await fetch(streamUrl(p, `http://127.0.0.1:${origin.port}/allowed/${p}`), {
        signal: deadline(),
      });
      assertEquals(response.status, 200);
      assertEquals(await response.text(), "via proxy");
      const seen = origin.requests.at(-1)!;
      assert(seen.url.endsWith(`/allowed/${p}`));
      assert(/tinyproxy/.test(seen.headers.get("via") ?? ""), "request did not pass the proxy");
      // The allowlist still applies in front of the proxy.
      const denied = await fetch(streamUrl(p, `http://127.0.0.1:${origin.port}/other`), {
        signal: deadline(),
      });
      assertEquals(denied.status, 403);
      await denied.body?.cancel();
    }
    assertEquals(origin.requests.length, 2);
    const log = await Deno.readTextFile(`${tinyproxy.dir}/tinyproxy.log`);
    assert(log.includes(`/allowed/${port}`) && log.includes(`/allowed/${envPort}`), log);
  } finally {
    await sprox.stop();
    await fromEnv.stop();
    await origin.close();
    await tinyproxy.stop();
  }
});

Deno.test("https is pinned to the checked address and still verifies the name", async () => {
  const dir = await scratchDir();
  const { cert, key } = await selfSignedCertificate(dir, {
    commonName: "media.test",
    subjectAltName: "DNS:media.test",
    leaf: true,
  });
  const seen: string[] = [];
  const tls = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
    onListen() {},
  }, (request) => {
    seen.push(new URL(request.url).host);
    return new Response("secure bytes", { headers: { "content-type": "video/mp4" } });
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(port, `direct_stream:\n${ALLOW_MEDIA}`), {
    env: { DENO_CERT: cert },
  });
  try {
    const ok = await fetch(streamUrl(port, `https://media.test:${tls.addr.port}/v.mp4`), {
      signal: deadline(),
    });
    assertEquals(ok.status, 200);
    assertEquals(await ok.text(), "secure bytes");
    assertEquals(seen, [`media.test:${tls.addr.port}`]);
    // Same address, a name the certificate does not cover: TLS verification fails.
    const wrong = await fetch(streamUrl(port, `https://other.test:${tls.addr.port}/v.mp4`), {
      signal: deadline(),
    });
    assertEquals(wrong.status, 502);
    await wrong.body?.cancel();
    assertEquals(seen.length, 1);
  } finally {
    await sprox.stop();
    await withTimeout(tls.shutdown(), 10_000, "the TLS origin to shut down");
  }
});
