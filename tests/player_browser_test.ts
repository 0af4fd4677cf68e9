/**
 * A browser player (hls.js in headless Chromium) plays every manifest form through sProx to
 * its end: rewritten HLS and DASH→HLS on a route, and both direct-mode manifests; and it
 * plays a live DASH→HLS stream through a caching route without stalling. The page is served
 * from another origin, so CORS is exercised as a real player meets it.
 */
import assert from "node:assert/strict";
import { packageContent } from "../scripts/packagers/mod.ts";
import { freePort, requirePeer, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { startMediaOrigin } from "./_support/media_origin.ts";
import { startChromium } from "./_support/devtools.ts";
import { fetchHlsJs, playerPage, servePlayer } from "./_support/hls_js.ts";
import { LIVE_PATHS, startLiveEncoder, startLiveOrigin } from "./_support/live_media.ts";

const SECONDS = 4;

const PAGE = playerPage();

Deno.test({
  name: "hls.js in Chromium plays route HLS, route DASH→HLS and both direct modes to the end",
  async fn() {
    // A missing browser fails the run (CI installs it); it is never a silent skip.
    await requirePeer("chromium");
    const dir = await scratchDir();
    await packageContent("hls-ts", `${dir}/media/hls`, SECONDS);
    await packageContent("dash-number", `${dir}/media/dash`, SECONDS);
    const script = await fetchHlsJs(dir);
    const origin = startMediaOrigin(`${dir}/media`);
    const page = servePlayer(script, PAGE);
    const port = freePort();
    const sprox = await startSprox(`
routes:
  - id: player
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "http://127.0.0.1:${port}/"
      allow_insecure_segments: true
    dash: { to_hls: true }
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
`);
    let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
    try {
      browser = await startChromium(dir, ["--disable-quic"]);
      const proxy = `http://127.0.0.1:${port}`;
      const d = (path: string) => encodeURIComponent(`${origin.url}/content/${path}`);
      const forms = {
        "route HLS": `${proxy}/content/hls/master.m3u8`,
        "route DASH→HLS": `${proxy}/content/dash/manifest.mpd/master.m3u8`,
        "direct HLS": `${proxy}/proxy/hls/manifest.m3u8?d=${d("hls/master.m3u8")}`,
        "direct DASH→HLS": `${proxy}/proxy/mpd/manifest.m3u8?d=${d("dash/manifest.mpd")}`,
      };
      const pageUrl = page.pageUrl;
      for (const [form, src] of Object.entries(forms)) {
        const title = await browser.open(
          pageUrl + encodeURIComponent(src),
          "document.title",
          /^(ENDED|ERROR)/,
          30_000,
        );
        const match = /^ENDED ([\d.]+)$/.exec(title);
        assert.ok(match, `${form}: playback did not end: "${title}"`);
        assert.ok(Math.abs(Number(match[1]) - SECONDS) < 0.15, `${form}: duration ${match[1]}`);
      }
    } finally {
      await browser?.close();
      await sprox.stop();
      await page.close();
      await withTimeout(origin.close(), 10_000, "the media origin to shut down");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Wall-clock seconds of live playback the player is watched for. */
const LIVE_WATCH_SECS = 15;

/**
 * A live page: hls.js plays `src`; `window.report` says how far `currentTime` advanced since
 * playback started, the longest time it stood still while playing, and the stall errors
 * hls.js raised; `done` once `LIVE_WATCH_SECS` of playback have passed or on a fatal error.
 */
const LIVE_PAGE = `<!doctype html><html><body><video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById("v");
const report = { done: false, fatal: null, stalls: [], start: null, advanced: 0, longestFreezeMs: 0 };
window.report = report;
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_, d) => {
  if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) report.stalls.push(v.currentTime);
  if (d.fatal) { report.fatal = d.details; report.done = true; }
});
hls.loadSource(new URLSearchParams(location.search).get("src"));
hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => {
  report.fatal = "play " + e;
  report.done = true;
}));
let last = 0, lastMoved = 0, startedAt = 0;
setInterval(() => {
  const now = performance.now();
  if (report.start === null) {
    if (v.currentTime > 0 && !v.paused) {
      report.start = last = v.currentTime;
      startedAt = lastMoved = now;
    }
    return;
  }
  if (v.currentTime > last) {
    last = v.currentTime;
    lastMoved = now;
  }
  report.longestFreezeMs = Math.max(report.longestFreezeMs, Math.round(now - lastMoved));
  report.advanced = v.currentTime - report.start;
  if (now - startedAt >= ${LIVE_WATCH_SECS * 1000}) report.done = true;
}, 100);
</script></body></html>`;

Deno.test({
  name: "hls.js in Chromium plays live DASH→HLS through a caching route without stalling",
  async fn() {
    await requirePeer("chromium");
    const dir = await scratchDir();
    const script = await fetchHlsJs(dir);
    // ffmpeg writes a live DASH stream (1 s segments); the origin serves it as nginx would:
    // Last-Modified and ETag, no Cache-Control.
    const encoder = await startLiveEncoder(`${dir}/media`, { dash: "timeline" });
    const origin = startLiveOrigin(`${dir}/media`);
    const page = servePlayer(script, LIVE_PAGE);
    let sprox: Awaited<ReturnType<typeof startSprox>> | undefined;
    let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
    try {
      const port = freePort();
      sprox = await startSprox(`
routes:
  - id: live
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "http://127.0.0.1:${port}/"
      allow_insecure_segments: true
    dash: { to_hls: true }
    cache: { enabled: true }
`);
      await encoder.ready(4);
      browser = await startChromium(dir, ["--disable-quic"]);
      const src = `http://127.0.0.1:${port}/${LIVE_PATHS.dash}/master.m3u8`;
      const started = Date.now();
      const text = await browser.open(
        `${page.pageUrl}${encodeURIComponent(src)}`,
        "JSON.stringify(window.report ?? {})",
        /"done":true/,
        (LIVE_WATCH_SECS + 30) * 1000,
      );
      const report = JSON.parse(text || "{}");
      assert.equal(report.done, true, `playback did not finish: ${text}`);
      assert.equal(report.fatal, null, text);
      assert.deepEqual(report.stalls, [], `hls.js reported stalls: ${text}`);
      // Live playback keeps up with the wall clock: a frozen playlist would stop it after
      // the few segments buffered at the start.
      assert.ok(report.advanced >= LIVE_WATCH_SECS - 5, `currentTime advanced: ${text}`);
      assert.ok(report.longestFreezeMs < 2_000, `playback froze: ${text}`);
      // hls.js reloads both media playlists about every second; each converts the MPD the
      // route cached, a live MPD for half its update period (1 s segments: 0.5 s), so the
      // origin sees it at most about twice a second, not once per playlist reload per viewer.
      const mpdRequests = origin.counts.get(`/${LIVE_PATHS.dash}`) ?? 0;
      const bound = Math.ceil((Date.now() - started) / 500) + 4;
      console.log(`live DASH→HLS: ${text}; ${mpdRequests} origin requests for the MPD`);
      assert.ok(mpdRequests >= 1 && mpdRequests <= bound, `${mpdRequests} MPD requests > ${bound}`);
    } finally {
      await browser?.close();
      await encoder.stop();
      await sprox?.stop();
      await page.close();
      await origin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
