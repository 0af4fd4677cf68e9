import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { parseDirectRequest, upstreamHeaders } from "./request.ts";

const base = "http://sprox/proxy/stream?";

function reason(query: string): string | undefined {
  try {
    parseDirectRequest(new URL(base + query));
    return undefined;
  } catch (error) {
    assert(error instanceof ProxyError);
    assertEquals(error.status, 400);
    return error.reason;
  }
}

Deno.test("parseDirectRequest() reads d and maps h_ overrides to header names", () => {
  const req = parseDirectRequest(
    new URL(
      base +
        "d=https%3A%2F%2Fcdn.example%2Fa.mp4%23frag&h_if_none_match=%22x%22&H_RANGE=bytes%3D0-",
    ),
  );
  assertEquals(req.target.href, "https://cdn.example/a.mp4");
  assertEquals([...req.overrides], [["if-none-match", '"x"'], ["range", "bytes=0-"]]);
});

Deno.test("parseDirectRequest() refuses bad destinations and overrides with 400", () => {
  assertEquals(reason(""), "bad_request");
  assertEquals(reason("d="), "bad_request");
  assertEquals(reason("d=relative/path"), "bad_request");
  assertEquals(reason("d=javascript:alert(1)"), "bad_request");
  assertEquals(reason("d=https://a.example/&d=https://b.example/"), "bad_request");
  assertEquals(reason("d=https://a.example/&h_cookie=x"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_host=x"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_range=a%0d%0ab"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_range=a%0ab"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_referer=%C3%A9"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_range=1&h_Range=2"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_ra.nge=1"), "bad_override");
  assertEquals(reason("d=https://a.example/&api_password=x&other=1"), undefined);
});

Deno.test("upstreamHeaders() passes playback headers only, overrides win", () => {
  const headers = upstreamHeaders(
    new Headers({ range: "bytes=0-1", cookie: "a", referer: "https://page", "user-agent": "UA" }),
    new Map([["user-agent", "Override"]]),
  );
  assertEquals(Object.fromEntries(headers), {
    "accept-encoding": "identity",
    range: "bytes=0-1",
    "user-agent": "Override",
  });
});

Deno.test("parseDirectRequest() refuses a d whose path is ambiguous as written", () => {
  const refused = (d: string) => {
    try {
      parseDirectRequest(new URL(base + new URLSearchParams({ d })));
      return "admitted";
    } catch (error) {
      assert(error instanceof ProxyError);
      return `${error.status} ${error.reason} ${error.message}`;
    }
  };
  assertEquals(
    refused("https://cdn.example/vod/../secret"),
    "403 ambiguous_path ambiguous path: dot segment",
  );
  assertEquals(
    refused("https://cdn.example/vod/%2E%2E/secret"),
    "403 ambiguous_path ambiguous path: dot segment",
  );
  assertEquals(
    refused("https://cdn.example/vod\\..\\secret"),
    "403 ambiguous_path ambiguous path: backslash",
  );
  assertEquals(
    refused("https://cdn.example/vod/\u2215x"),
    "403 ambiguous_path ambiguous path: look-alike of a path separator or dot",
  );
  assertEquals(refused("https://cdn.example/vod/a.ts?x=/../y"), "admitted");
  assertEquals(refused("https://cdn.example/vod/café.m3u8"), "admitted");
  assertEquals(
    parseDirectRequest(
      new URL(base + new URLSearchParams({ d: "https://cdn.example/vod/café.m3u8" })),
    ).target.pathname,
    "/vod/caf%C3%A9.m3u8",
  );
});
