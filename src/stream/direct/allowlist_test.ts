import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { compileAllowlist, globToRegExp, isAllowed, normaliseUrl } from "./allowlist.ts";

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
  assert(allowed("https://cdn.example/vod/caf%C3%A9.m3u8"));
  assert(allowed("https://cdn.example/vod/a%20b%2Bc.ts"));
  assert(allowed("http://a.media.example/x.mp4"));
  assert(allowed("https://a.b.media.example/live/1.ts"));
  assert(!allowed("https://media.example/x.mp4"), "wildcard excludes the apex");
  assert(!allowed("https://a.media.example/dir/x.mp4"));
});

Deno.test("normaliseUrl() refuses userinfo and other schemes with 400", () => {
  for (
    const url of [
      "https://u:p@cdn.example/vod/a",
      "https://u@cdn.example/",
      "ftp://cdn.example/",
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

Deno.test("normaliseUrl() refuses ambiguous paths with 403 ambiguous_path", () => {
  const cases: [string, string][] = [
    ["https://cdn.example/vod/..;/secret", "dot segment with parameters"],
    ["https://cdn.example/vod/%2e%2e;x/secret", "dot segment with parameters"],
    ["https://cdn.example/vod/%252e%252e/secret", "double percent-encoding"],
    ["https://cdn.example/vod/..%2Fadmin", "encoded path separator"],
    ["https://cdn.example/vod/..%5Cadmin", "encoded path separator"],
    ["https://cdn.example/vod/%00", "control character"],
    ["https://cdn.example/vod/%0d%0a", "control character"],
    ["https://cdn.example/vod/%zz", "malformed percent-encoding"],
    ["https://cdn.example/vod/%C0%AE%C0%AE/x", "invalid UTF-8"],
    ["https://cdn.example/vod/\u2215secret", "look-alike of a path separator or dot"],
    ["https://cdn.example/vod/\uFF0E\uFF0E/secret", "look-alike of a path separator or dot"],
  ];
  for (const [url, description] of cases) {
    assert.throws(
      () => normaliseUrl(new URL(url)),
      (e) =>
        e instanceof ProxyError && e.status === 403 && e.reason === "ambiguous_path" &&
        e.message === `ambiguous path: ${description}`,
      url,
    );
  }
});
