/**
 * Manifest benchmarks: playlist rewrite throughput (MB/s) for a 5,000-segment media
 * playlist and a 40-variant multivariant playlist, in route and direct mode, and the time
 * to convert a 2-hour SegmentTimeline MPD to HLS. Pure CPU, no sockets.
 *
 *   deno run -A scripts/bench/manifests.ts [--quick]
 * @module
 */
import {
  directModeResolver,
  type ReferenceResolver,
  rewritePlaylist,
  routeModeResolver,
} from "../../src/stream/hls/mod.ts";
import {
  listRenditions,
  mediaPlaylist,
  multivariantPlaylist,
  parseMpd,
} from "../../src/stream/dash/mod.ts";

/** A media playlist of `segments` segments with tokenised relative URIs. */
export function mediaPlaylistFixture(segments: number): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:6",
    "#EXT-X-TARGETDURATION:7",
    "#EXT-X-MEDIA-SEQUENCE:0",
    "#EXT-X-PLAYLIST-TYPE:VOD",
    '#EXT-X-MAP:URI="init.mp4"',
  ];
  for (let i = 0; i < segments; i++) {
    if (i % 500 === 0) {
      lines.push(`#EXT-X-KEY:METHOD=AES-128,URI="https://keys.origin.example/k/${i}?t=abc"`);
    }
    lines.push(`#EXTINF:6.006,`, `video/1080p/segment_${String(i).padStart(5, "0")}.m4s?tok=f00d`);
  }
  lines.push("#EXT-X-ENDLIST", "");
  return lines.join("\n");
}

/** A multivariant playlist of `variants` variants with audio, subtitle and I-frame entries. */
export function multivariantFixture(variants: number): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const lang of ["en", "fr", "de", "es"]) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="${lang}",LANGUAGE="${lang}",URI="audio/${lang}/index.m3u8"`,
      `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="${lang}",LANGUAGE="${lang}",URI="subs/${lang}.m3u8"`,
    );
  }
  for (let i = 0; i < variants; i++) {
    const bw = 200_000 + i * 150_000;
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${bw},CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO="aac",SUBTITLES="subs"`,
      `https://origin.example/vod/show/v${i}/index.m3u8?sig=abcdef`,
      `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=${bw / 10},URI="v${i}/iframes.m3u8"`,
    );
  }
  lines.push("");
  return lines.join("\n");
}

/** A static MPD of `hours` hours, video and audio, every timeline entry written out. */
export function timelineMpdFixture(hours: number): string {
  const count = Math.round((hours * 3600) / 2);
  const entries = (d: (i: number) => number) => {
    let out = "";
    for (let i = 0; i < count; i++) out += `<S ${i === 0 ? 't="0" ' : ""}d="${d(i)}"/>`;
    return out;
  };
  const video = entries((i) => (i % 2 ? 180180 : 179820));
  const audio = entries((i) => (i % 3 ? 96256 : 95232));
  const reps = [1, 2, 3, 4, 5].map((i) =>
    `<Representation id="v${i}" bandwidth="${i * 1_000_000}" width="${i * 384}" height="${
      i * 216
    }"/>`
  ).join("");
  return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT${hours}H" minBufferTime="PT2S">
<Period><AdaptationSet mimeType="video/mp4" codecs="avc1.640028" frameRate="30000/1001">
<SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Time$.m4s"><SegmentTimeline>${video}</SegmentTimeline></SegmentTemplate>${reps}
</AdaptationSet><AdaptationSet mimeType="audio/mp4" codecs="mp4a.40.2" lang="en">
<SegmentTemplate timescale="48000" initialization="a/init.mp4" media="a/$Time$.m4s"><SegmentTimeline>${audio}</SegmentTimeline></SegmentTemplate>
<Representation id="a1" bandwidth="128000"/></AdaptationSet></Period></MPD>`;
}

/** Runs `fn` repeatedly for at least `minMs` and returns the median milliseconds per run. */
export function measure(fn: () => void, minMs: number): number {
  for (let i = 0; i < 3; i++) fn();
  const times: number[] = [];
  const until = performance.now() + minMs;
  while (performance.now() < until || times.length < 5) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const PLAYLIST_URL = "https://origin.example/vod/show/index.m3u8?token=abc";

function resolvers(): [string, ReferenceResolver][] {
  return [
    [
      "route",
      routeModeResolver({
        origin: "https://origin.example/vod",
        baseUrl: "https://cdn.example/hls/",
        crossOrigin: "direct_stream",
        directLink: directModeResolver(),
      }),
    ],
    ["direct", directModeResolver({ overrides: [["h_referer", "https://p.example/"]] })],
  ];
}

/** Runs the manifest benchmarks and returns markdown lines. */
export function runManifestBench(quick: boolean): Promise<string[]> {
  const minMs = quick ? 300 : 2000;
  const lines = [
    "### Manifests",
    "",
    "| benchmark | input | mode | median time | throughput |",
    "|---|---|---|---|---|",
  ];
  const inputs: [string, string][] = [
    ["rewrite 5,000-segment media playlist", mediaPlaylistFixture(5000)],
    ["rewrite 40-variant multivariant playlist", multivariantFixture(40)],
  ];
  for (const [name, text] of inputs) {
    const mb = new TextEncoder().encode(text).byteLength / 1e6;
    for (const [mode, resolve] of resolvers()) {
      const ms = measure(
        () => rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve }),
        minMs,
      );
      lines.push(
        `| ${name} | ${(mb * 1000).toFixed(0)} KB | ${mode} | ${ms.toFixed(3)} ms | ${
          (mb / (ms / 1000)).toFixed(0)
        } MB/s |`,
      );
    }
  }
  const mpdText = timelineMpdFixture(2);
  const mpdUrl = "https://origin.example/vod/movie/manifest.mpd";
  const options = { resolve: directModeResolver(), renditionUri: (n: string) => `${n}.m3u8` };
  const parseMs = measure(() => parseMpd(mpdText, mpdUrl), minMs);
  const mpd = parseMpd(mpdText, mpdUrl);
  const masterMs = measure(() => multivariantPlaylist(mpd, options), minMs);
  const mediaMs = measure(() => mediaPlaylist(mpd, "video-v5", options), minMs);
  const allMs = measure(() => {
    const parsed = parseMpd(mpdText, mpdUrl);
    multivariantPlaylist(parsed, options);
    for (const r of listRenditions(parsed)) mediaPlaylist(parsed, r.name, options);
  }, minMs);
  const kb = (new TextEncoder().encode(mpdText).byteLength / 1000).toFixed(0);
  lines.push(
    `| DASH→HLS 2-hour SegmentTimeline MPD: parse | ${kb} KB, 3,600 S × 2 | — | ${
      parseMs.toFixed(1)
    } ms | — |`,
    `| DASH→HLS: multivariant from a parsed MPD | 6 renditions | direct | ${
      masterMs.toFixed(2)
    } ms | — |`,
    `| DASH→HLS: one 3,600-segment media playlist | parsed MPD | direct | ${
      mediaMs.toFixed(1)
    } ms | — |`,
    `| DASH→HLS: parse + multivariant + all 6 media playlists | ${kb} KB | direct | ${
      allMs.toFixed(1)
    } ms | — |`,
    "",
  );
  return Promise.resolve(lines);
}

if (import.meta.main) {
  console.log((await runManifestBench(Deno.args.includes("--quick"))).join("\n"));
}
