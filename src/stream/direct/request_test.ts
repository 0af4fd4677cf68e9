import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { parseDestination, parseDirectRequest, upstreamHeaders } from "./request.ts";

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

const b64 = (text: string) => btoa(text);
const b64url = (text: string) =>
  btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

Deno.test("parseDestination() reads d as a URL or as its base64 (either alphabet, padding optional)", () => {
  // Chosen so that the standard alphabet has '+' and '/', and there is padding to drop.
  const url = "https://cdn.example/vod/a>b?x=~~~&y=1";
  assert(b64(url).includes("+") || b64(url).includes("/"), b64(url));
  for (const written of [url, b64(url), b64url(url), b64(url).replace(/=+$/, "")]) {
    assertEquals(parseDestination(written, "d").href, "https://cdn.example/vod/a%3Eb?x=~~~&y=1");
  }
  const d = parseDirectRequest(new URL(base + new URLSearchParams({ d: b64url(url) })));
  assertEquals(d.target.host, "cdn.example");
});

Deno.test("parseDestination() refuses base64 of anything but an absolute http(s) URL", () => {
  const refused = (text: string) => {
    try {
      parseDestination(text, "init_url");
      return "admitted";
    } catch (error) {
      assert(error instanceof ProxyError);
      return `${error.status} ${error.reason} ${error.message}`;
    }
  };
  const expected = "400 bad_request init_url must be an absolute http(s) URL";
  assertEquals(refused(b64url("ftp://cdn.example/a")), expected);
  assertEquals(refused(b64url("/relative/path")), expected);
  assertEquals(refused(b64url("javascript:alert(1)")), expected);
  assertEquals(refused("aGVsbG8"), expected); // "hello"
  assertEquals(refused("/w"), expected); // not valid UTF-8 once decoded
  assertEquals(refused("abcde"), expected); // a length base64 never has
  // An ambiguous path is refused after decoding too.
  assertEquals(
    refused(b64url("https://cdn.example/vod/../secret")),
    "403 ambiguous_path ambiguous path: dot segment",
  );
});

Deno.test("parseDirectRequest() maps MediaFlow's header spellings and keeps extras opt-in", () => {
  const parsed = parseDirectRequest(
    new URL(base + "d=https://a.example/&h_referrer=https%3A%2F%2Fp.example%2F&h_User-Agent=UA"),
  );
  assertEquals([...parsed.overrides], [["referer", "https://p.example/"], [
    "user-agent",
    "UA",
  ]]);
  // Both spellings of one header are the same header given twice.
  assertEquals(reason("d=https://a.example/&h_user-agent=a&h_user_agent=b"), "bad_override");
  assertEquals(reason("d=https://a.example/&h_referrer=a&h_referer=b"), "bad_override");
  // Authorization only when the operator allows it.
  assertEquals(reason("d=https://a.example/&h_authorization=Bearer%20x"), "bad_override");
  const allowed = parseDirectRequest(
    new URL(base + "d=https://a.example/&h_Authorization=Bearer%20x"),
    { extraOverridable: new Set(["authorization"]) },
  );
  assertEquals(allowed.overrides.get("authorization"), "Bearer x");
});
