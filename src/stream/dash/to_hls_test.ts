import assert from "node:assert/strict";
import { Parser } from "m3u8-parser";
import { ProxyError } from "../../errors/mod.ts";
import {
  formatSeconds,
  type HlsWriteOptions,
  mediaPlaylist,
  multivariantPlaylist,
  parseMpd,
  segmentIndexKey,
  segmentIndexRequests,
} from "./mod.ts";

const FIXTURES = new URL("../../../tests/fixtures/dash/", import.meta.url);
const MPD_URL = "https://origin.example/vod/movie/manifest.mpd";

function fixture(name: string, url = MPD_URL) {
  return parseMpd(Deno.readTextFileSync(new URL(name, FIXTURES)), url);
}

const identity: HlsWriteOptions = {
  resolve: (url) => url,
  renditionUri: (name) => `${name}.m3u8`,
};

interface ParsedSegment {
  uri: string;
  duration: number;
  byterange?: { length: number; offset: number };
  map?: { uri: string; byterange?: { length: number; offset: number } };
  discontinuity?: boolean;
}

function parse(text: string) {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest as {
    segments: ParsedSegment[];
    playlists?: { uri: string; attributes: Record<string, unknown> }[];
    mediaGroups: Record<string, Record<string, Record<string, { uri: string; language?: string }>>>;
    mediaSequence: number;
    targetDuration: number;
    endList?: boolean;
  };
}

Deno.test("SegmentTemplate $Number%05d$: BaseURL at every level, exact durations", () => {
  const mpd = fixture("template_number.mpd");
  const text = mediaPlaylist(mpd, "video-v720", identity);
  const m = parse(text);
  const base = "https://cdn.example/base/p1/video/v720/";
  assert.deepEqual(
    m.segments.map((s) => s.uri),
    [1, 2, 3, 4, 5].map((n) => `${base}seg-0000${n}.m4s`),
  );
  assert.deepEqual(m.segments.map((s) => s.duration), [2, 2, 2, 2, 1.5]);
  assert.equal(m.segments[0].map?.uri, `${base}init.mp4`);
  assert.match(text, /#EXTINF:1\.500,\n/);
  assert.equal(m.targetDuration, 2);
  assert.equal(m.mediaSequence, 1);
  assert.equal(m.endList, true);
  const audio = parse(mediaPlaylist(mpd, "audio-a-en", identity));
  assert.equal(audio.segments[4].uri, "https://cdn.example/base/p1/audio/a-en/5.m4s");
  assert.equal(audio.segments[4].duration, 1.5);
  const subs = parse(mediaPlaylist(mpd, "subs-sub_en", identity));
  assert.deepEqual(subs.segments.map((s) => [s.uri, s.duration]), [
    ["https://cdn.example/base/p1/subs/en.vtt", 9.5],
  ]);
});

Deno.test("multivariant: STREAM-INF attributes, audio group, subtitles, stable names", () => {
  const text = multivariantPlaylist(fixture("template_number.mpd"), identity);
  const m = parse(text);
  assert.deepEqual(m.playlists!.map((p) => p.uri), ["video-v360.m3u8", "video-v720.m3u8"]);
  assert.match(
    text,
    /#EXT-X-STREAM-INF:BANDWIDTH=2128000,CODECS="avc1\.4d401f,mp4a\.40\.2",RESOLUTION=1280x720,FRAME-RATE=29\.970,AUDIO="audio",SUBTITLES="subs"\nvideo-v720\.m3u8/,
  );
  assert.match(text, /FRAME-RATE=25\.000/);
  assert.match(
    text,
    /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="en",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio-a-en\.m3u8"/,
  );
  assert.match(text, /NAME="fr",LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=NO,URI="audio-a-fr\.m3u8"/);
  assert.equal(m.mediaGroups.SUBTITLES.subs.en.uri, "subs-sub_en.m3u8");
});

Deno.test("SegmentTimeline $Time$ and $Bandwidth$ with r and r=-1 up to the period end", () => {
  const mpd = fixture("template_timeline.mpd");
  const m = parse(mediaPlaylist(mpd, "video-hd", identity));
  const times = [0, 180000, 360000, 540000, 630000, 810000, 990000];
  assert.deepEqual(
    m.segments.map((s) => s.uri),
    times.map((t) => `https://origin.example/vod/movie/t${t}-b5000000.m4s`),
  );
  assert.deepEqual(m.segments.map((s) => s.duration), [2, 2, 2, 1, 2, 2, 2]);
  assert.equal(m.segments[0].map?.uri, "https://origin.example/vod/movie/init-5000000.mp4");
});

Deno.test("SegmentTimeline: an S@t after a gap restarts $Time$ there, numbers continue", () => {
  // 0, 2 s; then a 1 s hole (t=450000 not 360000); then 1 s, 1 s; then 2 s to the end.
  const mpd = parseMpd(
    `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT9S">
  <Period duration="PT9S">
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="90000" startNumber="3" media="g-$Time$-$Number$.m4s">
        <SegmentTimeline>
          <S t="0" d="180000" r="1"/>
          <S t="450000" d="90000" r="1"/>
          <S d="180000"/>
          <S t="900000" d="90000"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v" bandwidth="1000"/>
    </AdaptationSet>
  </Period>
</MPD>`,
    MPD_URL,
  );
  const text = mediaPlaylist(mpd, "video-v", identity);
  const m = parse(text);
  const base = "https://origin.example/vod/movie/";
  assert.deepEqual(m.segments.map((s) => [s.uri, s.duration]), [
    [`${base}g-0-3.m4s`, 2],
    [`${base}g-180000-4.m4s`, 2],
    [`${base}g-450000-5.m4s`, 1],
    [`${base}g-540000-6.m4s`, 1],
    [`${base}g-630000-7.m4s`, 2],
    [`${base}g-900000-8.m4s`, 1],
  ]);
  assert.equal(m.mediaSequence, 3);
});

Deno.test("SegmentList mediaRange and Initialization range become byte ranges", () => {
  const mpd = fixture("segment_list.mpd");
  const m = parse(mediaPlaylist(mpd, "video-sd", identity));
  const url = "https://origin.example/vod/movie/media/sd.mp4";
  assert.deepEqual(m.segments.map((s) => [s.uri, s.byterange, s.duration]), [
    [url, { offset: 800, length: 50000 }, 4],
    [url, { offset: 50800, length: 49200 }, 4],
    [url, { offset: 100000, length: 20001 }, 4],
  ]);
  assert.deepEqual(m.segments[0].map, { uri: url, byterange: { offset: 0, length: 800 } });
  const files = parse(mediaPlaylist(mpd, "video-sd-files", identity));
  assert.deepEqual(files.segments.map((s) => s.uri), [
    "https://origin.example/vod/movie/files/a.m4s",
    "https://origin.example/vod/movie/files/b.m4s",
    "https://other.example/c.m4s",
  ]);
  assert.equal(files.segments[0].map?.uri, "https://origin.example/vod/movie/files/init.mp4");
});

function sidxBox(timescale: number, firstOffset: number, refs: [number, number][]): Uint8Array {
  const size = 32 + refs.length * 12;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size);
  bytes.set(new TextEncoder().encode("sidx"), 4);
  view.setUint32(12, 1); // reference_ID
  view.setUint32(16, timescale);
  view.setUint32(20, 0); // earliest_presentation_time
  view.setUint32(24, firstOffset);
  view.setUint16(30, refs.length);
  refs.forEach(([referencedSize, duration], i) => {
    view.setUint32(32 + i * 12, referencedSize);
    view.setUint32(36 + i * 12, duration);
    view.setUint32(40 + i * 12, 0x90000000);
  });
  return bytes;
}

Deno.test("SegmentBase indexRange: sidx references become EXT-X-BYTERANGE segments", () => {
  const mpd = fixture("segment_base.mpd");
  const requests = segmentIndexRequests(mpd, "audio-aud", 0);
  assert.deepEqual(requests, [{
    url: "https://origin.example/vod/movie/audio.mp4",
    range: { offset: 1000, length: 68 },
  }]);
  assert.throws(() => mediaPlaylist(mpd, "audio-aud", identity), ProxyError);
  const box = sidxBox(48000, 0, [[3000, 96000], [3100, 96000], [2500, 96000]]);
  const indexes = new Map([[segmentIndexKey(requests[0]), box]]);
  const m = parse(mediaPlaylist(mpd, "audio-aud", { ...identity, indexes }));
  assert.deepEqual(m.segments.map((s) => [s.byterange, s.duration]), [
    [{ offset: 1068, length: 3000 }, 2],
    [{ offset: 4068, length: 3100 }, 2],
    [{ offset: 7168, length: 2500 }, 2],
  ]);
  assert.deepEqual(m.segments[0].map?.byterange, { offset: 0, length: 1000 });
  // Audio-only MPD: the audio representation is the variant.
  const master = parse(multivariantPlaylist(mpd, identity));
  assert.deepEqual(master.playlists!.map((p) => p.uri), ["audio-aud.m3u8"]);
});

Deno.test("multi-period VOD: discontinuity, a map per period, sequence continues", () => {
  const mpd = fixture("multi_period.mpd");
  const text = mediaPlaylist(mpd, "video-low", identity);
  const m = parse(text);
  const base = "https://origin.example/vod/movie/";
  assert.deepEqual(m.segments.map((s) => s.uri), [
    `${base}ad/0.m4s`,
    `${base}ad/1.m4s`,
    `${base}main/1.m4s`,
    `${base}main/2.m4s`,
  ]);
  assert.deepEqual(m.segments.map((s) => s.duration), [2, 2, 3, 3]);
  assert.equal(m.segments[2].discontinuity, true);
  assert.equal(m.segments[2].map?.uri, `${base}main/init.mp4`);
  assert.equal(m.segments[0].map?.uri, `${base}ad/init.mp4`);
  assert.equal((text.match(/#EXT-X-MAP/g) ?? []).length, 2);
});

const AST = Date.parse("2024-01-01T00:00:00Z");

Deno.test("live $Number$: a sliding window with a media sequence stable across refreshes", () => {
  const mpd = fixture("live_number.mpd");
  const at = (now: number) => parse(mediaPlaylist(mpd, "video-v", { ...identity, now }));
  const first = at(AST + 60_500);
  // 60.5 s in: segments 0..29 are complete; the 10 s buffer keeps 25..29.
  assert.deepEqual(
    first.segments.map((s) => s.uri.split("/").pop()),
    [125, 126, 127, 128, 129].map((n) => `live-${n}.m4s`),
  );
  assert.equal(first.mediaSequence, 125);
  assert.equal(first.endList, undefined);
  const later = at(AST + 62_500);
  assert.equal(later.mediaSequence, 126);
  assert.equal(later.segments[0].uri, first.segments[1].uri);
});

Deno.test("live SegmentTimeline r=-1: segments complete by now inside the buffer", () => {
  const mpd = fixture("live_timeline.mpd");
  const text = mediaPlaylist(mpd, "video-v", { ...identity, now: AST + 21_000 });
  const m = parse(text);
  // Timeline starts at t=10 s; by 21 s segments ending at 12..20 exist; buffer 6 s keeps 16..20.
  assert.deepEqual(m.segments.map((s) => s.uri.split("/").pop()), [
    "t-14000.m4s",
    "t-16000.m4s",
    "t-18000.m4s",
  ]);
  assert.equal(m.mediaSequence, 9);
  assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:14\.000Z/);
});

Deno.test("ContentProtection cenc maps to SAMPLE-AES-CTR when a key URI is given", () => {
  const mpd = fixture("cenc.mpd");
  const withDrm = mediaPlaylist(mpd, "video-enc", {
    ...identity,
    keyUri: (kid) => `/keys/clearkey?kid=${kid}`,
  });
  assert.match(
    withDrm,
    /#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="\/keys\/clearkey\?kid=0123abcd0123abcd0123abcd0123abcd",KEYFORMAT="org\.w3\.clearkey",KEYFORMATVERSIONS="1"\n#EXT-X-MAP/,
  );
  assert.doesNotMatch(mediaPlaylist(mpd, "video-enc", identity), /EXT-X-KEY/);
});

Deno.test("malformed MPDs are refused with manifest_invalid", () => {
  for (
    const bad of [
      "",
      "not xml",
      "<MPD><Period>",
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><MPD/>',
      "<MPD/>",
      '<MPD type="static"><Period><AdaptationSet><Representation bandwidth="1"/></AdaptationSet></Period></MPD>',
      '<MPD mediaPresentationDuration="PTXS"><Period/></MPD>',
    ]
  ) {
    assert.throws(
      () => parseMpd(bad, MPD_URL),
      (e: unknown) => e instanceof ProxyError && e.reason === "manifest_invalid",
      bad,
    );
  }
  const huge = Deno.readTextFileSync(new URL("template_timeline.mpd", FIXTURES))
    .replace('r="2"', 'r="900000000"');
  assert.throws(
    () => mediaPlaylist(parseMpd(huge, MPD_URL), "video-hd", identity),
    (e: unknown) => e instanceof ProxyError && e.reason === "manifest_invalid",
  );
  assert.throws(
    () => mediaPlaylist(fixture("cenc.mpd"), "video-nope", identity),
    (e: unknown) => e instanceof ProxyError && e.status === 404,
  );
});

Deno.test("formatSeconds is exact to the microsecond", () => {
  assert.equal(formatSeconds(180000, 90000), "2.000");
  assert.equal(formatSeconds(1001, 30000), "0.033367");
  assert.equal(formatSeconds(3, 10), "0.300");
  assert.equal(formatSeconds(95999999, 48000), "1999.999979");
  assert.equal(formatSeconds(1, 3), "0.333333");
});

Deno.test("a live window without timeShiftBufferDepth lists the newest 5,000 segments", () => {
  const text = Deno.readTextFileSync(new URL("live_number.mpd", FIXTURES))
    .replace(' timeShiftBufferDepth="PT10S"', "");
  const mpd = parseMpd(text, MPD_URL);
  const m = parse(mediaPlaylist(mpd, "video-v", { ...identity, now: AST + 1_000_000_000 }));
  assert.equal(m.segments.length, 5000);
  // 1,000,000 s in, 2 s segments: the last complete is k = 499,999 (number 500,099).
  assert.equal(m.segments.at(-1)!.uri, "https://origin.example/vod/movie/live-500099.m4s");
  assert.equal(m.mediaSequence, 500099 - 4999);
});

Deno.test("a long-running live timeline with r=-1 costs only its window", () => {
  const text = Deno.readTextFileSync(new URL("live_timeline.mpd", FIXTURES))
    .replace('t="10000"', 't="0"');
  const mpd = parseMpd(text, MPD_URL);
  // 1,000,000 s in with 2 s segments: 500,000 segments exist; the 6 s buffer keeps 3.
  const m = parse(mediaPlaylist(mpd, "video-v", { ...identity, now: AST + 1_000_000_000 }));
  assert.deepEqual(m.segments.map((s) => s.uri.split("/").pop()), [
    "t-999994000.m4s",
    "t-999996000.m4s",
    "t-999998000.m4s",
  ]);
  assert.equal(m.mediaSequence, 7 + 499_997);
});
