import assert from "node:assert/strict";
import { Parser } from "m3u8-parser";
import { ProxyError } from "../../errors/mod.ts";
import {
  directModeResolver,
  guardInsecure,
  PlaylistRewriter,
  rewritePlaylist,
  routeModeResolver,
} from "./mod.ts";

const ORIGIN = "https://origin.example/vod";
const PLAYLIST_URL = "https://origin.example/vod/show/index.m3u8?token=abc";

const route = routeModeResolver({
  origin: ORIGIN,
  baseUrl: "https://cdn.example/hls/",
  crossOrigin: "refuse",
});

/** The file-name path segment direct-mode stream links carry. */
function streamName(url: string): string {
  const path = new URL(url).pathname;
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9._~-]/g, "_");
  return /\.(ts|m4s|mp4|aac|vtt)$/.test(name) ? name : `${name}.ts`;
}

function parse(text: string) {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

const MULTIVARIANT = [
  "#EXTM3U",
  "#EXT-X-VERSION:7",
  "# a comment that stays",
  '#EXT-X-UNKNOWN-TAG:FOO=1,URI="keep-me.txt"',
  '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"',
  '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="keys/session.key"',
  '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",URI="meta/title.json"',
  '#EXT-X-CONTENT-STEERING:SERVER-URI="/steer?x=1",PATHWAY-ID="CDN"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English, main",LANGUAGE="en",URI="audio/en.m3u8"',
  '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,CODECS="avc1.4d401f",URI="iframes/v1.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=1280000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"',
  "video/720p.m3u8",
  '#EXT-X-STREAM-INF:BANDWIDTH=2560000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"',
  "https://origin.example/vod/show/video/1080p.m3u8?sig=1",
  "",
].join("\r\n");

Deno.test("route mode refuses a reference outside the route's base path", () => {
  assert.throws(
    () => rewritePlaylist(MULTIVARIANT, { playlistUrl: PLAYLIST_URL, resolve: route }),
    (e: unknown) => e instanceof ProxyError && e.reason === "cross_origin_reference",
  );
});

Deno.test("route mode keeps unknown tags, comments, CRLF and order byte for byte", () => {
  const text = MULTIVARIANT.replace('SERVER-URI="/steer?x=1"', 'SERVER-URI="steer.json"');
  const out = rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: route });
  const expected = text
    .replace('URI="keys/session.key"', 'URI="https://cdn.example/hls/show/keys/session.key"')
    .replace('URI="meta/title.json"', 'URI="https://cdn.example/hls/show/meta/title.json"')
    .replace('SERVER-URI="steer.json"', 'SERVER-URI="https://cdn.example/hls/show/steer.json"')
    .replace('URI="audio/en.m3u8"', 'URI="https://cdn.example/hls/show/audio/en.m3u8"')
    .replace('URI="iframes/v1.m3u8"', 'URI="https://cdn.example/hls/show/iframes/v1.m3u8"')
    .replace("\r\nvideo/720p.m3u8", "\r\nhttps://cdn.example/hls/show/video/720p.m3u8")
    .replace(
      "https://origin.example/vod/show/video/1080p.m3u8?sig=1",
      "https://cdn.example/hls/show/video/1080p.m3u8?sig=1",
    );
  assert.equal(out, expected);
  const manifest = parse(out);
  assert.equal(manifest.playlists.length, 2);
  assert.ok(manifest.playlists.every((p: { uri: string }) => p.uri.startsWith("https://cdn.")));
});

const MEDIA = [
  "\uFEFF#EXTM3U",
  "#EXT-X-VERSION:9",
  "#EXT-X-TARGETDURATION:4",
  "#EXT-X-MEDIA-SEQUENCE:10",
  "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0",
  "#EXT-X-PART-INF:PART-TARGET=0.5",
  '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k1?id=1",IV=0x0123456789abcdef0123456789abcdef',
  '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"',
  "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z",
  "#EXTINF:4.000,title with, comma",
  "seg10.m4s",
  '#EXT-X-PART:DURATION=0.5,URI="seg11.part0.m4s",INDEPENDENT=YES',
  '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA",KEYFORMAT="identity"',
  '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg11.part1.m4s"',
  '#EXT-X-RENDITION-REPORT:URI="../audio/en.m3u8",LAST-MSN=11,LAST-PART=0',
  '#EXT-X-DATERANGE:ID="ad",START-DATE="2024-01-01T00:00:10Z",CLASS="com.apple.hls.interstitial",X-ASSET-URI="ads/ad1.m3u8"',
  "#EXTINF:4,",
  "  seg 12.m4s  ",
].join("\n");

Deno.test("direct mode sends playlists to /proxy/hls and the rest to /proxy/stream", () => {
  const resolve = directModeResolver({
    overrides: [["h_referer", "https://player.example/"]],
    credential: "s3cret",
  });
  const out = rewritePlaylist(MEDIA, { playlistUrl: PLAYLIST_URL, resolve });
  const lines = out.split("\n");
  const tail = "&h_referer=https%3A%2F%2Fplayer.example%2F&api_password=s3cret";
  const s = (u: string) => `/proxy/stream/${streamName(u)}?d=${encodeURIComponent(u)}${tail}`;
  const p = (u: string) => `/proxy/hls/manifest.m3u8?d=${encodeURIComponent(u)}${tail}`;
  assert.equal(lines[0], "\uFEFF#EXTM3U");
  assert.equal(
    lines[6],
    `#EXT-X-KEY:METHOD=AES-128,URI="${
      s("https://keys.example/k1?id=1")
    }",IV=0x0123456789abcdef0123456789abcdef`,
  );
  assert.equal(
    lines[7],
    `#EXT-X-MAP:URI="${s("https://origin.example/vod/show/init.mp4")}",BYTERANGE="720@0"`,
  );
  assert.equal(lines[9], "#EXTINF:4.000,title with, comma");
  assert.equal(lines[10], s("https://origin.example/vod/show/seg10.m4s"));
  assert.ok(lines[11].includes(s("https://origin.example/vod/show/seg11.part0.m4s")));
  assert.equal(lines[12], MEDIA.split("\n")[12], "data: key URIs stay");
  assert.ok(lines[13].includes(s("https://origin.example/vod/show/seg11.part1.m4s")));
  assert.ok(lines[14].includes(p("https://origin.example/vod/audio/en.m3u8")));
  assert.ok(
    lines[15].includes(`X-ASSET-URI="${p("https://origin.example/vod/show/ads/ad1.m3u8")}"`),
  );
  assert.equal(lines[17], `  ${s("https://origin.example/vod/show/seg%2012.m4s")}  `);
  const manifest = parse(out);
  assert.equal(manifest.segments.length, 2);
  assert.equal(manifest.mediaSequence, 10);
});

Deno.test("direct-mode stream links show a media extension ffmpeg accepts", () => {
  const resolve = directModeResolver();
  assert.equal(
    resolve("https://o.example/v/chunk-1.dash?x=1", "media"),
    "/proxy/stream/chunk-1.dash.ts?d=https%3A%2F%2Fo.example%2Fv%2Fchunk-1.dash%3Fx%3D1",
  );
  assert.equal(
    resolve("https://o.example/v/seg.CMFV", "media"),
    "/proxy/stream/seg.CMFV?d=https%3A%2F%2Fo.example%2Fv%2Fseg.CMFV",
  );
  assert.equal(
    resolve("https://o.example/v/", "media"),
    "/proxy/stream?d=https%3A%2F%2Fo.example%2Fv%2F",
  );
  assert.equal(
    resolve("https://o.example/v/a b.m3u8", "playlist"),
    "/proxy/hls/manifest.m3u8?d=https%3A%2F%2Fo.example%2Fv%2Fa%20b.m3u8",
  );
});

Deno.test("indented tags and blank-padded lines are still recognised", () => {
  const text = '  #EXTM3U\n  #EXT-X-KEY:METHOD=AES-128,URI="k.key"\n  #EXTINF:4,\n  seg.ts\n';
  const out = rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: route });
  assert.equal(
    out,
    '  #EXTM3U\n  #EXT-X-KEY:METHOD=AES-128,URI="https://cdn.example/hls/show/k.key"\n' +
      "  #EXTINF:4,\n  https://cdn.example/hls/show/seg.ts\n",
  );
});

Deno.test("the incremental rewriter gives the same output whatever the chunking", () => {
  const resolve = directModeResolver();
  const whole = rewritePlaylist(MEDIA, { playlistUrl: PLAYLIST_URL, resolve });
  for (const size of [1, 3, 17, 64]) {
    const rewriter = new PlaylistRewriter({ playlistUrl: PLAYLIST_URL, resolve });
    let out = "";
    for (let i = 0; i < MEDIA.length; i += size) out += rewriter.push(MEDIA.slice(i, i + size));
    out += rewriter.finish();
    assert.equal(out, whole, `chunk size ${size}`);
  }
});

Deno.test("route mode cross-origin policies: keep, direct_stream, refuse", () => {
  const text = "#EXTM3U\n#EXTINF:4,\nhttps://other.example/a.ts\n";
  const opts = { origin: ORIGIN, baseUrl: "https://cdn.example/hls" } as const;
  const keep = routeModeResolver({ ...opts, crossOrigin: "keep" });
  assert.equal(rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: keep }), text);
  const viaStream = routeModeResolver({
    ...opts,
    crossOrigin: "direct_stream",
    directLink: (url) => url.includes("other.example") ? directModeResolver()(url, "media") : null,
  });
  assert.equal(
    rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: viaStream }),
    "#EXTM3U\n#EXTINF:4,\n/proxy/stream/a.ts?d=https%3A%2F%2Fother.example%2Fa.ts\n",
  );
  const notAllowed = routeModeResolver({ ...opts, crossOrigin: "direct_stream", directLink: null });
  assert.throws(
    () => rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: notAllowed }),
    (e: unknown) => e instanceof ProxyError && e.status === 502,
  );
});

Deno.test("null base_url publishes origin paths root-relative", () => {
  const resolve = routeModeResolver({ origin: ORIGIN, baseUrl: null, crossOrigin: "refuse" });
  const out = rewritePlaylist("#EXTM3U\n#EXTINF:4,\nseg1.ts?x=1\n", {
    playlistUrl: PLAYLIST_URL,
    resolve,
  });
  assert.equal(out, "#EXTM3U\n#EXTINF:4,\n/show/seg1.ts?x=1\n");
});

Deno.test("the insecure guard refuses http:// references in a secure context", () => {
  const text = "#EXTM3U\n#EXTINF:4,\nhttp://other.example/a.ts\n";
  const keep = routeModeResolver({ origin: ORIGIN, baseUrl: null, crossOrigin: "keep" });
  const guarded = guardInsecure(keep, { secure: true, allowInsecure: false });
  assert.throws(
    () => rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: guarded }),
    (e: unknown) => e instanceof ProxyError && e.reason === "insecure_reference",
  );
  const allowed = guardInsecure(keep, { secure: true, allowInsecure: true });
  assert.equal(rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: allowed }), text);
  const plain = guardInsecure(keep, { secure: false, allowInsecure: false });
  assert.equal(rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: plain }), text);
  // The operator's own http origin stays usable behind an https base_url.
  const httpOrigin = routeModeResolver({
    origin: "http://origin.internal/vod",
    baseUrl: "https://cdn.example/",
    crossOrigin: "refuse",
  });
  const trusted = guardInsecure(httpOrigin, {
    secure: true,
    allowInsecure: false,
    trustedPrefix: "http://origin.internal/vod/",
  });
  assert.equal(
    rewritePlaylist("#EXTM3U\nseg.ts\n", {
      playlistUrl: "http://origin.internal/vod/index.m3u8",
      resolve: trusted,
    }),
    "#EXTM3U\nhttps://cdn.example/seg.ts\n",
  );
});

Deno.test("malformed playlists are refused with manifest_invalid", () => {
  const resolve = directModeResolver();
  for (
    const bad of [
      "",
      "<html>nope</html>",
      "#EXTINF:4,\nseg.ts\n",
      '#EXTM3U\n#EXT-X-MAP:URI="init.mp4\n',
      "#EXTM3U\nseg\0.ts\n",
      "#EXTM3U\nhttp://[::1\n",
    ]
  ) {
    assert.throws(
      () => rewritePlaylist(bad, { playlistUrl: PLAYLIST_URL, resolve }),
      (e: unknown) => e instanceof ProxyError && e.reason === "manifest_invalid",
      JSON.stringify(bad),
    );
  }
});

Deno.test("relative references resolve per RFC 3986 on both the fast and the slow path", () => {
  const resolve = directModeResolver();
  const cases: [string, string][] = [
    ["a/b.ts", "https://origin.example/vod/show/a/b.ts"],
    ["./a.ts", "https://origin.example/vod/show/a.ts"],
    ["../x/a.ts", "https://origin.example/vod/x/a.ts"],
    ["/root.ts", "https://origin.example/root.ts"],
    ["//other.example/p.ts", "https://other.example/p.ts"],
    ["a.ts?x='1'", "https://origin.example/vod/show/a.ts?x=%271%27"],
    ["a.ts#frag", "https://origin.example/vod/show/a.ts"],
    ["HTTPS://Other.Example:443/A.ts", "https://other.example/A.ts"],
  ];
  for (const [reference, expected] of cases) {
    const out = rewritePlaylist(`#EXTM3U\n${reference}\n`, { playlistUrl: PLAYLIST_URL, resolve });
    assert.equal(
      out,
      `#EXTM3U\n/proxy/stream/${streamName(expected)}?d=${encodeURIComponent(expected)}\n`,
      reference,
    );
  }
});
