/**
 * Key sources against a running sProx: a remote key server reached over HTTPS with a client
 * certificate (nginx on loopback requiring one, signed by a test CA made with openssl, in
 * front of a small license handler), its keys cached in the store for the source's TTL, the
 * lookup timed in `sprox_drm_key_lookup_duration_seconds`; a source without the certificate
 * refused by the server; and the key source named per route and per direct request.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, freePort, runCli, scratchDir, startSprox } from "./_support/mod.ts";
import { makeTestPki, startOrigin } from "./_support/origins.ts";
import { type Daemon, startNginx } from "./_support/direct.ts";
import { b64url, hexOfB64url } from "./_support/encoding.ts";

const KID_A = "0123456789abcdef0123456789abcdef";
const KID_B = "fedcba9876543210fedcba9876543210";
const KID_C = "00000000000000000000000000000001";
const KID_PROTECTED = "0123abcd0123abcd0123abcd0123abcd";
const KEYS: Record<string, string> = {
  [KID_A]: "aa".repeat(16),
  [KID_B]: "bb".repeat(16),
  [KID_C]: "cc".repeat(16),
};

const MPD = `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" type="static" mediaPresentationDuration="PT4S" minBufferTime="PT2S">
  <Period>
    <AdaptationSet mimeType="video/mp4" codecs="avc1.4d401f" width="640" height="360">
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc" cenc:default_KID="0123abcd-0123-abcd-0123-abcd0123abcd"/>
      <SegmentTemplate timescale="1" duration="2" initialization="init.mp4" media="$Number$.m4s"/>
      <Representation id="enc" bandwidth="700000"/>
    </AdaptationSet>
  </Period>
</MPD>
`;

/** nginx terminating TLS on loopback, requiring a client certificate of `ca`. */
function startMtlsNginx(
  server: { certPath: string; keyPath: string; caPath: string },
  backend: number,
): Promise<Daemon> {
  return startNginx(
    "",
    ` ssl;
    ssl_certificate ${server.certPath};
    ssl_certificate_key ${server.keyPath};
    ssl_client_certificate ${server.caPath};
    ssl_verify_client on;
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_set_header X-Client-Verify $ssl_client_verify;
      proxy_set_header X-Client-Subject $ssl_client_s_dn;
    }`,
  );
}

Deno.test("key sources: a remote key server over mTLS, cached with its TTL, named per route and request", async (t) => {
  const dir = await scratchDir();
  const server = await makeTestPki(dir, "kms", "kms.test");
  const client = await makeTestPki(dir, "client", "sprox-client", "DNS:sprox-client", "clientAuth");
  const asked: { kids: string[]; verify: string | null; subject: string | null }[] = [];
  const backend = await startOrigin(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/content/protected.mpd") {
      return new Response(MPD, { headers: { "content-type": "application/dash+xml" } });
    }
    const body = await request.json() as { kids: string[] };
    const kids = body.kids.map(hexOfB64url);
    asked.push({
      kids,
      verify: request.headers.get("x-client-verify"),
      subject: request.headers.get("x-client-subject"),
    });
    const keys = kids.filter((kid) => KEYS[kid]).map((kid) => ({
      kty: "oct",
      kid: b64url(kid),
      k: b64url(KEYS[kid]),
    }));
    return Response.json({ keys });
  });
  const nginx = await startMtlsNginx(server, backend.port);
  const kms = `https://127.0.0.1:${nginx.port}/license`;
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const withCert = `client_certificate_path: "${client.certPath}"
      client_key_path: "${client.keyPath}"
      ca_bundle_path: "${server.caPath}"`;
  const sprox = await startSprox(`
routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${backend.url}/content" }
    dash: { to_hls: true }
    drm: { key_source: kms }
telemetry: { enabled: true, log_level: info }
rate_limit: { enabled: false }
secrets:
  key_sources:
    - id: kms
      url: "${kms}"
      ttl_secs: 60
      ${withCert}
    - id: short
      url: "${kms}"
      ttl_secs: 1
      ${withCert}
    - id: nocert
      url: "${kms}"
      ca_bundle_path: "${server.caPath}"
direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/content/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
`);
  const license = async (kid: string, source?: string) => {
    const response = await fetch(
      `${base}/keys/clearkey${source ? `?source=${source}` : ""}`,
      {
        method: "POST",
        body: JSON.stringify({ kids: [b64url(kid)], type: "temporary" }),
        signal: deadline(),
      },
    );
    return [response.status, await response.json()];
  };
  const found = (kid: string) => ({
    keys: [{ kty: "oct", kid: b64url(kid), k: b64url(KEYS[kid]) }],
    type: "temporary",
  });
  try {
    await t.step(
      "a license for an unknown kid is fetched from the key server with the client certificate",
      async () => {
        assertEquals(await license(KID_A), [200, found(KID_A)]);
        assertEquals(asked.length, 1);
        assertEquals(asked[0].kids, [KID_A]);
        assertEquals(asked[0].verify, "SUCCESS");
        assert(asked[0].subject?.includes("CN=sprox-client"), String(asked[0].subject));
      },
    );

    await t.step("the fetched key is cached in the store for the source's TTL", async () => {
      assertEquals(await license(KID_A, "kms"), [200, found(KID_A)]);
      assertEquals(asked.length, 1, "answered from the store");
      const list = await (await fetch(`${base}/keys`, { signal: deadline() })).json();
      const entry = list.keys.find((k: { id: string }) => k.id === KID_A);
      assert(
        entry && entry.expires_in_secs > 50 && entry.expires_in_secs <= 60,
        JSON.stringify(list),
      );

      assertEquals(await license(KID_B, "short"), [200, found(KID_B)]);
      assertEquals(await license(KID_B, "short"), [200, found(KID_B)]);
      assertEquals(asked.length, 2);
      await new Promise((r) => setTimeout(r, 1100));
      assertEquals(await license(KID_B, "short"), [200, found(KID_B)]);
      assertEquals(asked.length, 3, "expired after ttl_secs: fetched again");
    });

    await t.step("a source without the client certificate is refused by the server", async () => {
      assertEquals(await license(KID_C, "nocert"), [200, { keys: [], type: "temporary" }]);
      assertEquals(asked.length, 3, "nginx refused it before the handler");
      await sprox.waitForLog((l) => l.msg === "key source failed" && l.source === "nocert");
      const [status, body] = await license(KID_C, "bogus");
      assertEquals([status, body.error, body.message], [
        400,
        "bad_request",
        "source names no configured key source",
      ]);
    });

    await t.step("lookups are timed by source and outcome", async () => {
      const metrics = await (await fetch(`${base}/metrics`, { signal: deadline() })).text();
      const count = (labels: string) =>
        Number(
          new RegExp(`^sprox_drm_key_lookup_duration_seconds_count\\{${labels}\\} (\\d+)`, "m")
            .exec(metrics)?.[1] ?? -1,
        );
      assertEquals(count('source="remote",outcome="found"'), 3);
      assertEquals(count('source="remote",outcome="error"'), 1);
      assertEquals(count('source="store",outcome="found"'), 2);
      assertEquals(count('source="store",outcome="missing"'), 4);
    });

    await t.step("key URIs name the key source of the route and of a direct request", async () => {
      const hex = KID_PROTECTED;
      const route = await fetch(`${base}/protected.mpd/video-enc.m3u8`, { signal: deadline() });
      assertEquals(route.status, 200);
      assert(
        (await route.text()).includes(`URI="/keys/clearkey?kid=${hex}&source=kms"`),
        "route key URI",
      );
      const mpd = encodeURIComponent(`http://media.test:${backend.port}/content/protected.mpd`);
      const direct = await fetch(
        `${base}/proxy/mpd/playlist.m3u8?d=${mpd}&rendition=video-enc&key_source=short`,
        { signal: deadline() },
      );
      assertEquals(direct.status, 200);
      assert((await direct.text()).includes(`URI="/keys/clearkey?kid=${hex}&source=short"`));
      const unknown = await fetch(
        `${base}/proxy/mpd/playlist.m3u8?d=${mpd}&rendition=video-enc&key_source=bogus`,
        { signal: deadline() },
      );
      assertEquals([unknown.status, (await unknown.json()).message], [
        400,
        "key_source names no configured key source",
      ]);
    });
  } finally {
    await sprox.stop();
    await nginx.stop();
    await backend.close();
  }
});

Deno.test("sprox validate refuses key sources that cannot work", async () => {
  const validate = async (secrets: string, drm = "") => {
    const dir = await scratchDir();
    await Deno.writeTextFile(
      `${dir}/routes.yaml`,
      `routes:
  - id: main
    listen: { port: ${freePort()} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
    ${drm}
secrets:
  key_sources:
${secrets}
`,
    );
    const result = await runCli(["validate", "-c", dir]);
    assertEquals(result.code, 1, result.stderr);
    return result.stderr.split("\n").filter((l) => l.includes("error:"))
      .map((l) => l.slice(l.indexOf("error:"))).sort();
  };
  assertEquals(
    await validate(
      `    - { id: a, url: "https://kms.example/license", client_certificate_path: "config/none.pem" }
    - { id: a, url: "https://kms.example/other" }`,
      "drm: { key_source: nope }",
    ),
    [
      `error: 'routes[0].drm.key_source' must name one of secrets.key_sources[].id: "nope" is not configured`,
      `error: 'secrets.key_sources[0].client_certificate_path' must name an existing file: "config/none.pem" not found`,
      `error: 'secrets.key_sources[0].client_key_path' must be set together with client_certificate_path`,
      `error: 'secrets.key_sources[1].id' must be unique: "a" is also secrets.key_sources[0].id`,
    ],
  );
  assertEquals(await validate(`    - { id: a, url: "http://kms.example/license" }`), [
    `error: 'secrets.key_sources[0].url' must be an absolute https URL: current value is "http://kms.example/license"`,
  ]);
});
