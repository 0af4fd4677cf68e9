import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { selectVariant, variantChoice } from "./variants.ts";

const MULTIVARIANT = [
  "#EXTM3U",
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="a"',
  "360p.m3u8",
  '#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,AUDIO="a"',
  "720p.m3u8",
  '#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
  "720p-high.m3u8",
  "#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080",
  "",
  "1080p.m3u8",
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="iframes.m3u8"',
  "",
].join("\n");

const uris = (text: string) => text.split("\n").filter((l) => l.endsWith(".m3u8"));

Deno.test("selectVariant() keeps only the highest resolution for max_res", () => {
  const out = selectVariant(MULTIVARIANT, { kind: "max" });
  assertEquals(uris(out), ["1080p.m3u8"]);
  // Renditions and I-frame playlists stay.
  assert(out.includes('URI="audio/en.m3u8"') && out.includes('URI="iframes.m3u8"'), out);
  assert(out.startsWith("#EXTM3U\n"));
});

Deno.test("selectVariant() picks a height, else the closest lower one, else the lowest", () => {
  assertEquals(uris(selectVariant(MULTIVARIANT, { kind: "height", height: 720 })), [
    "720p-high.m3u8",
  ]);
  assertEquals(uris(selectVariant(MULTIVARIANT, { kind: "height", height: 900 })), [
    "720p-high.m3u8",
  ]);
  assertEquals(uris(selectVariant(MULTIVARIANT, { kind: "height", height: 240 })), [
    "360p.m3u8",
  ]);
  assertEquals(uris(selectVariant(MULTIVARIANT, { kind: "height", height: 2160 })), [
    "1080p.m3u8",
  ]);
});

Deno.test("selectVariant() leaves media playlists and unsized variants alone", () => {
  const media = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n";
  assertEquals(selectVariant(media, { kind: "max" }), media);
  const unsized = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n" +
    "#EXT-X-STREAM-INF:BANDWIDTH=9\r\nhigh.m3u8\r\n";
  assertEquals(selectVariant(unsized, { kind: "height", height: 720 }), unsized);
  assertEquals(uris(selectVariant(unsized, { kind: "max" }).replaceAll("\r", "")), ["high.m3u8"]);
});

Deno.test("variantChoice() reads max_res and resolution, refusing malformed resolutions", () => {
  const at = (query: string) => variantChoice(new URL(`http://s/m.m3u8?${query}`));
  assertEquals(at("max_res=true"), { kind: "max" });
  assertEquals(at("max_res=false&resolution=720p"), { kind: "height", height: 720 });
  assertEquals(at("resolution=1080"), { kind: "height", height: 1080 });
  assertEquals(at("x=1"), null);
  for (const bad of ["hd", "720i", "7"]) {
    try {
      at(`resolution=${bad}`);
      assert.fail(bad);
    } catch (error) {
      assert(error instanceof ProxyError && error.status === 400, bad);
    }
  }
});

Deno.test("selectVariant() reads attributes, not text inside another attribute's quoted value", () => {
  const text = [
    "#EXTM3U",
    '#EXT-X-STREAM-INF:BANDWIDTH=800000,NAME="x,RESOLUTION=3840x2160,y",RESOLUTION=640x360',
    "360p.m3u8",
    "#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720",
    "720p.m3u8",
    "",
  ].join("\n");
  assertEquals(uris(selectVariant(text, { kind: "max" })), ["720p.m3u8"]);
});
