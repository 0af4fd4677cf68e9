import assert from "node:assert/strict";
import { classifyPath, describePathAmbiguity, type PathAmbiguity, rawPathOf } from "./path.ts";

/** [path, expected]: `null` = admitted. */
const CASES: readonly [string, PathAmbiguity | null][] = [
  // Admitted: plain paths and legitimate encodings.
  ["/", null],
  ["", null],
  ["/vod/a.m3u8", null],
  ["/vod//double//slash/", null],
  ["/vod/my%20movie.mp4", null],
  ["/vod/a%2Bb.ts", null],
  ["/vod/caf%C3%A9.m3u8", null],
  ["/vod/café.m3u8", null],
  ["/vod/%E6%97%A5%E6%9C%AC.mp4", null],
  ["/vod/%F0%9F%8E%AC.mp4", null],
  ["/%76od/a.mp4", null],
  ["/vod/a%2em3u8", null],
  ["/vod/.well-known/x", null],
  ["/vod/.hidden", null],
  ["/vod/..hidden", null],
  ["/vod/a..b/x", null],
  ["/vod/x.", null],
  ["/vod/a.mp4;jsessionid=1", null],
  ["/vod;v=1/a.mp4", null],
  ["/vod/;..", null],
  ["/vod/100%25off.mp4", null],
  ["/vod/50%25", null],
  ["/vod/%3Fq%23f.ts", null],
  ["/vod/½.mp4", null],
  ["/vod/a~b_c-d!$&'()*+,=:@.ts", null],
  // Dot segments in any encoding.
  ["/vod/../secret", "dot_segment"],
  ["/vod/./a", "dot_segment"],
  ["/vod/..", "dot_segment"],
  ["..", "dot_segment"],
  ["/vod/%2e%2e/secret", "dot_segment"],
  ["/vod/%2E%2e/secret", "dot_segment"],
  ["/vod/.%2e/secret", "dot_segment"],
  ["/vod/%2e/a", "dot_segment"],
  ["/vod/.../a", "dot_segment"],
  ["/vod/..%20/a", "dot_segment"],
  // Dot segments carrying parameters (Tomcat, Jetty).
  ["/vod/..;/secret", "dot_segment_parameters"],
  ["/vod/..;x=1/secret", "dot_segment_parameters"],
  ["/vod/.;x/a", "dot_segment_parameters"],
  ["/vod/%2e%2e;/secret", "dot_segment_parameters"],
  ["/vod/..%3B/secret", "dot_segment_parameters"],
  // Double encoding.
  ["/vod/%252e%252e/secret", "double_encoding"],
  ["/vod/%252f", "double_encoding"],
  ["/vod/%25%32%65%25%32%65/secret", "double_encoding"],
  ["/vod/%255c", "double_encoding"],
  // Encoded separators, any case.
  ["/vod/..%2fsecret", "encoded_separator"],
  ["/vod/a%2Fb", "encoded_separator"],
  ["/vod/a%5cb", "encoded_separator"],
  ["/vod/a%5Cb", "encoded_separator"],
  // Backslashes.
  ["/vod/..\\secret", "backslash"],
  ["\\vod", "backslash"],
  // Controls, raw or encoded.
  ["/vod/%00.mp4", "control_character"],
  ["/vod/a%0d%0aSet-Cookie:x", "control_character"],
  ["/vod/%09", "control_character"],
  ["/vod/%7F", "control_character"],
  ["/vod/a\u0000b", "control_character"],
  ["/vod/a\tb", "control_character"],
  ["/vod/%C2%85", "control_character"],
  // Malformed percent-encoding.
  ["/vod/%zz", "malformed_encoding"],
  ["/vod/%2", "malformed_encoding"],
  ["/vod/%", "malformed_encoding"],
  ["/vod/%u002e%u002e", "malformed_encoding"],
  ["/vod/%%32%65", "malformed_encoding"],
  // Overlong and invalid UTF-8.
  ["/vod/%C0%AE%C0%AE/secret", "invalid_utf8"],
  ["/vod/%C0%AF", "invalid_utf8"],
  ["/vod/%E0%80%AE", "invalid_utf8"],
  ["/vod/%C3", "invalid_utf8"],
  ["/vod/%80", "invalid_utf8"],
  ["/vod/%ED%A0%80", "invalid_utf8"],
  ["/vod/%F4%90%80%80", "invalid_utf8"],
  ["/vod/%FF", "invalid_utf8"],
  ["/vod/\uD800", "invalid_utf8"],
  // Unicode look-alikes, raw or percent-encoded.
  ["/vod/\u2215secret", "lookalike"],
  ["/vod/%E2%88%95secret", "lookalike"],
  ["/vod/\u2044secret", "lookalike"],
  ["/vod/%E2%81%84secret", "lookalike"],
  ["/vod/\uFF0Fsecret", "lookalike"],
  ["/vod/%EF%BC%8F", "lookalike"],
  ["/vod/\u29F8", "lookalike"],
  ["/vod/\uFF0E\uFF0E/secret", "lookalike"],
  ["/vod/%EF%BC%8E%EF%BC%8E/secret", "lookalike"],
  ["/vod/\u2024\u2024", "lookalike"],
  ["/vod/\uFE52", "lookalike"],
  ["/vod/\u3002", "lookalike"],
  ["/vod/%E3%80%82", "lookalike"],
  ["/vod/\u2025", "lookalike"],
  ["/vod/\uFF3C", "lookalike"],
  ["/vod/\u2216", "lookalike"],
  ["/vod/\uFF05%32%65", "lookalike"],
];

Deno.test("classifyPath() admits legitimate paths and names each ambiguity", () => {
  assert.ok(CASES.length >= 40);
  const wrong = CASES.filter(([path, expected]) => classifyPath(path) !== expected)
    .map(([path, expected]) => `${JSON.stringify(path)}: ${classifyPath(path)} != ${expected}`);
  assert.deepEqual(wrong, []);
});

Deno.test("classifyPath() reports the first ambiguity from the left", () => {
  assert.equal(classifyPath("/%2f/%zz"), "encoded_separator");
  assert.equal(classifyPath("/%zz/%2f"), "malformed_encoding");
  assert.equal(classifyPath("/../%252e"), "double_encoding", "decoded checks run in order");
});

Deno.test("rawPathOf() returns the path as written, before URL parsing", () => {
  const cases: [string, string][] = [
    ["https://cdn.example/vod/../secret?x=1", "/vod/../secret"],
    ["https://cdn.example/vod/%2e%2e/a#frag", "/vod/%2e%2e/a"],
    ["http://cdn.example:8080/a\\b?c", "/a\\b"],
    ["http:\\\\cdn.example\\vod", "\\vod"],
    ["http:cdn.example/x", "/x"],
    ["https://cdn.example", ""],
    ["https://cdn.example?x=/..", ""],
    ["  https://cdn.example/a.ts \n", "/a.ts"],
    ["https://u:p@cdn.example/a", "/a"],
    ["http://x/vod/..;/secret", "/vod/..;/secret"],
  ];
  for (const [url, path] of cases) assert.equal(rawPathOf(url), path, url);
});

Deno.test("describePathAmbiguity() gives a short phrase per kind", () => {
  assert.equal(describePathAmbiguity("dot_segment_parameters"), "dot segment with parameters");
  assert.equal(describePathAmbiguity("double_encoding"), "double percent-encoding");
  assert.equal(describePathAmbiguity("lookalike"), "look-alike of a path separator or dot");
});
