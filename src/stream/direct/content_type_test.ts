import assert from "node:assert/strict";
import { DirectStreamSchema } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import {
  compileContentTypes,
  isContentTypeAllowed,
  mediaTypeOf,
  screenContentType,
} from "./content_type.ts";

const DEFAULTS = DirectStreamSchema.parse({}).allowed_content_types;
const policy = compileContentTypes(DEFAULTS);

Deno.test("mediaTypeOf() reads one media type's essence, nothing else", () => {
  assert.equal(mediaTypeOf("video/MP2T"), "video/mp2t");
  assert.equal(mediaTypeOf(" Application/X-MpegURL ; charset=utf-8"), "application/x-mpegurl");
  assert.equal(mediaTypeOf("text/html, video/mp4"), null);
  assert.equal(mediaTypeOf("video"), null);
  assert.equal(mediaTypeOf(""), null);
  assert.equal(mediaTypeOf("video/mp4 extra"), null);
});

Deno.test("the default allowlist admits media, playlists, subtitles, keys and thumbnails", () => {
  const admitted = [
    "video/mp2t",
    "video/mp4",
    "audio/aac",
    "audio/mpegurl",
    "application/vnd.apple.mpegurl",
    "application/x-mpegurl",
    "application/dash+xml",
    "application/mp4",
    "text/vtt",
    "application/ttml+xml",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
    "image/jpeg",
    "image/png",
    "image/webp",
  ];
  const refused = [
    "text/html",
    "application/xhtml+xml",
    "application/javascript",
    "text/javascript",
    "image/svg+xml",
    "application/xml",
    "text/xml",
    "application/pdf",
    "application/json",
    "application/pkcs7-mime",
    "multipart/x-mixed-replace",
    "videos/mp4",
  ];
  assert.deepEqual(admitted.filter((t) => !isContentTypeAllowed(policy, t)), []);
  assert.deepEqual(refused.filter((t) => isContentTypeAllowed(policy, t)), []);
});

Deno.test("compileContentTypes() reads exact types, type wildcards and */*", () => {
  const custom = compileContentTypes(["Video/*", "application/JSON"]);
  assert.ok(isContentTypeAllowed(custom, "video/webm"));
  assert.ok(isContentTypeAllowed(custom, "application/json"));
  assert.ok(!isContentTypeAllowed(custom, "application/json5"));
  assert.ok(!isContentTypeAllowed(custom, "audio/mp4"));
  assert.ok(isContentTypeAllowed(compileContentTypes(["*/*"]), "text/html"));
  assert.ok(!isContentTypeAllowed(compileContentTypes([]), "video/mp4"));
});

function upstream(status: number, headers: Record<string, string>, onCancel?: () => void) {
  const body = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(8)),
    cancel: () => onCancel?.(),
  });
  return new Response(status === 204 || status === 304 ? null : body, { status, headers });
}

Deno.test("screenContentType() refuses a 2xx of a refused type and cancels its body", () => {
  let cancelled = 0;
  for (
    const [type, message] of [
      ["text/html; charset=utf-8", "upstream content type text/html is not allowed"],
      ["image/svg+xml", "upstream content type image/svg+xml is not allowed"],
      ["video/mp4, text/html", "upstream content type is not a valid media type"],
    ]
  ) {
    assert.throws(
      () => screenContentType(upstream(206, { "content-type": type }, () => cancelled++), policy),
      (e) =>
        e instanceof ProxyError && e.status === 403 && e.reason === "content_type_denied" &&
        e.message === message,
      type,
    );
  }
  assert.equal(cancelled, 3);
});

Deno.test("screenContentType() passes admitted types untouched, labels untyped bodies", () => {
  const ok = upstream(200, { "content-type": "video/mp2t" });
  assert.equal(screenContentType(ok, policy), ok);
  const notModified = upstream(304, { "content-type": "text/html" });
  assert.equal(screenContentType(notModified, policy), notModified);
  const noContent = upstream(204, {});
  assert.equal(screenContentType(noContent, policy), noContent);
  const untyped = upstream(200, {});
  untyped.headers.delete("content-type");
  const labelled = screenContentType(untyped, policy);
  assert.equal(labelled.status, 200);
  assert.equal(labelled.headers.get("content-type"), "application/octet-stream");
  assert.notEqual(labelled.body, null);
});

Deno.test("screenContentType() keeps an error status but drops a refused body", async () => {
  let cancelled = false;
  const page = upstream(
    416,
    { "content-type": "text/html", "content-length": "8", "content-range": "bytes */10" },
    () => cancelled = true,
  );
  const out = screenContentType(page, policy);
  assert.equal(out.status, 416);
  assert.equal(out.headers.get("content-type"), null);
  assert.equal(out.headers.get("content-length"), null);
  assert.equal(out.headers.get("content-range"), "bytes */10");
  assert.equal(await out.text(), "");
  assert.equal(cancelled, true);
});
