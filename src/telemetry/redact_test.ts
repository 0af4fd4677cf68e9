import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  isSensitiveQueryName,
  REDACTED,
  redactHeaders,
  redactPathAndQuery,
  redactText,
  redactUrl,
} from "./redact.ts";

const NO_DRM = { redactDrmEverywhere: false };
const DRM = { redactDrmEverywhere: true };

Deno.test("redactPathAndQuery() hides credentials on every path and keeps the rest byte for byte", () => {
  assertEquals(
    redactPathAndQuery("/seg.ts?api_password=hunter2&x=a%20b&token=t0k&access_token=z", NO_DRM),
    `/seg.ts?api_password=${REDACTED}&x=a%20b&token=${REDACTED}&access_token=${REDACTED}`,
  );
  assertEquals(redactPathAndQuery("/plain", NO_DRM), "/plain");
  assertEquals(redactPathAndQuery("/q?flag&b=", NO_DRM), "/q?flag&b=");
});

Deno.test("redactPathAndQuery() hides kid and sig on /keys even when the toggle is off", () => {
  assertEquals(
    redactPathAndQuery("/keys/clearkey?kid=abc&sig=def&x=1", NO_DRM),
    `/keys/clearkey?kid=${REDACTED}&sig=${REDACTED}&x=1`,
  );
  assertEquals(redactPathAndQuery("/video?kid=abc", NO_DRM), "/video?kid=abc");
  assertEquals(redactPathAndQuery("/video?kid=abc", DRM), `/video?kid=${REDACTED}`);
});

Deno.test("redactPathAndQuery() follows nested URLs (the d of /proxy/stream) and h_ overrides", () => {
  const inner = encodeURIComponent("https://u:pw@cdn.example/a.mp4?X-Amz-Signature=s1&n=2");
  const out = redactPathAndQuery(
    `/proxy/stream?d=${inner}&h_authorization=Bearer%20x&h_referer=r`,
    NO_DRM,
  );
  assert(!out.includes("s1") && !out.includes("pw") && !out.includes("Bearer"), out);
  assert(out.includes("h_referer=r"), out);
  assertEquals(
    decodeURIComponent(out.split("&")[0].slice("/proxy/stream?d=".length)),
    `https://${REDACTED}@cdn.example/a.mp4?X-Amz-Signature=${REDACTED}&n=2`,
  );
});

Deno.test("isSensitiveQueryName() matches credential names in any spelling", () => {
  for (
    const name of ["api_password", "Token", "key", "apiKey", "X-Amz-Credential", "sig", "hdnts"]
  ) {
    assert(isSensitiveQueryName(name, false), name);
  }
  for (const name of ["d", "start", "quality", "kid"]) {
    assert(!isSensitiveQueryName(name, false), name);
  }
  assert(isSensitiveQueryName("kid", true));
});

Deno.test("redactUrl() hides userinfo and keeps the fragment out", () => {
  assertEquals(
    redactUrl("http://a:b@h:1/p?pass=1#frag", NO_DRM),
    `http://${REDACTED}@h:1/p?pass=${REDACTED}`,
  );
});

Deno.test("redactHeaders() hides sensitive headers unless asked to log them", () => {
  const headers = new Headers({
    authorization: "Bearer abc",
    cookie: "sid=1",
    "x-sprox-api-password": "pw",
    "x-custom-token": "t",
    referer: "https://p.example/?token=zz",
    accept: "*/*",
  });
  const hidden = redactHeaders(headers, { logSensitive: false });
  assertEquals(hidden.authorization, REDACTED);
  assertEquals(hidden.cookie, REDACTED);
  assertEquals(hidden["x-sprox-api-password"], REDACTED);
  assertEquals(hidden["x-custom-token"], REDACTED);
  assertEquals(hidden.referer, `https://p.example/?token=${REDACTED}`);
  assertEquals(hidden.accept, "*/*");
  assertEquals(redactHeaders(headers, { logSensitive: true }).cookie, "sid=1");
});

Deno.test("redactText() redacts URLs and bearer tokens inside messages", () => {
  assertEquals(
    redactText("error sending request for url (http://o:1/x?token=abc): Bearer zzz"),
    `error sending request for url (http://o:1/x?token=${REDACTED}): Bearer ${REDACTED}`,
  );
});

Deno.test("signed-URL tokens are redacted in paths, ?token=, nested URLs and free text", () => {
  const token = "AQx7Yz_-Tok3n";
  assertEquals(
    redactPathAndQuery(`/_token_${token}/proxy/stream/movie.mp4?x=1`, NO_DRM),
    `/_token_${REDACTED}/proxy/stream/movie.mp4?x=1`,
  );
  assertEquals(redactPathAndQuery(`/_token_${token}`, NO_DRM), `/_token_${REDACTED}`);
  assertEquals(
    redactPathAndQuery(`/proxy/hls/manifest.m3u8?token=${token}&d=x`, NO_DRM),
    `/proxy/hls/manifest.m3u8?token=${REDACTED}&d=x`,
  );
  assertEquals(
    redactUrl(`https://sprox.example/_token_${token}/proxy/stream`, NO_DRM),
    `https://sprox.example/_token_${REDACTED}/proxy/stream`,
  );
  const headers = redactHeaders(
    new Headers({ referer: `https://sprox.example/_token_${token}/proxy/hls/manifest.m3u8` }),
    { logSensitive: false },
  );
  assertEquals(headers.referer, `https://sprox.example/_token_${REDACTED}/proxy/hls/manifest.m3u8`);
  const text = redactText(`request to /_token_${token}/proxy/stream failed`);
  assert(!text.includes(token), text);
  // A path segment that merely contains the word is left alone.
  assertEquals(redactPathAndQuery("/media/my_token_file.ts", NO_DRM), "/media/my_token_file.ts");
});
