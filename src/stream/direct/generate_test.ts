import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ConfigSchema } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { compileDirectStream, type DirectPlan } from "./compile.ts";
import { locateDirectEndpoint } from "./endpoints.ts";
import { generateUrl, readGenerateRequest } from "./generate.ts";

function plan(tokens: Record<string, unknown> = {}): DirectPlan {
  const config = ConfigSchema.parse({
    routes: [{
      id: "r",
      listen: { port: 8080 },
      host_patterns: ["*"],
      upstream: { origin: "http://127.0.0.1:9" },
    }],
    direct_stream: {
      allowlist: [{ domain: "cdn.example", schemes: ["https"] }],
      response_header_overrides: ["content-type", "cache-control"],
    },
    tokens,
  });
  return compileDirectStream(config)!;
}

const NOW = 1_700_000_000;
const BASE = { mediaflow_proxy_url: "https://sprox.example/" };

async function generate(body: Record<string, unknown>, direct = plan()): Promise<string> {
  try {
    const request = readGenerateRequest({ ...BASE, ...body }, false);
    return await generateUrl(request.items[0], request.common, direct, NOW);
  } finally {
    direct.dispose();
  }
}

async function refusal(body: Record<string, unknown>, direct = plan()): Promise<string> {
  try {
    return `admitted ${await generate(body, direct)}`;
  } catch (error) {
    assert(error instanceof ProxyError, String(error));
    return `${error.status} ${error.reason} ${error.message}`;
  }
}

Deno.test("locateDirectEndpoint() maps MediaFlow's paths to endpoints", () => {
  assertEquals(locateDirectEndpoint("/proxy/stream/a/My%20Film.mkv"), undefined);
  assertEquals(locateDirectEndpoint("/proxy/stream/My%20Film.mkv"), {
    kind: "stream",
    canonical: "/proxy/stream",
    filename: "My Film.mkv",
  });
  assertEquals(locateDirectEndpoint("/proxy/hls/segment.ts")?.kind, "stream");
  assertEquals(locateDirectEndpoint("/proxy/hls/segment.ts")?.canonical, "/proxy/hls/segment.ts");
  assertEquals(locateDirectEndpoint("/proxy/hls/key_proxy/manifest.m3u8")?.kind, "hls_keys");
  assertEquals(locateDirectEndpoint("/proxy/mpd/playlist.m3u8")?.kind, "mpd");
  assertEquals(locateDirectEndpoint("/proxy/mpd/segment.mp4")?.kind, "mpd_segment");
  assertEquals(locateDirectEndpoint("/proxy/decrypt/s.m4s")?.filename, "s.m4s");
  assertEquals(locateDirectEndpoint("/proxy/decrypt/a/b"), undefined);
  assertEquals(locateDirectEndpoint("/proxy/hls/segment"), undefined);
  assertEquals(locateDirectEndpoint("/proxy/other"), undefined);
});

Deno.test("generateUrl() writes a plain URL with MediaFlow's parameters, in their order", async () => {
  const url = await generate({
    endpoint: "/proxy/stream",
    destination_url: "https://cdn.example/v/film.mkv",
    query_params: { api_password: "pw", token: "dropped" },
    request_headers: { referer: "https://p.example/", "h_user-agent": "UA" },
    response_headers: { "cache-control": "no-cache" },
    propagate_response_headers: { "content-type": "video/mp2t" },
    remove_response_headers: ["content-length"],
    filename: "My Film.mkv",
  });
  assertEquals(
    url,
    "https://sprox.example/proxy/stream/My%20Film.mkv?d=https%3A%2F%2Fcdn.example%2Fv%2Ffilm.mkv" +
      "&api_password=pw&h_referer=https%3A%2F%2Fp.example%2F&h_user-agent=UA" +
      "&r_cache-control=no-cache&rp_content-type=video%2Fmp2t&x_headers=content-length",
  );
  const encoded = await generate({
    endpoint: "/proxy/hls/manifest.m3u8",
    destination_url: "https://cdn.example/v/index.m3u8",
    base64_encode_destination: true,
  });
  assertEquals(
    encoded,
    "https://sprox.example/proxy/hls/manifest.m3u8?d=aHR0cHM6Ly9jZG4uZXhhbXBsZS92L2luZGV4Lm0zdTg",
  );
});

Deno.test("generateUrl() signs when asked, with the expiry and address inside", async () => {
  const direct = plan({ aes_key: "cd".repeat(32) });
  const keys = direct.tokens.keys!;
  const url = await generate({
    endpoint: "/proxy/stream",
    destination_url: "https://cdn.example/v/film.mkv",
    request_headers: { referer: "https://p.example/" },
    api_password: "pw",
    expiration: 600,
    ip: "203.0.113.9",
    filename: "film.mkv",
  }, direct);
  const match = /^https:\/\/sprox\.example\/_token_([A-Za-z0-9_-]+)\/proxy\/stream\/film\.mkv$/
    .exec(url);
  assert(match, url);
  assertEquals(await keys.open(match[1]), {
    endpoint: "/proxy/stream",
    params: [["d", "https://cdn.example/v/film.mkv"], ["h_referer", "https://p.example/"]],
    exp: NOW + 600,
    ip: "203.0.113.9",
  });
  // Without an expiration the default lifetime applies.
  const plain = await generate(
    { destination_url: "https://cdn.example/a.mp4", ip: "::1" },
    plan({
      signing_secret: btoa("k".repeat(32)),
      default_ttl_secs: 3600,
    }),
  );
  assert(/\/_token_[A-Za-z0-9_-]+\/proxy\/stream$/.test(plain), plain);
});

Deno.test("generateUrl() refuses what sProx would refuse when the URL is used", async () => {
  assertEquals(
    await refusal({ destination_url: "https://elsewhere.example/a.mp4" }),
    "403 allowlist_denied destination is not allowlisted",
  );
  assertEquals(
    await refusal({ destination_url: "https://cdn.example/a", request_headers: { cookie: "a" } }),
    '400 bad_override header override "cookie" is not allowed',
  );
  assertEquals(
    await refusal({
      destination_url: "https://cdn.example/a",
      response_headers: { "set-cookie": "a" },
    }),
    '400 bad_override response override "set-cookie" is not allowed',
  );
  assertEquals(
    await refusal({ endpoint: "/admin", destination_url: "https://cdn.example/a" }),
    "400 bad_request 'endpoint' names no sProx endpoint: /admin",
  );
  assertEquals(
    await refusal({
      endpoint: "/proxy/hls/manifest.m3u8",
      destination_url: "https://cdn.example/a",
      filename: "x",
    }),
    "400 bad_request 'filename' is only for the /proxy/stream endpoint",
  );
  assertEquals(
    await refusal({ destination_url: "https://cdn.example/a", api_password: "pw" }),
    "400 bad_request signed URLs are not configured on this server (AES_KEY or SIGNING_SECRET)",
  );
  assertEquals(
    await refusal(
      { destination_url: "https://cdn.example/a", expiration: 604801 },
      plan({ aes_key: "cd".repeat(32) }),
    ),
    "400 bad_request 'expiration' may be at most 604800 seconds",
  );
  assertEquals(
    await refusal({ destination_url: "https://cdn.example/a", ip: "host.example" }),
    "400 bad_request 'ip' must be an IP address",
  );
  assertEquals(
    await refusal({ mediaflow_proxy_url: "ftp://x", destination_url: "https://cdn.example/a" }),
    "400 bad_request 'mediaflow_proxy_url' must be the absolute http(s) URL of this server",
  );
});

Deno.test("readGenerateRequest() reads /generate_urls bodies and bounds them", () => {
  const many = readGenerateRequest({
    ...BASE,
    api_password: "pw",
    expiration: 60,
    urls: [{ destination_url: "https://cdn.example/1" }, {
      destination_url: "https://cdn.example/2",
      endpoint: "/proxy/hls/manifest.m3u8",
    }],
  }, true);
  assertEquals(many.common, {
    baseUrl: "https://sprox.example",
    apiPassword: "pw",
    expiration: 60,
    ip: null,
  });
  assertEquals(many.items.map((i) => [i.endpoint, i.destinationUrl]), [
    ["/proxy/stream", "https://cdn.example/1"],
    ["/proxy/hls/manifest.m3u8", "https://cdn.example/2"],
  ]);
  for (
    const body of [{ ...BASE }, { ...BASE, urls: [] }, { ...BASE, urls: Array(1001).fill({}) }]
  ) {
    assert.throws(() => readGenerateRequest(body, true), (e: unknown) => e instanceof ProxyError);
  }
});

Deno.test("generateUrl() needs a destination where the endpoint reads d, and only there", async () => {
  assertEquals(
    await refusal({ endpoint: "/proxy/hls/manifest.m3u8" }),
    "400 bad_request 'destination_url' is required for this endpoint",
  );
  assertEquals(
    await refusal({
      endpoint: "/proxy/mpd/init.mp4",
      query_params: { init_url: "https://cdn.example/i.mp4", mime_type: "video/mp4" },
    }),
    "admitted https://sprox.example/proxy/mpd/init.mp4?init_url=https%3A%2F%2Fcdn.example%2Fi.mp4&mime_type=video%2Fmp4",
  );
  assertEquals(
    await refusal({ endpoint: "/proxy/ip" }),
    "admitted https://sprox.example/proxy/ip",
  );
});
