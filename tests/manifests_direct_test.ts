import assert from "node:assert/strict";
import { packageContent, type PackageKind } from "../scripts/packagers/mod.ts";
import { deadline, freePort, scratchDir, startSprox } from "./_support/mod.ts";
import { playlistUris, playWithFfmpeg, startMediaOrigin } from "./_support/media_origin.ts";

const SECONDS = 3;
const KINDS: PackageKind[] = ["hls-ts", "hls-fmp4", "hls-aes", "dash-number", "dash-timeline"];
const PASSWORD = "pl4yer-secret";
const REFERER = "https://player.example/";

Deno.test("direct mode: HLS and DASH→HLS play whole through /proxy/hls and /proxy/mpd", async (t) => {
  const dir = await scratchDir();
  await Promise.all(KINDS.map((kind) => packageContent(kind, `${dir}/${kind}`, SECONDS)));
  await Deno.mkdir(`${dir}/cross`);
  const origin = startMediaOrigin(dir);
  const originPort = new URL(origin.url).port;
  const mediaBase = `http://media.test:${originPort}/content`;
  await Deno.writeTextFile(
    `${dir}/cross/index.m3u8`,
    `#EXTM3U\n#EXTINF:1,\n${mediaBase}/hls-ts/seg000.ts\n#EXT-X-ENDLIST\n`,
  );
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const sprox = await startSprox(`
routes:
  - id: media
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}/content" }
    hls: { enabled: true, rewrite_playlist_urls: true, base_url: "${base}/", allow_insecure_segments: true }
direct_stream:
  api_password: "${PASSWORD}"
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/content/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
rate_limit: { enabled: false }
`);
  const q = (url: string, extra = "") =>
    `d=${encodeURIComponent(url)}&h_referer=${
      encodeURIComponent(REFERER)
    }&api_password=${PASSWORD}${extra}`;
  try {
    const entries: [string, string][] = [
      ["TS HLS", `/proxy/hls/manifest.m3u8?${q(`${mediaBase}/hls-ts/master.m3u8`)}`],
      ["fMP4 HLS", `/proxy/hls/manifest.m3u8?${q(`${mediaBase}/hls-fmp4/master.m3u8`)}`],
      ["AES-128 HLS", `/proxy/hls/manifest.m3u8?${q(`${mediaBase}/hls-aes/master.m3u8`)}`],
      ["DASH $Number$", `/proxy/mpd/manifest.m3u8?${q(`${mediaBase}/dash-number/manifest.mpd`)}`],
      [
        "DASH SegmentTimeline",
        `/proxy/mpd/manifest.m3u8?${q(`${mediaBase}/dash-timeline/manifest.mpd`)}`,
      ],
    ];
    for (const [name, path] of entries) {
      await t.step(`${name} plays whole in direct mode`, async () => {
        const before = origin.requests.length;
        const report = await playWithFfmpeg(`${base}${path}`);
        assert.equal(report.errors, "", `${name}: ${report.errors}`);
        assert.equal(report.exitCode, 0);
        assert.deepEqual(report.streams, ["audio", "video"]);
        assert.ok(Math.abs(report.probedSeconds - SECONDS) <= 0.1, `${report.probedSeconds}`);
        assert.ok(Math.abs(report.decodedSeconds - SECONDS) <= 0.1, `${report.decodedSeconds}`);
        // Every upstream fetch (manifests, segments, keys) carried the h_referer override.
        const seen = origin.referers.slice(before);
        assert.ok(seen.length > 3);
        assert.ok(seen.every((r) => r === REFERER), JSON.stringify(seen));
      });
    }

    await t.step(
      "every reference goes back through sProx to its exact upstream URL, with overrides and credential",
      async () => {
        const mpd = `${mediaBase}/dash-number/manifest.mpd`;
        const aes = `${mediaBase}/hls-aes`;
        const dash = `${mediaBase}/dash-number`;
        // [link path, d, rendition] of every URI, in m3u8-parser's order (a segment, then the
        // key and map that apply to it).
        const expected: [string, [string, string, string | null][]][] = [
          [`/proxy/hls/manifest.m3u8?${q(`${aes}/master.m3u8`)}`, [
            ["/proxy/hls/manifest.m3u8", `${aes}/index.m3u8`, null],
          ]],
          [
            `/proxy/hls/manifest.m3u8?${q(`${aes}/index.m3u8`)}`,
            ["000", "001", "002"].flatMap((n): [string, string, null][] => [
              [`/proxy/stream/seg${n}.ts`, `${aes}/seg${n}.ts`, null],
              // A key has no media extension: its link name gets `.ts` for ffmpeg's checks.
              ["/proxy/stream/enc.key.ts", `${aes}/keys/enc.key`, null],
            ]),
          ],
          [`/proxy/mpd/manifest.m3u8?${q(mpd)}`, [
            ["/proxy/mpd/playlist.m3u8", mpd, "video-0"],
            ["/proxy/mpd/playlist.m3u8", mpd, "audio-1"],
          ]],
          [
            `/proxy/mpd/playlist.m3u8?${q(mpd, "&rendition=video-0")}`,
            ["00001", "00002", "00003"].flatMap((n): [string, string, null][] => [
              [`/proxy/stream/chunk-0-${n}.m4s`, `${dash}/chunk-0-${n}.m4s`, null],
              ["/proxy/stream/init-0.m4s", `${dash}/init-0.m4s`, null],
            ]),
          ],
        ];
        for (const [path, links] of expected) {
          const response = await fetch(`${base}${path}`, { signal: deadline() });
          assert.equal(response.status, 200, path);
          const found = playlistUris(await response.text()).map((uri) => {
            assert.ok(uri.startsWith("/proxy/"), `a root-relative link: ${uri}`);
            const url = new URL(uri, base);
            const params = url.searchParams;
            const names = [...params.keys()].sort();
            const want = ["api_password", "d", "h_referer"];
            if (params.has("rendition")) want.push("rendition");
            assert.deepEqual(names, want.sort(), uri);
            assert.equal(params.get("h_referer"), REFERER, uri);
            assert.equal(params.get("api_password"), PASSWORD, uri);
            return [url.pathname, params.get("d"), params.get("rendition")];
          });
          assert.deepEqual(found, links, path);
        }
      },
    );

    await t.step("the /proxy/stream credential, allowlist and contract apply", async () => {
      const playlist = `${mediaBase}/hls-ts/index.m3u8`;
      const cases: [string, number, string][] = [
        [`/proxy/hls/manifest.m3u8?d=${encodeURIComponent(playlist)}`, 401, "unauthorized"],
        [
          `/proxy/hls/manifest.m3u8?d=${encodeURIComponent(playlist)}&api_password=nope`,
          403,
          "forbidden",
        ],
        [`/proxy/hls/manifest.m3u8?${q("http://other.test/x.m3u8")}`, 403, "allowlist_denied"],
        [`/proxy/hls/manifest.m3u8?api_password=${PASSWORD}`, 400, "bad_request"],
        [`/proxy/hls/manifest.m3u8?${q(playlist, "&h_cookie=x")}`, 400, "bad_override"],
        [
          `/proxy/mpd/playlist.m3u8?${q(`${mediaBase}/dash-number/manifest.mpd`)}`,
          400,
          "bad_request",
        ],
        [
          `/proxy/mpd/playlist.m3u8?${
            q(`${mediaBase}/dash-number/manifest.mpd`, "&rendition=video-9")
          }`,
          404,
          "not_found",
        ],
        [`/proxy/hls/manifest.m3u8?${q(`${mediaBase}/hls-ts/seg000.ts`)}`, 502, "manifest_invalid"],
        [`/proxy/hls/manifest.m3u8?${q(`${mediaBase}/missing.m3u8`)}`, 404, "not_found"],
      ];
      for (const [path, status, reason] of cases) {
        const response = await fetch(`${base}${path}`, { signal: deadline() });
        const body = await response.json();
        assert.equal(response.status, status, `${path}: ${JSON.stringify(body)}`);
        assert.equal(body.error, reason, path);
      }
    });

    await t.step(
      "a route refuses cross-origin references /proxy/stream could only serve with a credential",
      async () => {
        const response = await fetch(`${base}/cross/index.m3u8`, { signal: deadline() });
        assert.equal(response.status, 502);
        assert.equal((await response.json()).error, "cross_origin_reference");
      },
    );

    await t.step("the credential never reaches the origin or the logs", () => {
      assert.ok(origin.requests.every((r) => !r.includes(PASSWORD)));
      const logs = JSON.stringify(sprox.logs);
      assert.ok(!logs.includes(PASSWORD), "password in logs");
    });
  } finally {
    await sprox.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
});
