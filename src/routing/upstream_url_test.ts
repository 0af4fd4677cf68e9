import assert from "node:assert/strict";
import { ProxyError } from "../errors/mod.ts";
import { assertUnambiguousPath, joinUpstreamUrl } from "./upstream_url.ts";

const ORIGIN = new URL("https://origin.example/vod/");

Deno.test("joinUpstreamUrl() joins without double slashes and keeps the query", () => {
  assert.equal(
    joinUpstreamUrl(ORIGIN, { pathname: "/a/b.m3u8", search: "?t=1" }).href,
    "https://origin.example/vod/a/b.m3u8?t=1",
  );
  assert.equal(
    joinUpstreamUrl(ORIGIN, { pathname: "//a///b/", search: "" }).href,
    "https://origin.example/vod/a/b/",
  );
  assert.equal(
    joinUpstreamUrl(new URL("http://o"), { pathname: "/", search: "" }).href,
    "http://o/",
  );
  assert.equal(joinUpstreamUrl(ORIGIN, { pathname: "/a%20b", search: "" }).pathname, "/vod/a%20b");
  assert.equal(
    joinUpstreamUrl(ORIGIN, { pathname: "/caf%C3%A9.m3u8", search: "" }).pathname,
    "/vod/caf%C3%A9.m3u8",
  );
  assert.equal(
    joinUpstreamUrl(ORIGIN, { pathname: "/a.ts;v=1", search: "" }).pathname,
    "/vod/a.ts;v=1",
  );
});

Deno.test("joinUpstreamUrl() refuses ambiguous paths with 403 ambiguous_path", () => {
  const cases: [string, string][] = [
    ["/../x", "dot segment"],
    ["/a/%2e%2e/x", "dot segment"],
    ["/%2E%2e", "dot segment"],
    ["/./x", "dot segment"],
    ["/..;/secret", "dot segment with parameters"],
    ["/%2e%2e;x/secret", "dot segment with parameters"],
    ["/a%2f..%2fb", "encoded path separator"],
    ["/a%5c..", "encoded path separator"],
    ["/%252e%252e/x", "double percent-encoding"],
    ["/%zz", "malformed percent-encoding"],
    ["/%C0%AE%C0%AE/x", "invalid UTF-8"],
    ["/%EF%BC%8E%EF%BC%8E/x", "look-alike of a path separator or dot"],
    ["/a%00", "control character"],
  ];
  for (const [path, description] of cases) {
    assert.throws(
      () => joinUpstreamUrl(ORIGIN, { pathname: path, search: "" }),
      (e) =>
        e instanceof ProxyError && e.status === 403 && e.reason === "ambiguous_path" &&
        e.message === `ambiguous path: ${description}`,
      path,
    );
  }
});

Deno.test("assertUnambiguousPath() passes plain paths and refuses a backslash", () => {
  assert.equal(assertUnambiguousPath("/vod/a.m3u8"), undefined);
  assert.throws(
    () => assertUnambiguousPath("/vod\\..\\x"),
    (e) => e instanceof ProxyError && e.message === "ambiguous path: backslash",
  );
});

Deno.test("joinUpstreamUrl() reads the same as joining through the URL setters, for any path", () => {
  // The reference: the origin's URL with its pathname and search set.
  const reference = (origin: URL, path: string, search: string) => {
    const base = origin.pathname.replace(/\/+$/, "");
    const segments = path.split("/").filter((s) => s !== "");
    const url = new URL(origin.href);
    url.pathname = `${base}/${segments.join("/")}${
      path.endsWith("/") && segments.length ? "/" : ""
    }`;
    url.search = search;
    return url.href;
  };
  const origins = [
    "http://127.0.0.1:8080",
    "https://o.example/vod/",
    "https://o.example:8443/a/b",
    "http://[::1]:9000/base//",
    "https://user:secret@o.example/private/",
  ].map((o) => new URL(o));
  const alphabet = [
    "a",
    "Z",
    "0",
    "/",
    "//",
    " ",
    "%20",
    "%41",
    "é",
    "😀",
    "'",
    '"',
    "<",
    ">",
    "`",
    "{",
    "}",
    "|",
    "^",
    "[",
    "]",
    "@",
    ":",
    ";",
    ",",
    "=",
    "+",
    "$",
    "&",
    "!",
    "*",
    "(",
    ")",
    "~",
    "-",
    "_",
    ".m3u8",
    "%25",
    "%3F",
    "%23",
    "\u00a0",
    "\t",
  ];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let compared = 0;
  for (let i = 0; i < 3000; i++) {
    let raw = "/";
    const length = 1 + Math.floor(next() * 10);
    for (let j = 0; j < length; j++) raw += alphabet[Math.floor(next() * alphabet.length)];
    const query = next() < 0.5 ? "" : `?${alphabet[Math.floor(next() * alphabet.length)]}=1&b=${i}`;
    const request = new URL(`http://sprox.test${raw}${query}`);
    for (const origin of origins) {
      let joined: string;
      try {
        joined = joinUpstreamUrl(origin, request).href;
      } catch {
        continue; // refused as ambiguous: nothing joined
      }
      assert.equal(joined, reference(origin, request.pathname, request.search), raw + query);
      compared++;
    }
  }
  assert.ok(compared > 5000, `compared ${compared}`);
});
