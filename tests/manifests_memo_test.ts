/**
 * Route mode answers repeated playlist requests from one rewrite (`src/stream/hls/
 * output_memo.ts`): the output is reused only for the same source bytes, route, scheme,
 * playlist URL and plan. Over real sockets: repeated requests get the same bytes and ETag;
 * the same bytes at another path, a new version from the origin and a reload that changes
 * the rewrite each get a fresh output.
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
