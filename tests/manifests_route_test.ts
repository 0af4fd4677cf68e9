import assert from "node:assert/strict";
import { packageContent, type PackageKind } from "../scripts/packagers/mod.ts";
import { freePort, scratchDir, startSprox } from "./_support/mod.ts";
import { playlistUris, playWithFfmpeg, startMediaOrigin } from "./_support/media_origin.ts";

const SECONDS = 3;
const KINDS: PackageKind[] = ["hls-ts", "hls-fmp4", "hls-aes", "dash-number", "dash-timeline"];

Deno.test("route mode: real players read rewritten HLS and DASH→HLS whole", async (t) => {
  const dir = await scratchDir();
  await Promise.all(KINDS.map((kind) => packageContent(kind, `${dir}/${kind}`, SECONDS)));
  await Deno.mkdir(`${dir}/bad`);
  await Deno.writeTextFile(
    `${dir}/bad/insecure.m3u8`,
    "#EXTM3U\n#EXTINF:4,\nhttp://other.example/a.ts\n",
  );
  await Deno.writeTextFile(
    `${dir}/bad/cross.m3u8`,
    "#EXTM3U\n#EXTINF:4,\nhttps://other.example/a.ts\n",
  );
  await Deno.writeTextFile(`${dir}/bad/big.m3u8`, "#EXTM3U\n" + "#EXTINF:4,\na.ts\n".repeat(500));
  await Deno.writeTextFile(`${dir}/bad/garbage.m3u8`, "<html>not a playlist</html>\n");
  const origin = startMediaOrigin(dir);
  const port = freePort();
  const strictPort = freePort();
  const base = `http://127.0.0.1:${port}`;
  const sprox = await startSprox(`
routes:
  - id: media
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}/content" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "${base}/"
      allow_insecure_segments: true
    dash: { to_hls: true }
  - id: strict
    listen: { host: 127.0.0.1, port: ${strictPort} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}/content" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "https://cdn.example/hls/"
      cross_origin: refuse
      max_manifest_bytes: 2048
rate_limit: { enabled: false }
`);
  try {
    const entries: [string, string][] = [
      ["TS HLS", "hls-ts/master.m3u8"],
      ["fMP4 HLS with EXT-X-MAP", "hls-fmp4/master.m3u8"],
      ["AES-128 HLS", "hls-aes/master.m3u8"],
      ["DASH SegmentTemplate $Number$ → HLS", "dash-number/manifest.mpd/master.m3u8"],
      ["DASH SegmentTimeline → HLS", "dash-timeline/manifest.mpd/master.m3u8"],
    ];
    for (const [name, path] of entries) {
      await t.step(`${name} plays whole through the route`, async () => {
        const report = await playWithFfmpeg(`${base}/${path}`);
        assert.equal(report.errors, "", `${name}: ${report.errors}`);
        assert.equal(report.exitCode, 0);
        assert.deepEqual(report.streams, ["audio", "video"]);
        assert.ok(Math.abs(report.probedSeconds - SECONDS) <= 0.1, `${report.probedSeconds}`);
        assert.ok(Math.abs(report.decodedSeconds - SECONDS) <= 0.1, `${report.decodedSeconds}`);
      });
    }

    await t.step("rewritten playlists parse and no URI escapes base_url", async () => {
      const paths = [
        "hls-ts/master.m3u8",
        "hls-ts/index.m3u8",
        "hls-fmp4/index.m3u8",
        "hls-aes/index.m3u8",
        "dash-number/manifest.mpd/master.m3u8",
        "dash-number/manifest.mpd/video-0.m3u8",
        "dash-timeline/manifest.mpd/audio-1.m3u8",
      ];
      for (const path of paths) {
        const response = await fetch(`${base}/${path}`, { headers: { "accept-encoding": "gzip" } });
        assert.equal(response.status, 200, path);
        const text = await response.text();
        assert.equal(
          response.headers.get("content-length"),
          String(new TextEncoder().encode(text).length),
        );
        const found = playlistUris(text);
        assert.ok(found.length > 0, path);
        for (const uri of found) {
          const absolute = new URL(uri, `${base}/${path}`).href;
          assert.ok(absolute.startsWith(`${base}/`), `${path}: ${uri}`);
          assert.ok(!absolute.includes(origin.url), `${path}: ${uri}`);
        }
      }
      const key = await fetch(`${base}/hls-aes/index.m3u8`).then((r) => r.text());
      assert.match(key, new RegExp(`#EXT-X-KEY:METHOD=AES-128,URI="${base}/hls-aes/keys/enc.key"`));
    });

    await t.step("HEAD answers like GET without a body", async () => {
      for (const path of ["hls-ts/index.m3u8", "dash-number/manifest.mpd/master.m3u8"]) {
        const get = await fetch(`${base}/${path}`);
        const length = (await get.arrayBuffer()).byteLength;
        const head = await fetch(`${base}/${path}`, { method: "HEAD" });
        assert.equal(head.status, 200, path);
        assert.equal(await head.text(), "");
        if (path.includes(".mpd/")) {
          assert.equal(head.headers.get("content-length"), String(length));
        }
      }
    });

    await t.step("segments pass through untouched", async () => {
      const direct = new Uint8Array(
        await (await fetch(`${origin.url}/content/hls-ts/seg000.ts`)).arrayBuffer(),
      );
      const proxied = new Uint8Array(await (await fetch(`${base}/hls-ts/seg000.ts`)).arrayBuffer());
      assert.deepEqual(proxied, direct);
    });

    const strict = `http://127.0.0.1:${strictPort}`;
    await t.step("an https base_url maps origin paths under it", async () => {
      const text = await (await fetch(`${strict}/hls-ts/index.m3u8`)).text();
      assert.ok(
        playlistUris(text).every((u) => u.startsWith("https://cdn.example/hls/hls-ts/seg")),
        text,
      );
    });

    await t.step("refusals: insecure, cross-origin, too large, not a playlist", async () => {
      const cases: [string, number, string][] = [
        ["bad/insecure.m3u8", 502, "insecure_reference"],
        ["bad/cross.m3u8", 502, "cross_origin_reference"],
        ["bad/big.m3u8", 502, "manifest_too_large"],
        ["bad/garbage.m3u8", 502, "manifest_invalid"],
      ];
      for (const [path, status, reason] of cases) {
        const response = await fetch(`${strict}/${path}`);
        assert.equal(response.status, status, path);
        assert.equal((await response.json()).error, reason, path);
      }
      const line = await sprox.waitForLog((l) =>
        l.msg === "playlist refused" && l.reason === "insecure_reference"
      );
      assert.equal(line.reference_host, "other.example");
    });

    await t.step("an unknown rendition is 404, a missing MPD is 404", async () => {
      const unknown = await fetch(`${base}/dash-number/manifest.mpd/video-9.m3u8`);
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const missing = await fetch(`${base}/nope/manifest.mpd/master.m3u8`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    });
  } finally {
    await sprox.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
});
