/**
 * hls.js in headless Chromium plays content sProx decrypts on the fly, without EME: DASH→HLS
 * of `cenc` and `cbcs` DASH and `SAMPLE-AES-CTR` HLS, with `key_id`/`key` on the direct-mode
 * manifest. The same encrypted content without keys does not play to its end.
 */
import assert from "node:assert/strict";
import { freePort, requirePeer, scratchDir, startSprox } from "./_support/mod.ts";
import { startMediaOrigin } from "./_support/media_origin.ts";
import { startChromium } from "./_support/devtools.ts";
import { fetchHlsJs, playerPage, servePlayer } from "./_support/hls_js.ts";
import { CENC_KEY, CENC_KID, packageEncryptedContent } from "./_support/cenc_content.ts";

const SECONDS = 3;

// No EME: hls.js must play the stream as clear fMP4.
const PAGE = playerPage({
  hlsConfig: "{ emeEnabled: false }",
  extra: `v.addEventListener("encrypted", () => (document.title = "ERROR encrypted media"));`,
});

Deno.test({
  name: "hls.js in Chromium plays decrypted cenc and cbcs streams to the end without EME",
  async fn() {
    await requirePeer("chromium");
    const dir = await scratchDir();
    await packageEncryptedContent(`${dir}/media`, SECONDS);
    const script = await fetchHlsJs(dir);
    const origin = startMediaOrigin(`${dir}/media`);
    const page = servePlayer(script, PAGE);
    const port = freePort();
    let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
    const sprox = await startSprox(`
routes:
  - id: player
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
rate_limit: { enabled: false }
`);
    try {
      browser = await startChromium(dir, ["--disable-quic"]);
      const proxy = `http://127.0.0.1:${port}`;
      const d = (path: string) => encodeURIComponent(`${origin.url}/content/${path}`);
      const keys = `key_id=${CENC_KID}&key=${CENC_KEY}`;
      const pageUrl = page.pageUrl;
      const play = (src: string, timeoutMs = 30_000) =>
        browser!.open(
          pageUrl + encodeURIComponent(src),
          "document.title",
          /^(ENDED|ERROR)/,
          timeoutMs,
        );
      const forms = {
        "DASH cenc": `${proxy}/proxy/mpd/manifest.m3u8?d=${d("dash-cenc/manifest.mpd")}&${keys}`,
        "DASH cbcs": `${proxy}/proxy/mpd/manifest.m3u8?d=${d("dash-cbcs/manifest.mpd")}&${keys}`,
        "HLS cenc": `${proxy}/proxy/hls/manifest.m3u8?d=${d("hls-cenc/master.m3u8")}&${keys}`,
      };
      for (const [form, src] of Object.entries(forms)) {
        const title = await play(src);
        const match = /^ENDED ([\d.]+)$/.exec(title);
        assert.ok(match, `${form}: playback did not end: "${title}"`);
        assert.ok(Math.abs(Number(match[1]) - SECONDS) < 0.15, `${form}: duration ${match[1]}`);
      }
      // Control: without keys the encrypted stream does not play through.
      const locked = await play(
        `${proxy}/proxy/mpd/manifest.m3u8?d=${d("dash-cbcs/manifest.mpd")}`,
        10_000,
      );
      assert.ok(!locked.startsWith("ENDED"), `encrypted content played: "${locked}"`);
    } finally {
      await browser?.close();
      await sprox.stop();
      await page.close();
      await origin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
