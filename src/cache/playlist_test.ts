import assert from "node:assert/strict";
import { contentKindOf, liveMpdCapSecs, livePlaylistCapSecs, playlistFacts } from "./playlist.ts";

const LIVE = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:7\n" +
  "#EXTINF:6.0,\nseg7.ts\n#EXTINF:6.0,\nseg8.ts\n";
const MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow.m3u8\n";

Deno.test("playlistFacts() reads media playlists, their end and target duration", () => {
  assert.deepEqual(playlistFacts(LIVE), { media: true, ended: false, targetDurationSecs: 6 });
  assert.deepEqual(playlistFacts(LIVE + "#EXT-X-ENDLIST\n"), {
    media: true,
    ended: true,
    targetDurationSecs: 6,
  });
  assert.equal(
    playlistFacts(LIVE.replace("#EXT-X-VERSION:3", "#EXT-X-PLAYLIST-TYPE:VOD")).ended,
    true,
  );
  assert.equal(
    playlistFacts(LIVE.replace("#EXT-X-VERSION:3", "#EXT-X-PLAYLIST-TYPE:EVENT")).ended,
    false,
  );
  assert.deepEqual(playlistFacts(MASTER), { media: false, ended: false, targetDurationSecs: null });
  assert.equal(playlistFacts(LIVE.replaceAll("\n", "\r\n")).targetDurationSecs, 6);
});

Deno.test("livePlaylistCapSecs() caps a live media playlist at half its target duration", () => {
  assert.equal(livePlaylistCapSecs(LIVE), 3);
  assert.equal(livePlaylistCapSecs(LIVE.replace("TARGETDURATION:6", "TARGETDURATION:5")), 2.5);
  assert.equal(livePlaylistCapSecs(LIVE + "#EXT-X-ENDLIST\n"), null);
  assert.equal(livePlaylistCapSecs(MASTER), null);
  // A live list whose target duration cannot be read is never served unrevalidated.
  assert.equal(livePlaylistCapSecs("#EXTM3U\n#EXTINF:4,\na.ts\n"), 0);
  // Tags only count at the start of a line.
  assert.equal(livePlaylistCapSecs(LIVE + "# note #EXT-X-ENDLIST\n"), 3);
});

Deno.test("contentKindOf() classifies by Content-Type, then by extension", () => {
  const rows: [string | null, string, string][] = [
    ["application/vnd.apple.mpegurl", "/a", "playlist"],
    ["audio/mpegurl; charset=utf-8", "/a", "playlist"],
    ["application/x-mpegURL", "/a", "playlist"],
    ["application/dash+xml", "/a", "playlist"],
    ["video/mp2t", "/a", "segment"],
    ["audio/aac", "/a", "segment"],
    ["text/vtt", "/a", "segment"],
    ["application/json", "/a.ts", "other"],
    ["application/octet-stream", "/seg.m4s", "segment"],
    [null, "/live/index.m3u8?token=1", "playlist"],
    [null, "/manifest.mpd", "playlist"],
    [null, "/live/seg_10.ts", "segment"],
    [null, "/key.bin", "other"],
  ];
  for (const [type, path, kind] of rows) {
    assert.equal(contentKindOf(type, path), kind, `${type} ${path}`);
  }
});

Deno.test("liveMpdCapSecs: half the shorter update period of a dynamic MPD, else none", () => {
  const mpd = (attrs: string) =>
    `<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" ${attrs}>`;
  assert.equal(liveMpdCapSecs(mpd('type="dynamic" minimumUpdatePeriod="PT4S"')), 2);
  assert.equal(
    liveMpdCapSecs(mpd('type="dynamic" minimumUpdatePeriod="PT10S" maxSegmentDuration="PT2.0S"')),
    1,
  );
  assert.equal(liveMpdCapSecs(mpd('type="dynamic" minimumUpdatePeriod="PT1M"')), 30);
  assert.equal(liveMpdCapSecs(mpd('type="dynamic"')), 1, "no period stated: one second");
  assert.equal(liveMpdCapSecs(mpd('type="static" minimumUpdatePeriod="PT4S"')), null);
  assert.equal(liveMpdCapSecs(mpd("")), null, "static by default");
  assert.equal(liveMpdCapSecs("#EXTM3U\n"), null);
});
