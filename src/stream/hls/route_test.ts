import assert from "node:assert/strict";
import { HlsSchema } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { transformRoutePlaylist } from "./mod.ts";

const PLAYLIST = "#EXTM3U\n#EXTINF:4,\nseg1.ts\n#EXTINF:4,\nhttp://other.example/seg2.ts\n";
const origin = new URL("http://origin.internal/vod");

function options(hls: Record<string, unknown>, clientProtocol: "http" | "https") {
  return {
    routeId: "r",
    origin,
    hls: HlsSchema.parse(hls),
    clientProtocol,
    directLink: null,
  };
}

function upstream(): Response {
  return new Response(PLAYLIST, { headers: { "content-type": "application/vnd.apple.mpegurl" } });
}

Deno.test("check-only routes answer the playlist as it came when it passes the guard", async () => {
  const out = await transformRoutePlaylist(
    upstream(),
    "http://origin.internal/vod/a/index.m3u8",
    options({ enabled: true }, "http"),
  );
  assert.equal(await out.text(), PLAYLIST);
});

Deno.test("check-only routes refuse http:// references served over https", async () => {
  await assert.rejects(
    transformRoutePlaylist(
      upstream(),
      "http://origin.internal/vod/a/index.m3u8",
      options({ enabled: true }, "https"),
    ),
    (e: unknown) => e instanceof ProxyError && e.reason === "insecure_reference",
  );
  const allowed = await transformRoutePlaylist(
    upstream(),
    "http://origin.internal/vod/a/index.m3u8",
    options({ enabled: true, allow_insecure_segments: true }, "https"),
  );
  assert.equal(await allowed.text(), PLAYLIST);
});

Deno.test("routes without hls.enabled pass playlists through unread", async () => {
  const response = upstream();
  const out = await transformRoutePlaylist(
    response,
    "http://origin.internal/vod/a/index.m3u8",
    options({}, "https"),
  );
  assert.equal(out, response);
});
