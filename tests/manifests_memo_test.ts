/**
 * Route mode and direct mode answer repeated playlist requests from one rewrite
 * (`src/stream/hls/output_memo.ts`): the output is reused only for the same source, key and
 * plan (route mode: route, scheme, playlist URL; direct mode: the request's path and query
 * and the playlist's final URL). Over real sockets: repeated requests get the same bytes and
 * ETag, and `sprox_manifest_transform_duration_seconds` counts one rewrite; the same bytes at
 * another path or through another redirect, other query parameters, a new version from the
 * origin and a reload that changes the rewrite each get a fresh output.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

const PLAYLIST = (version: number) =>
  [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-TARGETDURATION:4",
    `#EXT-X-MEDIA-SEQUENCE:${version}`,
    "#EXTINF:4.0,",
    `seg${version}.ts`,
    "#EXTINF:4.0,",
    `seg${version + 1}.ts?x=1`,
    "",
  ].join("\n");

/** The playlist as the route publishes it under `base` for the directory `dir`. */
const REWRITTEN = (version: number, base: string, dir: string) =>
  [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-TARGETDURATION:4",
    `#EXT-X-MEDIA-SEQUENCE:${version}`,
    "#EXTINF:4.0,",
    `${base}/${dir}/seg${version}.ts`,
    "#EXTINF:4.0,",
    `${base}/${dir}/seg${version + 1}.ts?x=1`,
    "",
  ].join("\n");

function config(port: number, origin: string, base: string): string {
  return `routes:
  - id: live
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin}" }
    hls: { enabled: true, rewrite_playlist_urls: true, base_url: "${base}" }
rate_limit: { enabled: false }
`;
}

async function get(port: number, path: string) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: deadline() });
  return {
    status: response.status,
    etag: response.headers.get("etag"),
    type: response.headers.get("content-type"),
    body: await response.text(),
  };
}

Deno.test("route playlists: one rewrite per source version, never a stale or foreign output", async () => {
  let version = 1;
  let served = 0;
  const origin = await startOrigin(() => {
    served++;
    return new Response(PLAYLIST(version), {
      headers: { "content-type": "application/vnd.apple.mpegurl", "cache-control": "no-cache" },
    });
  });
  const port = freePort();
  const sprox = await startSprox(config(port, origin.url, "https://one.example"));
  try {
    const first = await get(port, "/a/index.m3u8");
    assert.deepEqual(
      { status: first.status, type: first.type, body: first.body },
      {
        status: 200,
        type: "application/vnd.apple.mpegurl",
        body: REWRITTEN(1, "https://one.example", "a"),
      },
    );
    assert.match(first.etag ?? "", /^"[0-9a-f]{16}-[0-9a-f]+"$/);
    // Repeated: the same bytes and validator (from the remembered rewrite).
    for (let i = 0; i < 5; i++) assert.deepEqual(await get(port, "/a/index.m3u8"), first);
    assert.equal(served, 6, "every request still goes to the origin (no cache on this route)");
    // The same source bytes at another path resolve against that path.
    const other = await get(port, "/b/index.m3u8");
    assert.equal(other.body, REWRITTEN(1, "https://one.example", "b"));
    assert.notEqual(other.etag, first.etag);
    assert.deepEqual(await get(port, "/a/index.m3u8"), first);
    // A new version from the origin: a new output at once.
    version = 2;
    const next = await get(port, "/a/index.m3u8");
    assert.equal(next.body, REWRITTEN(2, "https://one.example", "a"));
    assert.notEqual(next.etag, first.etag);
    // A reload that changes the rewrite: the same source gets the new plan's output.
    await Deno.writeTextFile(sprox.configPath, config(port, origin.url, "https://two.example"));
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    assert.equal((await get(port, "/a/index.m3u8")).body, REWRITTEN(2, "https://two.example", "a"));
    // Back to the first version: rewritten under the new plan, not the first output.
    version = 1;
    assert.equal((await get(port, "/a/index.m3u8")).body, REWRITTEN(1, "https://two.example", "a"));
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

/** How many playlist rewrites sProx has counted. */
async function rewrites(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() });
  const text = await response.text();
  const match = text.match(
    /^sprox_manifest_transform_duration_seconds_count\{kind="hls_rewrite"\} (\d+)$/m,
  );
  return match ? Number(match[1]) : 0;
}

Deno.test("direct playlists: one rewrite per source version and request, never a stale or foreign output", async () => {
  let version = 1;
  let redirectTo = "/a/index.m3u8";
  const origin = await startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/r/index.m3u8") {
      return new Response(null, { status: 302, headers: { location: redirectTo } });
    }
    return new Response(PLAYLIST(version), {
      headers: { "content-type": "application/vnd.apple.mpegurl", "cache-control": "no-cache" },
    });
  });
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: edge
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
tokens: { aes_key: "${"4d".repeat(32)}" }
direct_stream:
  api_password: "memo-test-password"
  allow_private_networks: true
  allowlist:
    - { domain: "127.0.0.1", schemes: [http] }
rate_limit: { enabled: false }
`);
  const at = (path: string) => `${origin.url}${path}`;
  const request = (d: string, referer: string) =>
    `/proxy/hls/manifest.m3u8?d=${encodeURIComponent(d)}&h_referer=${referer}` +
    "&api_password=memo-test-password";
  /** The playlist as direct mode links it: each segment through /proxy/stream. */
  const linked = (v: number, dir: string, referer: string) => {
    const link = (name: string, query = "") =>
      `/proxy/stream/${name}?d=${encodeURIComponent(at(`/${dir}/${name}${query}`))}` +
      `&h_referer=${referer}&api_password=memo-test-password`;
    return [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:4",
      `#EXT-X-MEDIA-SEQUENCE:${v}`,
      "#EXTINF:4.0,",
      link(`seg${v}.ts`),
      "#EXTINF:4.0,",
      link(`seg${v + 1}.ts`, "?x=1"),
      "",
    ].join("\n");
  };
  try {
    const first = await get(port, request(at("/a/index.m3u8"), "one"));
    assert.deepEqual(
      { status: first.status, type: first.type, body: first.body },
      { status: 200, type: "application/vnd.apple.mpegurl", body: linked(1, "a", "one") },
    );
    assert.match(first.etag ?? "", /^"[0-9a-f]{16}-[0-9a-f]+"$/);
    const counted = await rewrites(port);
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await get(port, request(at("/a/index.m3u8"), "one")), first);
    }
    assert.equal(await rewrites(port), counted, "repeated requests are answered from one rewrite");
    // Other parameters on the request: links carry them.
    const other = await get(port, request(at("/a/index.m3u8"), "two"));
    assert.equal(other.body, linked(1, "a", "two"));
    // The same request, redirected elsewhere: references resolve against the new location.
    assert.equal(
      (await get(port, request(at("/r/index.m3u8"), "one"))).body,
      linked(1, "a", "one"),
    );
    redirectTo = "/b/index.m3u8";
    assert.equal(
      (await get(port, request(at("/r/index.m3u8"), "one"))).body,
      linked(1, "b", "one"),
    );
    // A new version from the origin: a new output at once.
    version = 2;
    const next = await get(port, request(at("/a/index.m3u8"), "one"));
    assert.equal(next.body, linked(2, "a", "one"));
    assert.notEqual(next.etag, first.etag);
    assert.equal(await rewrites(port), counted + 4);

    // Signed URLs (two viewers, two expiries): each playlist links with its own token's
    // expiry, never with the other's.
    const mint = async (expiration: number) => {
      const response = await fetch(`http://127.0.0.1:${port}/generate_url`, {
        method: "POST",
        body: JSON.stringify({
          mediaflow_proxy_url: `http://127.0.0.1:${port}`,
          endpoint: "/proxy/hls/manifest.m3u8",
          destination_url: at("/a/index.m3u8"),
          api_password: "memo-test-password",
          expiration,
        }),
        signal: deadline(),
      });
      assert.equal(response.status, 200);
      return new URL((await response.json()).url).pathname;
    };
    const signedLinks = async (path: string) => {
      const answer = await get(port, path);
      assert.equal(answer.status, 200);
      const links = answer.body.split("\n").filter((line) => line.startsWith("/_token_"));
      assert.equal(links.length, 2, answer.body);
      return links;
    };
    const viewerOne = await signedLinks(await mint(600));
    const viewerTwo = await signedLinks(await mint(900));
    for (const [i, link] of viewerTwo.entries()) assert.notEqual(link, viewerOne[i]);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
