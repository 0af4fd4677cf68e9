/**
 * Playlist rewriter micro-benchmark: µs per playlist and ns per URI for a 2 KiB and a 64 KiB
 * media playlist, in-process, no sockets. Rows: the fixed cost (route resolver built per
 * request, one-segment playlist), the rewrite alone with a prepared resolver (route,
 * direct, check-only), and the whole per-request transform of a route
 * (`transformRoutePlaylist`: read the body, build the resolver, rewrite, answer) with
 * `rewrite_playlist_urls` on and off. Times are the best batch over the run, which is
 * steadier than the median on a machine shared with other work.
 *
 *   deno run -A scripts/bench/rewrite.ts [--quick]
 * @module
 */
import {
  checkPlaylist,
  directModeResolver,
  type ReferenceResolver,
  rewritePlaylist,
  routeModeResolver,
  routeResolver,
  transformRoutePlaylist,
  withDirectoryMapping,
} from "../../src/stream/hls/mod.ts";

const PLAYLIST_URL = "https://origin.example/vod/show/index.m3u8?token=abc";

/** A media playlist of about `bytes` bytes: tokenised relative segments, a key every 500. */
export function sizedPlaylist(bytes: number): { text: string; uris: number } {
  let text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:0\n" +
    '#EXT-X-MAP:URI="init.mp4"\n';
  let uris = 1;
  for (let i = 0; text.length < bytes - 60; i++) {
    if (i % 500 === 0) {
      text += `#EXT-X-KEY:METHOD=AES-128,URI="https://keys.origin.example/k/${i}?t=abc"\n`;
      uris++;
    }
    text += `#EXTINF:6.006,\nvideo/1080p/segment_${String(i).padStart(5, "0")}.m4s?tok=f00d\n`;
    uris++;
  }
  return { text: text + "#EXT-X-ENDLIST\n", uris };
}

const HLS = {
  enabled: true,
  rewrite_playlist_urls: true,
  base_url: "https://cdn.example/hls/",
  allow_insecure_segments: false,
  cross_origin: "direct_stream" as const,
  max_manifest_bytes: 16 * 1024 * 1024,
};

function prepared(): [string, ReferenceResolver, boolean][] {
  return [
    [
      "route",
      routeModeResolver({
        origin: "https://origin.example/vod",
        baseUrl: "https://cdn.example/hls/",
        crossOrigin: "direct_stream",
        directLink: directModeResolver(),
      }),
      false,
    ],
    ["direct", directModeResolver({ overrides: [["h_referer", "https://p.example/"]] }), false],
    ["check-only", withDirectoryMapping((url) => url, (directory) => directory), true],
  ];
}

/** Best µs per call of `fn`, run in batches of `batch` for at least `minMs`. */
async function measure(
  fn: () => unknown,
  batch: number,
  minMs: number,
): Promise<number> {
  for (let i = 0; i < batch; i++) await fn();
  let best = Infinity;
  const until = performance.now() + minMs;
  while (performance.now() < until) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    best = Math.min(best, (performance.now() - start) / batch);
  }
  return best * 1000;
}

/** Runs the rewriter benchmark and returns markdown lines. */
export async function runRewriteBench(quick: boolean): Promise<string[]> {
  const minMs = quick ? 300 : 1500;
  const lines = [
    "| input | path | µs per playlist | ns per URI |",
    "|---|---|---|---|",
  ];
  const origin = new URL("https://origin.example/vod");
  const directLink = directModeResolver();
  const one = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg.ts\n";
  const request = { origin, hls: HLS, clientProtocol: "http" as const, directLink };
  const fixed = await measure(
    () =>
      rewritePlaylist(one, {
        playlistUrl: PLAYLIST_URL,
        resolve: routeResolver(PLAYLIST_URL, request),
      }),
    500,
    minMs,
  );
  lines.push(`| 1 segment | routeResolver + rewritePlaylist | ${fixed.toFixed(1)} | — |`);
  for (const size of [2 * 1024, 64 * 1024]) {
    const { text, uris } = sizedPlaylist(size);
    const label = `${(size / 1024).toFixed(0)} KiB, ${uris} URIs`;
    for (const [mode, resolve, checkOnly] of prepared()) {
      // Batches, so that the timer's resolution does not dominate small inputs.
      const us = await measure(
        () =>
          checkOnly
            ? checkPlaylist(text, { playlistUrl: PLAYLIST_URL, resolve })
            : rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve }),
        size < 8192 ? 100 : 4,
        minMs,
      );
      lines.push(
        `| ${label} | rewritePlaylist, ${mode} | ${us.toFixed(1)} | ${
          (us * 1000 / uris).toFixed(0)
        } |`,
      );
    }
    const bytes = new TextEncoder().encode(text);
    for (const rewrite of [true, false]) {
      const hls = { ...HLS, rewrite_playlist_urls: rewrite };
      const us = await measure(
        async () => {
          const upstream = new Response(bytes, {
            headers: { "content-type": "application/vnd.apple.mpegurl" },
          });
          const out = await transformRoutePlaylist(upstream, PLAYLIST_URL, {
            routeId: "bench",
            origin,
            hls,
            clientProtocol: "http",
            directLink,
          });
          await out.arrayBuffer();
        },
        size < 8192 ? 20 : 2,
        minMs,
      );
      lines.push(
        `| ${label} | transformRoutePlaylist, rewrite ${rewrite ? "on" : "off"} | ${
          us.toFixed(1)
        } | ${(us * 1000 / uris).toFixed(0)} |`,
      );
    }
  }
  lines.push("");
  return lines;
}

if (import.meta.main) {
  console.log((await runRewriteBench(Deno.args.includes("--quick"))).join("\n"));
}
