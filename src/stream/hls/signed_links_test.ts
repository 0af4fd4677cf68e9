import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { TokenKeys } from "../../policy/mod.ts";
import { directModeResolver } from "./links.ts";
import { rewritePlaylist } from "./rewrite.ts";
import { SignedLinkWriter } from "./signed_links.ts";

const keys = TokenKeys.from({ aesKey: "ab".repeat(32), signingSecret: null })!;
const PLAYLIST = [
  "#EXTM3U",
  '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k.bin"',
  "#EXTINF:4,",
  "seg-1.ts",
  "#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1x1",
  "nested/index.m3u8",
  "",
].join("\n");

async function open(link: string) {
  const match = /^\/_token_([A-Za-z0-9_-]+)(\/.*)$/.exec(link);
  assert(match, link);
  return { path: match[2], claims: await keys.open(match[1]) };
}

Deno.test("signed links carry the destination, the overrides and the request's expiry and address", async () => {
  const signed = new SignedLinkWriter(keys, { exp: 2_000_000_000, ip: "203.0.113.9" });
  const resolve = directModeResolver({
    overrides: [["h_referer", "https://p.example/"], ["rp_content-type", "video/mp2t"]],
    playlistParameters: [["key_url", "https://keys.example/other.bin"]],
    signed,
  });
  const text = await signed.finish(
    rewritePlaylist(PLAYLIST, { playlistUrl: "https://cdn.example/v/main.m3u8", resolve }),
  );
  assert(!text.includes("cdn.example") && !text.includes("sproxlink"), text);
  const links = text.split("\n").filter((l) => l.startsWith("/_token_"));
  const key = /URI="([^"]+)"/.exec(text)![1];
  assertEquals(links.length, 2);

  const segment = await open(links[0]);
  assertEquals(segment.path, "/proxy/stream/seg-1.ts");
  assertEquals(segment.claims, {
    endpoint: "/proxy/stream",
    params: [
      ["d", "https://cdn.example/v/seg-1.ts"],
      ["h_referer", "https://p.example/"],
      ["rp_content-type", "video/mp2t"],
    ],
    exp: 2_000_000_000,
    ip: "203.0.113.9",
  });
  const nested = await open(links[1]);
  assertEquals(nested.path, "/proxy/hls/manifest.m3u8");
  assertEquals(nested.claims?.params, [
    ["d", "https://cdn.example/v/nested/index.m3u8"],
    ["h_referer", "https://p.example/"],
    ["rp_content-type", "video/mp2t"],
    ["key_url", "https://keys.example/other.bin"],
  ]);
  const keyLink = await open(key);
  assertEquals(keyLink.path, "/proxy/stream/k.bin.ts");
  assertEquals(keyLink.claims?.params[0], ["d", "https://keys.example/k.bin"]);
});

Deno.test("SignedLinkWriter.finish() leaves text without placeholders, and foreign ones, alone", async () => {
  const signed = new SignedLinkWriter(keys, { exp: 1, ip: null });
  assertEquals(await signed.finish("#EXTM3U\nsproxlinkabcx0y\n"), "#EXTM3U\nsproxlinkabcx0y\n");
});

Deno.test("directModeResolver() proxies keys (and playlists) only, or nothing, when asked", () => {
  const keysOnly = directModeResolver({
    proxy: "keys",
    playlistPath: "/proxy/hls/key_proxy/manifest.m3u8",
  });
  assertEquals(keysOnly("https://cdn.example/a/seg.ts", "media"), "https://cdn.example/a/seg.ts");
  assertEquals(
    keysOnly("https://cdn.example/a/k.bin", "key"),
    "/proxy/stream/k.bin.ts?d=https%3A%2F%2Fcdn.example%2Fa%2Fk.bin",
  );
  assertEquals(
    keysOnly("https://cdn.example/a/v.m3u8", "playlist"),
    "/proxy/hls/key_proxy/manifest.m3u8?d=https%3A%2F%2Fcdn.example%2Fa%2Fv.m3u8",
  );
  const none = directModeResolver({ proxy: "none" });
  assertEquals(none("https://cdn.example/a/k.bin", "key"), "https://cdn.example/a/k.bin");
  assertEquals(none("https://cdn.example/a/v.m3u8", "playlist"), "https://cdn.example/a/v.m3u8");
});
