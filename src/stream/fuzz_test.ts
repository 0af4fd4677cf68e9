import assert from "node:assert/strict";
import { ProxyError } from "../errors/mod.ts";
import { listRenditions, mediaPlaylist, multivariantPlaylist, parseMpd } from "./dash/mod.ts";
import { directModeResolver, rewritePlaylist } from "./hls/mod.ts";
import { random } from "./_testing.ts";

const PLAYLIST_PIECES = [
  "#EXTM3U\n",
  "#EXTINF:4,\n",
  "seg.ts\n",
  '#EXT-X-KEY:METHOD=AES-128,URI="k',
  '"\n',
  "#EXT-X-MAP:URI=",
  "#EXT-X-STREAM-INF:BANDWIDTH=1\n",
  "http://[::1\n",
  "../../x\n",
  "\r\n",
  ",",
  "=",
  '"',
  "\uFEFF",
  "%zz\n",
  "//h/p\n",
  '#EXT-X-MEDIA:URI="a.m3u8",NAME="x,y"\n',
];

const MPD_PIECES = [
  '<MPD type="static" mediaPresentationDuration="PT4S">',
  '<MPD type="dynamic" availabilityStartTime="2024-01-01T00:00:00Z">',
  "<Period>",
  "</Period>",
  '<AdaptationSet mimeType="video/mp4">',
  "</AdaptationSet>",
  '<Representation id="v" bandwidth="1">',
  "</Representation>",
  '<SegmentTemplate media="$Number$.m4s" duration="1" timescale="1"/>',
  '<SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S t="0" d="1" r="-1"/></SegmentTimeline></SegmentTemplate>',
  '<SegmentList duration="1"><SegmentURL mediaRange="5-1"/></SegmentList>',
  '<SegmentBase indexRange="0-10"/>',
  "<BaseURL>http://[::1/</BaseURL>",
  "</MPD>",
  "<",
  ">",
  '"',
];

function compose(pieces: string[], next: () => number): string {
  let text = "";
  const n = Math.floor(next() * 24);
  for (let i = 0; i < n; i++) text += pieces[Math.floor(next() * pieces.length)];
  return text;
}

Deno.test("random playlists either rewrite or fail with a ProxyError", () => {
  const next = random(5);
  const resolve = directModeResolver();
  for (let i = 0; i < 3000; i++) {
    const text = compose(PLAYLIST_PIECES, next);
    try {
      rewritePlaylist(text, { playlistUrl: "https://o.example/a/b.m3u8", resolve });
    } catch (error) {
      assert.ok(error instanceof ProxyError, `${JSON.stringify(text)}: ${error}`);
    }
  }
});

Deno.test("random MPDs either convert or fail with a ProxyError", () => {
  const next = random(7);
  const options = { resolve: (u: string) => u, renditionUri: (n: string) => n, now: 1.8e12 };
  for (let i = 0; i < 1500; i++) {
    const text = compose(MPD_PIECES, next);
    try {
      const mpd = parseMpd(text, "https://o.example/a/m.mpd");
      multivariantPlaylist(mpd, options);
      for (const r of listRenditions(mpd)) mediaPlaylist(mpd, r.name, options);
    } catch (error) {
      assert.ok(error instanceof ProxyError, `${JSON.stringify(text)}: ${error}`);
    }
  }
});
