/**
 * Direct mode serves third-party content under sProx's origin: one response-header policy
 * for every direct endpoint (no origin cookies, server names or private headers), content
 * safety headers on everything that carries upstream content, and a content-type allowlist
 * on `/proxy/stream` that refuses HTML, script and SVG without reading their bodies.
 */
import assert from "node:assert/strict";
import { deadline, freePort, REPO_ROOT, startSprox, withTimeout } from "./_support/mod.ts";
import { directConfig, startOrigin, streamUrl } from "./_support/direct.ts";

const REQUEST_ID = "direct-safety-test";
const CSP = "sandbox; default-src 'none'";
const PRIVATE = {
  "set-cookie": "session=abc; Path=/; HttpOnly",
  server: "origin-test/1.0",
  "x-powered-by": "PHP/8.3",
  "x-internal-token": "tok-Qx81-internal",
};
const CACHING = {
  "cache-control": "max-age=5",
  "last-modified": "Tue, 01 Jul 2025 10:00:00 GMT",
};
const PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg.ts\n#EXT-X-ENDLIST\n";
const SEGMENT = Uint8Array.from({ length: 188 * 40 }, (_, i) => (i * 7 + 0x47) & 0xff);
const MPD = await Deno.readTextFile(`${REPO_ROOT}tests/fixtures/dash/template_number.mpd`);

function block(extra = ""): string {
  return `direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/vod/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
${extra}`;
}

/** All response headers but `Date` (its value changes); `Vary: Origin` is sProx's CORS. */
function headerSet(response: Response): Record<string, string> {
  const out = Object.fromEntries(response.headers);
  assert.ok(out.date, "date is passed");
  delete out.date;
  return out;
}

async function get(url: string, method = "GET"): Promise<Response> {
  return await fetch(url, { method, headers: { "x-request-id": REQUEST_ID }, signal: deadline() });
}

Deno.test("every direct endpoint answers through one response-header policy", async () => {
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    const common = { ...PRIVATE, ...CACHING };
    if (path === "/vod/master.m3u8") {
      return new Response(PLAYLIST, {
        headers: { ...common, etag: '"pl-1"', "content-type": "application/vnd.apple.mpegurl" },
      });
    }
    if (path === "/vod/seg.ts") {
      return new Response(SEGMENT, {
        headers: { ...common, etag: '"seg-1"', "content-type": "video/mp2t" },
      });
    }
    if (path === "/vod/manifest.mpd") {
      return new Response(MPD, {
        headers: { ...common, etag: '"mpd-1"', "content-type": "application/dash+xml" },
      });
    }
    return new Response("missing", { status: 404 });
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(port, block()));
  const base = `http://media.test:${origin.port}/vod`;
  const query = (d: string) => `d=${encodeURIComponent(d)}`;
  try {
    const segment = await get(streamUrl(port, `${base}/seg.ts`));
    assert.equal(segment.status, 200);
    assert.deepEqual(new Uint8Array(await segment.arrayBuffer()), SEGMENT);
    assert.deepEqual(headerSet(segment), {
      "accept-ranges": "bytes",
      "cache-control": "max-age=5",
      "content-length": String(SEGMENT.length),
      "content-security-policy": CSP,
      "content-type": "video/mp2t",
      etag: '"seg-1"',
      "last-modified": CACHING["last-modified"],
      "x-content-type-options": "nosniff",
      "x-request-id": REQUEST_ID,
      vary: "Origin",
    });

    const raw = await get(streamUrl(port, `${base}/master.m3u8`));
    assert.equal(await raw.text(), PLAYLIST);
    assert.deepEqual(headerSet(raw), {
      "accept-ranges": "bytes",
      "cache-control": "max-age=5",
      "content-length": String(PLAYLIST.length),
      "content-security-policy": CSP,
      "content-type": "application/vnd.apple.mpegurl",
      etag: '"pl-1"',
      "last-modified": CACHING["last-modified"],
      "x-content-type-options": "nosniff",
      "x-request-id": REQUEST_ID,
      vary: "Origin",
    });

    // Rewritten playlists: the new body's type and length; the upstream ETag named other bytes.
    const rewritten: [string, RegExp][] = [
      [`/proxy/hls/manifest.m3u8?${query(`${base}/master.m3u8`)}`, /\/proxy\/stream/],
      [`/proxy/mpd/manifest.m3u8?${query(`${base}/manifest.mpd`)}`, /rendition=video-v720/],
      [
        `/proxy/mpd/playlist.m3u8?${query(`${base}/manifest.mpd`)}&rendition=video-v720`,
        /seg-00001\.m4s/,
      ],
    ];
    for (const [path, marker] of rewritten) {
      const response = await get(`http://127.0.0.1:${port}${path}`);
      assert.equal(response.status, 200, path);
      const text = await response.text();
      assert.match(text, marker, path);
      // A generated playlist's own validator (its bytes), and no source date (docs/cache.md).
      const etag = response.headers.get("etag") ?? "";
      assert.match(etag, /^"[0-9a-f]{16}-[0-9a-f]+"$/, path);
      assert.deepEqual(headerSet(response), {
        "cache-control": "max-age=5",
        "content-length": String(new TextEncoder().encode(text).length),
        "content-security-policy": CSP,
        "content-type": "application/vnd.apple.mpegurl",
        etag,
        "x-content-type-options": "nosniff",
        "x-request-id": REQUEST_ID,
        vary: "Origin",
      }, path);
    }
    assert.equal(origin.requests.length, 5);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("/proxy/stream refuses content types outside the allowlist without reading them", async () => {
  const cancelled: string[] = [];
  let pulled = 0;
  const endless = (name: string, first: string) => {
    let sent = false;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new TextEncoder().encode(sent ? " ".repeat(65536) : first));
        sent = true;
      },
      cancel() {
        cancelled.push(name);
      },
    }, { highWaterMark: 0 });
  };
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    const typed = (type: string, body: BodyInit | null, status = 200) =>
      new Response(body, { status, headers: { "content-type": type, ...PRIVATE } });
    switch (path) {
      case "/vod/page.html":
        return typed("text/html; charset=utf-8", endless("html", "<script>alert(1)</script>"));
      case "/vod/app.js":
        return typed("application/javascript", "alert(document.cookie)");
      case "/vod/image.svg":
        return typed("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>');
      case "/vod/two.ts":
        return typed("video/mp2t, text/html", "x");
      case "/vod/seg.ts":
        return typed("video/mp2t", SEGMENT);
      case "/vod/subs.vtt":
        return typed("text/plain;charset=UTF-8", "WEBVTT\n");
      case "/vod/untyped.bin":
        return new Response(new Blob([SEGMENT]).stream());
      case "/vod/gone.html":
        return typed("text/html", "<h1>gone</h1><script>alert(1)</script>", 404);
      default:
        return new Response(null, { status: 500 });
    }
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(port, block()));
  const url = (name: string) => streamUrl(port, `http://media.test:${origin.port}/vod/${name}`);
  const denied = (message: string) =>
    JSON.stringify({ error: "content_type_denied", message, request_id: REQUEST_ID });
  try {
    const refused: [string, string][] = [
      ["page.html", "upstream content type text/html is not allowed"],
      ["app.js", "upstream content type application/javascript is not allowed"],
      ["image.svg", "upstream content type image/svg+xml is not allowed"],
      ["two.ts", "upstream content type is not a valid media type"],
    ];
    for (const [name, message] of refused) {
      const response = await get(url(name));
      assert.equal(response.status, 403, name);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(await response.text(), denied(message), name);
      if (name === "page.html") {
        // The endless HTML body is cancelled after at most a few chunks, never drained.
        await withTimeout(
          (async () => {
            while (cancelled.length < 1) await new Promise((r) => setTimeout(r, 10));
          })(),
          5_000,
          "the refused upstream body to be cancelled",
        );
        assert.deepEqual(cancelled, ["html"]);
        assert.ok(pulled < 200, `read ${pulled} chunks of a refused body`);
      }
    }
    const head = await get(url("page.html"), "HEAD");
    assert.equal(head.status, 403);
    assert.equal(await head.text(), "");

    const segment = await get(url("seg.ts"));
    assert.equal(segment.status, 200);
    assert.equal(segment.headers.get("content-type"), "video/mp2t");
    assert.equal(segment.headers.get("x-content-type-options"), "nosniff");
    assert.equal(segment.headers.get("content-security-policy"), CSP);
    assert.equal(segment.headers.get("set-cookie"), null);
    assert.deepEqual(new Uint8Array(await segment.arrayBuffer()), SEGMENT);

    const subtitles = await get(url("subs.vtt"));
    assert.equal(subtitles.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.equal(await subtitles.text(), "WEBVTT\n");

    const untyped = await get(url("untyped.bin"));
    assert.equal(untyped.status, 200);
    assert.equal(untyped.headers.get("content-type"), "application/octet-stream");
    assert.equal(untyped.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(new Uint8Array(await untyped.arrayBuffer()), SEGMENT);

    // An error page keeps its status but not its HTML.
    const gone = await get(url("gone.html"));
    assert.equal(gone.status, 404);
    assert.equal(gone.headers.get("content-type"), null);
    assert.equal(gone.headers.get("content-security-policy"), CSP);
    assert.equal(await gone.text(), "");

    const metrics = await (await get(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /sprox_direct_requests_total\{outcome="content_type_denied"\} 5\n/);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("direct_stream.allowed_content_types replaces the default list", async () => {
  const origin = startOrigin((request) =>
    new URL(request.url).pathname === "/vod/a.ts"
      ? new Response("ts", { headers: { "content-type": "video/mp2t" } })
      : new Response("text", { headers: { "content-type": "text/plain" } })
  );
  const port = freePort();
  const sprox = await startSprox(
    directConfig(port, block(`  allowed_content_types: ["video/mp2t"]\n`)),
  );
  try {
    const ts = await get(streamUrl(port, `http://media.test:${origin.port}/vod/a.ts`));
    assert.equal(await ts.text(), "ts");
    const text = await get(streamUrl(port, `http://media.test:${origin.port}/vod/a.txt`));
    assert.equal(text.status, 403);
    assert.equal(
      await text.text(),
      JSON.stringify({
        error: "content_type_denied",
        message: "upstream content type text/plain is not allowed",
        request_id: REQUEST_ID,
      }),
    );
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
