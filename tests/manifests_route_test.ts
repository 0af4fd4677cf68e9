import assert from "node:assert/strict";
import { packageContent, type PackageKind } from "../scripts/packagers/mod.ts";
import { deadline, freePort, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { playlistUris, playWithFfmpeg, startMediaOrigin } from "./_support/media_origin.ts";

const SECONDS = 3;
const KINDS: PackageKind[] = ["hls-ts", "hls-fmp4", "hls-aes", "dash-number", "dash-timeline"];

/** A media playlist with every URI-carrying tag a media playlist may hold. */
function exactMediaPlaylist(originUrl: string): string {
  return [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    "#EXT-X-TARGETDURATION:4",
    "#EXT-X-PART-INF:PART-TARGET=1.0",
    "#EXT-X-MEDIA-SEQUENCE:0",
    "# a comment stays as it is",
    '#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.key",IV=0x00000000000000000000000000000001',
    '#EXT-X-MAP:URI="init.mp4",BYTERANGE="800@0"',
    '#EXT-X-DATERANGE:ID="ad",START-DATE="2024-01-01T00:00:00Z",X-ASSET-URI="ads/ad.m3u8"',
    "#EXTINF:4.0,",
    "seg0.m4s",
    "#EXT-X-BYTERANGE:1000@800",
    "#EXTINF:4.0,",
    "seg1.m4s?x=1&y=2",
    "#EXTINF:4.0,",
    `${originUrl}/content/exact/seg2.m4s`,
    "#EXTINF:4.0,",
    "/content/exact/seg3.m4s",
    '#EXT-X-PART:DURATION=1.0,URI="part4.0.m4s",INDEPENDENT=YES',
    '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part4.1.m4s"',
    '#EXT-X-RENDITION-REPORT:URI="../hd/index.m3u8",LAST-MSN=3',
    "",
  ].join("\n");
}

/** The same playlist as a route publishing the origin's `/content/` under `published` serves it. */
function exactMediaRewritten(published: string): string {
  const at = `${published}exact/`;
  return [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    "#EXT-X-TARGETDURATION:4",
    "#EXT-X-PART-INF:PART-TARGET=1.0",
    "#EXT-X-MEDIA-SEQUENCE:0",
    "# a comment stays as it is",
    `#EXT-X-KEY:METHOD=AES-128,URI="${at}keys/k1.key",IV=0x00000000000000000000000000000001`,
    `#EXT-X-MAP:URI="${at}init.mp4",BYTERANGE="800@0"`,
    `#EXT-X-DATERANGE:ID="ad",START-DATE="2024-01-01T00:00:00Z",X-ASSET-URI="${at}ads/ad.m3u8"`,
    "#EXTINF:4.0,",
    `${at}seg0.m4s`,
    "#EXT-X-BYTERANGE:1000@800",
    "#EXTINF:4.0,",
    `${at}seg1.m4s?x=1&y=2`,
    "#EXTINF:4.0,",
    `${at}seg2.m4s`,
    "#EXTINF:4.0,",
    `${at}seg3.m4s`,
    `#EXT-X-PART:DURATION=1.0,URI="${at}part4.0.m4s",INDEPENDENT=YES`,
    `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${at}part4.1.m4s"`,
    `#EXT-X-RENDITION-REPORT:URI="${published}hd/index.m3u8",LAST-MSN=3`,
    "",
  ].join("\n");
}

/** A multivariant playlist with every URI-carrying tag a multivariant playlist may hold. */
const EXACT_MULTIVARIANT = [
  "#EXTM3U",
  "#EXT-X-VERSION:9",
  "#EXT-X-INDEPENDENT-SEGMENTS",
  '#EXT-X-CONTENT-STEERING:SERVER-URI="steering.json?session=1",PATHWAY-ID="CDN-A"',
  '#EXT-X-SESSION-DATA:DATA-ID="com.example.lyrics",URI="lyrics.json"',
  '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="keys/session.key"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio/en.m3u8"',
  '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="subs/en.m3u8"',
  '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="en",INSTREAM-ID="CC1"',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="video/iframes.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=1280000,AUDIO="aud",SUBTITLES="subs"',
  "video/index.m3u8?token=abc",
  '#EXT-X-STREAM-INF:BANDWIDTH=2560000,AUDIO="aud"',
  "/content/exact/hd/index.m3u8",
  "",
].join("\n");

function exactMultivariantRewritten(published: string): string {
  const at = `${published}exact/`;
  return [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    "#EXT-X-INDEPENDENT-SEGMENTS",
    `#EXT-X-CONTENT-STEERING:SERVER-URI="${at}steering.json?session=1",PATHWAY-ID="CDN-A"`,
    `#EXT-X-SESSION-DATA:DATA-ID="com.example.lyrics",URI="${at}lyrics.json"`,
    `#EXT-X-SESSION-KEY:METHOD=AES-128,URI="${at}keys/session.key"`,
    `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="${at}audio/en.m3u8"`,
    `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="${at}subs/en.m3u8"`,
    '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="en",INSTREAM-ID="CC1"',
    `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="${at}video/iframes.m3u8"`,
    '#EXT-X-STREAM-INF:BANDWIDTH=1280000,AUDIO="aud",SUBTITLES="subs"',
    `${at}video/index.m3u8?token=abc`,
    '#EXT-X-STREAM-INF:BANDWIDTH=2560000,AUDIO="aud"',
    `${at}hd/index.m3u8`,
    "",
  ].join("\n");
}

/**
 * What a route publishing `/content/` under `published` must serve for a packaged (ffmpeg)
 * playlist: the upstream text with each relative URI line and `URI="..."` attribute made
 * `published` + directory + URI; every other byte the same.
 */
function publishedUnder(upstream: string, published: string, directory: string): string {
  return upstream.split("\n").map((line) => {
    if (line === "") return line;
    if (!line.startsWith("#")) return `${published}${directory}${line}`;
    return line.replace(/URI="([^"]+)"/, (_all, uri) => `URI="${published}${directory}${uri}"`);
  }).join("\n");
}

Deno.test("route mode: real players read rewritten HLS and DASH→HLS whole", async (t) => {
  const dir = await scratchDir();
  await Promise.all(KINDS.map((kind) => packageContent(kind, `${dir}/${kind}`, SECONDS)));
  await Deno.mkdir(`${dir}/bad`);
  await Deno.writeTextFile(
    `${dir}/bad/insecure.m3u8`,
    "#EXTM3U\n#EXTINF:4,\nhttp://other.example/a.ts\n",
  );
  await Deno.writeTextFile(
    `${dir}/bad/cross.m3u8`,
    "#EXTM3U\n#EXTINF:4,\nhttps://other.example/a.ts\n",
  );
  await Deno.writeTextFile(`${dir}/bad/big.m3u8`, "#EXTM3U\n" + "#EXTINF:4,\na.ts\n".repeat(500));
  await Deno.writeTextFile(`${dir}/bad/garbage.m3u8`, "<html>not a playlist</html>\n");
  const origin = startMediaOrigin(dir);
  const port = freePort();
  const strictPort = freePort();
  const base = `http://127.0.0.1:${port}`;
  const sprox = await startSprox(`
routes:
  - id: media
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}/content" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "${base}/"
      allow_insecure_segments: true
    dash: { to_hls: true }
  - id: strict
    listen: { host: 127.0.0.1, port: ${strictPort} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}/content" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "https://cdn.example/hls/"
      cross_origin: refuse
      max_manifest_bytes: 2048
rate_limit: { enabled: false }
`);
  try {
    const entries: [string, string][] = [
      ["TS HLS", "hls-ts/master.m3u8"],
      ["fMP4 HLS with EXT-X-MAP", "hls-fmp4/master.m3u8"],
      ["AES-128 HLS", "hls-aes/master.m3u8"],
      ["DASH SegmentTemplate $Number$ → HLS", "dash-number/manifest.mpd/master.m3u8"],
      ["DASH SegmentTimeline → HLS", "dash-timeline/manifest.mpd/master.m3u8"],
    ];
    for (const [name, path] of entries) {
      await t.step(`${name} plays whole through the route`, async () => {
        const report = await playWithFfmpeg(`${base}/${path}`);
        assert.equal(report.errors, "", `${name}: ${report.errors}`);
        assert.equal(report.exitCode, 0);
        assert.deepEqual(report.streams, ["audio", "video"]);
        assert.ok(Math.abs(report.probedSeconds - SECONDS) <= 0.1, `${report.probedSeconds}`);
        assert.ok(Math.abs(report.decodedSeconds - SECONDS) <= 0.1, `${report.decodedSeconds}`);
      });
    }

    await t.step(
      "rewritten HLS playlists: every URI published under base_url, byte-exact",
      async () => {
        const paths = [
          "hls-ts/master.m3u8",
          "hls-ts/index.m3u8",
          "hls-fmp4/index.m3u8",
          "hls-aes/index.m3u8",
        ];
        for (const path of paths) {
          const upstream = await (await fetch(`${origin.url}/content/${path}`, {
            signal: deadline(),
          })).text();
          const response = await fetch(`${base}/${path}`, {
            headers: { "accept-encoding": "gzip" },
            signal: deadline(),
          });
          assert.equal(response.status, 200, path);
          const text = await response.text();
          assert.equal(
            response.headers.get("content-length"),
            String(new TextEncoder().encode(text).length),
          );
          const directory = path.slice(0, path.lastIndexOf("/") + 1);
          assert.equal(text, publishedUnder(upstream, `${base}/`, directory), path);
          assert.ok(playlistUris(text).length > 0, path);
        }
        const key = await fetch(`${base}/hls-aes/index.m3u8`, { signal: deadline() })
          .then((r) => r.text());
        assert.match(
          key,
          new RegExp(`#EXT-X-KEY:METHOD=AES-128,URI="${base}/hls-aes/keys/enc.key"`),
        );
      },
    );

    await t.step("DASH→HLS playlists: every URI exactly", async () => {
      const uris = async (path: string) => {
        const response = await fetch(`${base}/${path}`, { signal: deadline() });
        assert.equal(response.status, 200, path);
        const text = await response.text();
        assert.equal(
          response.headers.get("content-length"),
          String(new TextEncoder().encode(text).length),
        );
        return playlistUris(text);
      };
      // Renditions are relative to the converted master, which sProx itself serves.
      assert.deepEqual(await uris("dash-number/manifest.mpd/master.m3u8"), [
        "video-0.m3u8",
        "audio-1.m3u8",
      ]);
      const number = `${base}/dash-number/`;
      assert.deepEqual(await uris("dash-number/manifest.mpd/video-0.m3u8"), [
        `${number}chunk-0-00001.m4s`,
        `${number}init-0.m4s`,
        `${number}chunk-0-00002.m4s`,
        `${number}init-0.m4s`,
        `${number}chunk-0-00003.m4s`,
        `${number}init-0.m4s`,
      ]);
      const timeline = `${base}/dash-timeline/`;
      assert.deepEqual(await uris("dash-timeline/manifest.mpd/audio-1.m3u8"), [
        `${timeline}chunk-1-00001.m4s`,
        `${timeline}init-1.m4s`,
        `${timeline}chunk-1-00002.m4s`,
        `${timeline}init-1.m4s`,
        `${timeline}chunk-1-00003.m4s`,
        `${timeline}init-1.m4s`,
        `${timeline}chunk-1-00004.m4s`,
        `${timeline}init-1.m4s`,
      ]);
    });

    await t.step("every URI-carrying tag is rewritten, on both routes, byte-exact", async () => {
      await Deno.mkdir(`${dir}/exact`, { recursive: true });
      await Deno.writeTextFile(`${dir}/exact/media.m3u8`, exactMediaPlaylist(origin.url));
      await Deno.writeTextFile(`${dir}/exact/master.m3u8`, EXACT_MULTIVARIANT);
      for (
        const [server, published] of [
          [base, `${base}/`],
          [`http://127.0.0.1:${strictPort}`, "https://cdn.example/hls/"],
        ]
      ) {
        const media = await fetch(`${server}/exact/media.m3u8`, { signal: deadline() });
        assert.equal(media.status, 200);
        assert.equal(await media.text(), exactMediaRewritten(published));
        const master = await fetch(`${server}/exact/master.m3u8`, { signal: deadline() });
        assert.equal(master.status, 200);
        assert.equal(await master.text(), exactMultivariantRewritten(published));
      }
    });

    await t.step("HEAD answers like GET without a body", async () => {
      for (const path of ["hls-ts/index.m3u8", "dash-number/manifest.mpd/master.m3u8"]) {
        const get = await fetch(`${base}/${path}`, { signal: deadline() });
        const length = (await get.arrayBuffer()).byteLength;
        const head = await fetch(`${base}/${path}`, { method: "HEAD", signal: deadline() });
        assert.equal(head.status, 200, path);
        assert.equal(await head.text(), "");
        if (path.includes(".mpd/")) {
          assert.equal(head.headers.get("content-length"), String(length));
        }
      }
    });

    await t.step("segments pass through untouched", async () => {
      const direct = new Uint8Array(
        await (await fetch(`${origin.url}/content/hls-ts/seg000.ts`, { signal: deadline() }))
          .arrayBuffer(),
      );
      const response = await fetch(`${base}/hls-ts/seg000.ts`, { signal: deadline() });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "video/mp2t");
      const proxied = new Uint8Array(await response.arrayBuffer());
      assert.ok(direct.length > 0);
      assert.deepEqual(proxied, direct);
    });

    const strict = `http://127.0.0.1:${strictPort}`;
    await t.step("an https base_url maps origin paths under it", async () => {
      const upstream = await (await fetch(`${origin.url}/content/hls-ts/index.m3u8`, {
        signal: deadline(),
      })).text();
      const response = await fetch(`${strict}/hls-ts/index.m3u8`, { signal: deadline() });
      assert.equal(response.status, 200);
      assert.equal(
        await response.text(),
        publishedUnder(upstream, "https://cdn.example/hls/", "hls-ts/"),
      );
    });

    await t.step("refusals: insecure, cross-origin, too large, not a playlist", async () => {
      const cases: [string, number, string][] = [
        ["bad/insecure.m3u8", 502, "insecure_reference"],
        ["bad/cross.m3u8", 502, "cross_origin_reference"],
        ["bad/big.m3u8", 502, "manifest_too_large"],
        ["bad/garbage.m3u8", 502, "manifest_invalid"],
      ];
      for (const [path, status, reason] of cases) {
        const response = await fetch(`${strict}/${path}`, { signal: deadline() });
        assert.equal(response.status, status, path);
        const body = await response.json();
        assert.equal(body.error, reason, path);
        // Client messages never carry the upstream text or its hosts.
        assert.doesNotMatch(JSON.stringify(body), /other\.example|<html>|127\.0\.0\.1/, path);
      }
      const big = await fetch(`${strict}/bad/big.m3u8`, { signal: deadline() });
      assert.equal((await big.json()).message, "manifest exceeds 2048 bytes");
      const line = await sprox.waitForLog(
        (l) => l.msg === "playlist refused" && l.reason === "insecure_reference",
        10_000,
      );
      assert.equal(line.reference_host, "other.example");
    });

    await t.step("an unknown rendition is 404, a missing MPD is 404", async () => {
      const unknown = await fetch(`${base}/dash-number/manifest.mpd/video-9.m3u8`, {
        signal: deadline(),
      });
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const missing = await fetch(`${base}/nope/manifest.mpd/master.m3u8`, {
        signal: deadline(),
      });
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    });
  } finally {
    await sprox.stop();
    await withTimeout(origin.close(), 10_000, "the media origin to shut down");
    await Deno.remove(dir, { recursive: true });
  }
});
