import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { ProxyError } from "../../errors/mod.ts";
import {
  directModeResolver,
  guardInsecure,
  passesUntouched,
  playlistBody,
  rewritePlaylistResponse,
  withDirectoryMapping,
} from "./mod.ts";

const PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n";
const URL_ = "https://origin.example/v/index.m3u8";
const options = { playlistUrl: URL_, resolve: directModeResolver(), maxBytes: 1024 };

async function transform(response: Response): Promise<Response> {
  const probe = await playlistBody(response);
  if (!probe.playlist) return probe.response;
  return await rewritePlaylistResponse(response, probe.body, options);
}

Deno.test("playlists are recognised by type or sniffed, then rewritten with a new length", async () => {
  for (const type of ["application/vnd.apple.mpegurl", "audio/mpegurl", "text/plain", null]) {
    const headers: Record<string, string> = { etag: '"x"', "cache-control": "max-age=2" };
    if (type) headers["content-type"] = type;
    const out = await transform(new Response("\uFEFF" + PLAYLIST, { headers }));
    const bytes = new Uint8Array(await out.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "the BOM is kept");
    const text = new TextDecoder().decode(bytes);
    assert.match(
      text,
      /\/proxy\/stream\/seg1\.ts\?d=https%3A%2F%2Forigin\.example%2Fv%2Fseg1\.ts/,
      `${type}`,
    );
    assert.equal(out.headers.get("content-length"), String(bytes.byteLength));
    // The output's own validator (not the source's), the same for the same bytes.
    assert.notEqual(out.headers.get("etag"), '"x"');
    assert.match(out.headers.get("etag")!, /^"[0-9a-f]{16}-[0-9a-f]+"$/);
    assert.equal(out.headers.get("last-modified"), null);
    assert.equal(out.headers.get("cache-control"), "max-age=2");
  }
});

Deno.test("a generated playlist's ETag follows its bytes; a live one lives half its target duration", async () => {
  const live = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nseg1.ts\n";
  const source = (body: string) =>
    new Response(body, {
      headers: {
        "content-type": "application/vnd.apple.mpegurl",
        "last-modified": "Mon, 01 Jan 2001 00:00:00 GMT",
        "cache-control": "max-age=600",
        expires: "Mon, 01 Jan 2001 00:10:00 GMT",
      },
    });
  const a = await transform(source(live));
  const b = await transform(source(live));
  const c = await transform(source(live + "#EXTINF:6,\nseg2.ts\n"));
  assert.equal(a.headers.get("etag"), b.headers.get("etag"));
  assert.notEqual(a.headers.get("etag"), c.headers.get("etag"));
  assert.equal(a.headers.get("cache-control"), "max-age=3");
  assert.equal(a.headers.get("expires"), null);
  assert.equal(a.headers.get("last-modified"), null);
  const vod = await transform(source(live + "#EXT-X-ENDLIST\n"));
  assert.equal(vod.headers.get("cache-control"), "max-age=600", "VOD keeps the origin's");
});

Deno.test("a generated playlist keeps the other upstream fields once each and replaces those of the old bytes", async () => {
  const fields: Record<string, string> = {
    "content-type": "audio/mpegurl",
    "content-length": "999",
    "content-range": "bytes 0-998/999",
    "accept-ranges": "bytes",
    etag: '"old"',
    "last-modified": "Mon, 01 Jan 2001 00:00:00 GMT",
    date: "Mon, 01 Jan 2001 00:00:00 GMT",
    "content-md5": "AAAA",
    digest: "sha-256=AAAA",
    "cache-control": "max-age=600",
    expires: "Mon, 01 Jan 2001 00:10:00 GMT",
    "x-origin": "a",
    vary: "Accept-Encoding",
  };
  for (
    const [body, live] of [[PLAYLIST, false], [
      PLAYLIST.replace("#EXT-X-ENDLIST\n", ""),
      true,
    ]] as const
  ) {
    const out = await transform(new Response(body, { status: 200, headers: fields }));
    const bytes = new Uint8Array(await out.arrayBuffer());
    const etag = out.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{16}-[0-9a-f]+"$/);
    const expected: [string, string][] = [
      ["cache-control", live ? "max-age=2" : "max-age=600"],
      ["content-length", String(bytes.byteLength)],
      ["content-type", "audio/mpegurl"],
      ["etag", etag],
      ["vary", "Accept-Encoding"],
      ["x-origin", "a"],
    ];
    if (!live) expected.splice(4, 0, ["expires", "Mon, 01 Jan 2001 00:10:00 GMT"]);
    assert.deepEqual([...out.headers], expected, live ? "live" : "VOD");
    assert.equal(out.status, 200);
  }
});

Deno.test("gzip and br encoded playlists are decoded before rewriting", async () => {
  const encoded: [string, Uint8Array<ArrayBuffer>][] = [
    ["gzip", new Uint8Array(gzipSync(PLAYLIST))],
    ["br", new Uint8Array(brotliCompressSync(PLAYLIST))],
  ];
  for (const [encoding, bytes] of encoded) {
    for (const type of ["application/x-mpegurl", "application/octet-stream"]) {
      const out = await transform(
        new Response(bytes, { headers: { "content-encoding": encoding, "content-type": type } }),
      );
      assert.equal(out.headers.get("content-encoding"), null);
      assert.match(await out.text(), /^#EXTM3U\n/, `${encoding} ${type}`);
    }
  }
});

Deno.test("an ambiguous type at a segment, key or image URL is not sniffed: the response comes back as it is", async () => {
  for (
    const url of [
      "https://o.example/v/seg1.TS",
      "https://o.example/k/key.bin?t=1",
      "https://o.example/p.jpg#x",
    ]
  ) {
    const upstream = new Response(PLAYLIST, {
      headers: { "content-type": "application/octet-stream" },
    });
    const probe = await playlistBody(upstream, url);
    assert.equal(probe.playlist, false, url);
    assert.equal((probe as { response: Response }).response, upstream, url);
  }
  for (
    const url of [
      "https://o.example/v/index.m3u8",
      "https://o.example/live?id=1.ts",
      "https://o.example/v.1/playlist",
      "https://o.example/x.php",
    ]
  ) {
    const probe = await playlistBody(
      new Response(PLAYLIST, { headers: { "content-type": "application/octet-stream" } }),
      url,
    );
    assert.equal(probe.playlist, true, url);
  }
});

Deno.test("non-playlists pass through untouched, sniffed bytes included", async () => {
  const ts = new Uint8Array(4096).fill(0x47);
  const out = await transform(new Response(ts, { headers: { "content-type": "video/mp2t" } }));
  assert.deepEqual(new Uint8Array(await out.arrayBuffer()), ts);
  const sniffed = await transform(
    new Response(ts, { headers: { "content-type": "application/octet-stream" } }),
  );
  assert.deepEqual(new Uint8Array(await sniffed.arrayBuffer()), ts);
  const notOk = await transform(
    new Response(PLAYLIST, { status: 404, headers: { "content-type": "audio/mpegurl" } }),
  );
  assert.equal(notOk.status, 404);
  assert.equal(await notOk.text(), PLAYLIST);
});

Deno.test("oversized and undecodable playlists are refused", async () => {
  const big = "#EXTM3U\n" + "#EXTINF:4,\nseg.ts\n".repeat(200);
  await assert.rejects(
    transform(new Response(big, { headers: { "content-type": "audio/mpegurl" } })),
    (e: unknown) => e instanceof ProxyError && e.reason === "manifest_too_large",
  );
  // A small compressed body that inflates past the bound (decompression bomb).
  await assert.rejects(
    transform(
      new Response(new Uint8Array(gzipSync(big)), {
        headers: { "content-type": "audio/mpegurl", "content-encoding": "gzip" },
      }),
    ),
    (e: unknown) => e instanceof ProxyError && e.reason === "manifest_too_large",
  );
  await assert.rejects(
    transform(
      new Response(new Uint8Array([0x23, 0x45, 0xff, 0xfe]), {
        headers: { "content-type": "audio/mpegurl" },
      }),
    ),
    (e: unknown) => e instanceof ProxyError && e.reason === "manifest_invalid",
  );
  await assert.rejects(
    transform(
      new Response(new Uint8Array([1, 2, 3]), {
        headers: { "content-type": "audio/mpegurl", "content-encoding": "gzip" },
      }),
    ),
    (e: unknown) => e instanceof ProxyError && e.reason === "manifest_invalid",
  );
});

Deno.test("a checked playlist is answered with its bytes as they came; a refused one is not", async () => {
  const identity = withDirectoryMapping((url) => url, (directory) => directory);
  const resolve = guardInsecure(identity, { secure: true, allowInsecure: false });
  const source = "\uFEFF#EXTM3U\r\n#EXTINF:4,\r\n  seg 1.ts \r\n../x/é.ts\r\n#EXT-X-ENDLIST";
  const bytes = new TextEncoder().encode(source);
  const headers = { "content-type": "application/vnd.apple.mpegurl" };
  const out = await rewritePlaylistResponse(new Response(bytes, { headers }), null, {
    playlistUrl: URL_,
    resolve,
    maxBytes: 1024,
    checkOnly: true,
  }).catch((error) => error);
  // `null` body: nothing to check, no #EXTM3U.
  assert.ok(out instanceof ProxyError && out.reason === "manifest_invalid");
  const upstream = new Response(bytes, { headers });
  const checked = await rewritePlaylistResponse(upstream, upstream.body, {
    playlistUrl: URL_,
    resolve,
    maxBytes: 1024,
    checkOnly: true,
  });
  assert.equal(checked.status, 200);
  assert.deepEqual(new Uint8Array(await checked.arrayBuffer()), bytes);
  assert.equal(checked.headers.get("content-length"), String(bytes.byteLength));
  const insecure = new Response(source.replace("seg 1.ts", "http://a.example/s.ts"), { headers });
  await assert.rejects(
    rewritePlaylistResponse(insecure, insecure.body, {
      playlistUrl: URL_,
      resolve,
      maxBytes: 1024,
      checkOnly: true,
    }),
    (error) => error instanceof ProxyError && error.reason === "insecure_reference",
  );
});

Deno.test("a body already in memory is decided and rewritten from its bytes, the response left untouched", async () => {
  const bytes = new TextEncoder().encode(PLAYLIST);
  const typed = new Response(bytes, { headers: { "content-type": "audio/mpegurl" } });
  const probe = await playlistBody(typed, URL_, bytes);
  assert.equal(probe.playlist, true);
  assert.equal((probe as { body: unknown }).body, bytes);
  assert.equal(typed.bodyUsed, false);
  const out = await rewritePlaylistResponse(typed, bytes, options);
  assert.match(
    await out.text(),
    /\/proxy\/stream\/seg1\.ts\?d=https%3A%2F%2Forigin\.example%2Fv%2Fseg1\.ts/,
  );
  // Sniffed from the bytes; a non-playlist keeps its own response, body unread.
  const sniffed = new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
  assert.equal((await playlistBody(sniffed, URL_, bytes)).playlist, true);
  const ts = new Uint8Array(2048).fill(0x47);
  const segment = new Response(ts, { headers: { "content-type": "application/octet-stream" } });
  const passed = await playlistBody(segment, "https://origin.example/v/seg", ts);
  assert.equal(passed.playlist, false);
  assert.equal((passed as { response: Response }).response, segment);
  assert.equal(segment.bodyUsed, false);
  // The size bound holds for bytes too.
  await assert.rejects(
    rewritePlaylistResponse(typed, bytes, { ...options, maxBytes: 10 }),
    (e: unknown) =>
      e instanceof ProxyError && e.status === 502 && e.reason === "manifest_too_large",
  );
});

Deno.test("passesUntouched says, from the status and headers alone, which responses playlistBody hands back unread", async () => {
  const cases: [string, Response, string | undefined, boolean][] = [
    ["a 206", new Response("x", { status: 206 }), undefined, true],
    ["no body", new Response(null, { status: 200 }), undefined, true],
    ["a segment type", typed("video/mp2t"), "https://o.example/v/a", true],
    ["a playlist type at a .ts URL", typed("application/vnd.apple.mpegurl"), SEG, false],
    ["the legacy playlist type", typed("audio/mpegurl"), undefined, false],
    ["an ambiguous type at a segment URL", typed("application/octet-stream"), SEG, true],
    ["an ambiguous type at a playlist URL", typed("application/octet-stream"), URL_, false],
    ["an ambiguous type, no URL", typed("text/plain"), undefined, false],
    ["no type at a segment URL", new Response(PLAYLIST), SEG, true],
  ];
  for (const [name, response, url, untouched] of cases) {
    assert.equal(passesUntouched(response, url), untouched, name);
    // playlistBody agrees: the same response back unread, or a playlist read (these bodies are).
    const probe = await playlistBody(response, url);
    if (untouched) {
      assert.equal(probe.playlist, false, name);
      assert.equal((probe as { response: Response }).response, response, name);
    } else assert.equal(probe.playlist, true, name);
  }
});

const SEG = "https://o.example/v/seg1.ts";

function typed(type: string): Response {
  return new Response(PLAYLIST, { headers: { "content-type": type } });
}
