import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  compileAllowlist,
  globToRegExp,
  isAllowed,
  normaliseUrl,
  removeDotSegments,
} from "./allowlist.ts";

const rules = compileAllowlist([
  { domain: "cdn.example", schemes: ["https"], paths: ["/vod/**"] },
  { domain: "*.media.example", schemes: ["http", "https"], paths: ["/*.mp4", "/live/**"] },
]);

const allowed = (url: string) => isAllowed(rules, normaliseUrl(new URL(url)));

Deno.test("globToRegExp() gives ** any depth and * one segment", () => {
  assert(globToRegExp("/vod/**").test("/vod/a/b.mp4"));
  assert(globToRegExp("/vod/**").test("/vod"));
  assert(!globToRegExp("/vod/**").test("/vodka"));
  assert(globToRegExp("/*.mp4").test("/a.mp4"));
  assert(!globToRegExp("/*.mp4").test("/a/b.mp4"));
  assert(globToRegExp("/a.b").test("/a.b") && !globToRegExp("/a.b").test("/aXb"));
});

Deno.test("removeDotSegments() follows RFC 3986 §5.2.4", () => {
  assertEquals(removeDotSegments("/a/b/../c/./d"), "/a/c/d");
  assertEquals(removeDotSegments("/../../x"), "/x");
  assertEquals(removeDotSegments("/a/.."), "/");
});

Deno.test("isAllowed() matches domains, schemes and paths on the normalised URL", () => {
  assert(allowed("https://cdn.example/vod/a.mp4"));
  assert(allowed("https://CDN.EXAMPLE./vod/a.mp4"));
  assert(allowed("https://cdn.example:443/vod/a.mp4"));
  assert(allowed("https://cdn.example/%76od/a.mp4"));
  assert(!allowed("http://cdn.example/vod/a.mp4"), "scheme");
  assert(allowed("https://cdn.example:8443/vod/a.mp4"), "rules do not restrict ports");
  assert(!allowed("https://evil.cdn.example/vod/a.mp4"), "exact domain");
  assert(!allowed("https://cdn.example.evil/vod/a.mp4"));
  assert(!allowed("https://cdn.example/vodka"));
  assert(!allowed("https://cdn.example/vod/../admin"));
  assert(!allowed("https://cdn.example/vod/%2e%2e/admin"));
  assert(!allowed("https://cdn.example/vod/..%2Fadmin"), "decoded reading escapes");
  assert(!allowed("https://cdn.example/vod/..%5Cadmin"), "backslash reading escapes");
  assert(allowed("http://a.media.example/x.mp4"));
  assert(allowed("https://a.b.media.example/live/1.ts"));
  assert(!allowed("https://media.example/x.mp4"), "wildcard excludes the apex");
  assert(!allowed("https://a.media.example/dir/x.mp4"));
});

Deno.test("normaliseUrl() refuses userinfo, other schemes and control characters", () => {
  for (
    const url of [
      "https://u:p@cdn.example/vod/a",
      "https://u@cdn.example/",
      "ftp://cdn.example/",
      "https://cdn.example/vod/%00",
      "https://cdn.example/vod/%0d%0a",
    ]
  ) {
    try {
      normaliseUrl(new URL(url));
      assert.fail(`accepted ${url}`);
    } catch (error) {
      assertEquals((error as { status: number }).status, 400, url);
    }
  }
  assertEquals(normaliseUrl(new URL("http://[::1]:80/")).host, "::1");
  assertEquals(normaliseUrl(new URL("http://x.example/")).port, 80);
});
