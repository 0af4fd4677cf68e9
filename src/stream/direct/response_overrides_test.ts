import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { compileContentTypes } from "./content_type.ts";
import {
  applyResponseOverrides,
  NO_RESPONSE_OVERRIDES,
  parseResponseOverrides,
  type ResponseOverridePolicy,
} from "./response_overrides.ts";

const POLICY: ResponseOverridePolicy = {
  settable: new Set(["content-type", "cache-control", "content-disposition"]),
  contentTypes: compileContentTypes(["video/*", "application/vnd.apple.mpegurl"]),
};

const parse = (query: string) =>
  parseResponseOverrides(new URL(`http://s/proxy/stream?d=x&${query}`), POLICY);

function refusal(query: string): string {
  try {
    parse(query);
    return "admitted";
  } catch (error) {
    assert(error instanceof ProxyError);
    return `${error.status} ${error.reason} ${error.message}`;
  }
}

Deno.test("parseResponseOverrides() reads r_, rp_ and x_headers in MediaFlow's spellings", () => {
  const overrides = parse(
    "r_Cache-Control=no-cache&rp_content_type=video%2Fmp2t&x_headers=Content-Length,%20content-range,",
  );
  assertEquals([...overrides.set], [["cache-control", "no-cache"]]);
  assertEquals([...overrides.propagate], [["content-type", "video/mp2t"]]);
  assertEquals([...overrides.remove], ["content-length", "content-range"]);
  // What links repeat: rp_ and x_headers as given; r_ is for this response only.
  assertEquals(overrides.carried, [
    ["rp_content_type", "video/mp2t"],
    ["x_headers", "Content-Length, content-range,"],
  ]);
  assert(parse("h_referer=x&other=1") === NO_RESPONSE_OVERRIDES);
});

Deno.test("parseResponseOverrides() refuses names and values outside the policy with 400", () => {
  assertEquals(
    refusal("r_set-cookie=a%3Db"),
    '400 bad_override response override "set-cookie" is not allowed',
  );
  assertEquals(
    refusal("rp_access-control-allow-origin=*"),
    '400 bad_override response override "access-control-allow-origin" is not allowed',
  );
  assertEquals(
    refusal("r_content-type=text%2Fhtml"),
    "400 bad_override response override content-type text/html is not allowed",
  );
  assertEquals(
    refusal("r_content-type=video%2Fmp4,%20text%2Fhtml"),
    "400 bad_override response override content-type (invalid) is not allowed",
  );
  assertEquals(
    refusal("r_cache-control=a%0d%0ab"),
    '400 bad_override response override "cache-control" has an invalid value',
  );
  assertEquals(
    refusal("r_cache-control=a&r_Cache_Control=b"),
    '400 bad_override response override "cache-control" is given twice',
  );
  assertEquals(
    refusal("r_bad%20name=1"),
    '400 bad_override response override "r_bad name" is not a header name',
  );
  assertEquals(
    refusal("x_headers=a%20b"),
    '400 bad_override x_headers names "a b", not a header name',
  );
  assertEquals(refusal("r_content-type=video%2Fmp2t"), "admitted");
});

Deno.test("applyResponseOverrides() removes only copied upstream headers and sets r_/rp_", () => {
  const overrides = parse(
    "x_headers=content-length,x-content-type-options,content-security-policy,etag&r_cache-control=no-store&rp_content-type=video%2Fmp2t",
  );
  const fresh = () =>
    new Headers({
      "content-length": "10",
      etag: '"e"',
      "content-type": "image/png",
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox; default-src 'none'",
    });
  const segment = fresh();
  applyResponseOverrides(segment, overrides, { segment: true });
  assertEquals(Object.fromEntries(segment), {
    "cache-control": "no-store",
    "content-security-policy": "sandbox; default-src 'none'",
    "content-type": "video/mp2t",
    "x-content-type-options": "nosniff",
  });
  const manifest = fresh();
  applyResponseOverrides(manifest, overrides, { segment: false });
  assertEquals(manifest.get("content-type"), "image/png", "rp_ is for segments only");
  assertEquals(manifest.get("cache-control"), "no-store");
});
