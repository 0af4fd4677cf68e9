import assert from "node:assert/strict";
import { ProxyError } from "../errors/mod.ts";
import { joinUpstreamUrl } from "./upstream_url.ts";

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
});

Deno.test("joinUpstreamUrl() refuses dot-segments, raw or percent-encoded", () => {
  for (const path of ["/../x", "/a/%2e%2e/x", "/%2E%2e", "/a%2f..%2fb", "/a%5c..", "/%zz"]) {
    assert.throws(
      () => joinUpstreamUrl(ORIGIN, { pathname: path, search: "" }),
      (e) => e instanceof ProxyError && e.status === 400,
      path,
    );
  }
});
