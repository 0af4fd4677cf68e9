/**
 * HTTP/3 end to end with a client nobody here wrote: headless Chromium, forced onto QUIC
 * for the listener and pinning the test certificate's public key, fetches a segment and a
 * rewritten playlist through a route (byte-exact, `nextHopProtocol` "h3"), then hls.js
 * plays the stream over HTTP/3 to its end.
 */
import assert from "node:assert/strict";
import { packageContent } from "../scripts/packagers/mod.ts";
import {
  deadline,
  freePort,
  requirePeer,
  scratchDir,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { spkiHash, startChromium } from "./_support/devtools.ts";
import { fetchHlsJs, playerPage } from "./_support/hls_js.ts";
import { startMediaOrigin } from "./_support/media_origin.ts";
import { makeTestPki } from "./_support/origins.ts";

const SECONDS = 4;

const FETCH_PAGE = `<!doctype html><html><body><script>
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
async function get(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.arrayBuffer();
  return { status: r.status, length: body.byteLength, sha256: hex(await crypto.subtle.digest("SHA-256", body)) };
}
(async () => {
  const q = new URLSearchParams(location.search);
  const result = { segment: await get(q.get("segment")), playlist: await get(q.get("playlist")) };
  await new Promise((r) => setTimeout(r, 100));
  result.protocols = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/content/")).map((e) => e.nextHopProtocol);
  result.navigation = performance.getEntriesByType("navigation")[0].nextHopProtocol;
  document.title = "DONE " + JSON.stringify(result);
})().catch((e) => (document.title = "ERROR " + e));
</script></body></html>`;

const PLAYER_PAGE = playerPage({
  ended:
    `" " + [...new Set(performance.getEntriesByType("resource").map((e) => e.nextHopProtocol))].join(",")`,
});

/** The first MPEG-TS segment under `dir` (relative path). */
async function firstSegment(dir: string, prefix = ""): Promise<string> {
  const names = [...Deno.readDirSync(`${dir}/${prefix}`)].sort((a, b) =>
    a.name.localeCompare(b.name)
  );
  for (const entry of names) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile && entry.name.endsWith(".ts")) return path;
    if (entry.isDirectory) {
      const found = await firstSegment(dir, path).catch(() => "");
      if (found) return found;
    }
  }
  throw new Error(`no .ts segment under ${dir}/${prefix}`);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "Chromium over HTTP/3: byte-exact segment and rewritten playlist, hls.js plays to the end",
  async fn() {
    await requirePeer("chromium");
    const dir = await scratchDir();
    await packageContent("hls-ts", `${dir}/media/hls`, SECONDS);
    const script = await fetchHlsJs(dir);
    const media = startMediaOrigin(`${dir}/media`);
    // The route's origin: the two pages and hls.js, and the media origin behind them.
    const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/fetch.html" || url.pathname === "/player.html") {
        const page = url.pathname === "/fetch.html" ? FETCH_PAGE : PLAYER_PAGE;
        return new Response(page, { headers: { "content-type": "text/html" } });
      }
      if (url.pathname === "/hls.min.js") {
        return new Response(script as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "application/javascript" },
        });
      }
      return fetch(`${media.url}${url.pathname}${url.search}`, { headers: req.headers });
    });
    const pki = await makeTestPki(dir, "edge", "edge.test");
    const port = freePort();
    const sprox = await startSprox(
      `
rate_limit: { enabled: false }
routes:
  - id: h3
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls: { enabled: true, certificate_path: "${pki.certPath}", private_key_path: "${pki.keyPath}" }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
    hls:
      enabled: true
      rewrite_playlist_urls: true
      base_url: "https://127.0.0.1:${port}/"
      allow_insecure_segments: true
`,
      { dir },
    );
    const base = `https://127.0.0.1:${port}`;
    const browser = await startChromium(dir, [
      "--enable-quic",
      `--origin-to-force-quic-on=127.0.0.1:${port}`,
      `--ignore-certificate-errors-spki-list=${await spkiHash(pki.certPath)}`,
    ]);
    const h2 = Deno.createHttpClient({ caCerts: [pki.ca] });
    try {
      const segmentPath = await firstSegment(`${dir}/media/hls`);
      const segment = `/content/hls/${segmentPath}`;
      const playlist = "/content/hls/master.m3u8";
      const query = `segment=${encodeURIComponent(segment)}&playlist=${
        encodeURIComponent(playlist)
      }`;
      const title = await browser.open(
        `${base}/fetch.html?${query}`,
        "document.title",
        /^(DONE|ERROR)/,
      );
      assert.match(title, /^DONE /, title);
      const result = JSON.parse(title.slice(5));
      assert.equal(result.navigation, "h3");
      assert.deepEqual(result.protocols, ["h3", "h3"]);
      // The segment is the origin's file, byte for byte.
      const file = await Deno.readFile(`${dir}/media/hls/${segmentPath}`);
      assert.deepEqual(result.segment, {
        status: 200,
        length: file.length,
        sha256: await sha256(file),
      });
      // The rewritten playlist is what HTTP/2 gets for the same URL, byte for byte.
      const viaH2 = await fetch(`${base}${playlist}`, { client: h2, signal: deadline() });
      assert.equal(viaH2.status, 200);
      const h2Body = new Uint8Array(await viaH2.arrayBuffer());
      assert.match(
        new TextDecoder().decode(h2Body),
        new RegExp(`https://127\\.0\\.0\\.1:${port}/`),
      );
      assert.deepEqual(result.playlist, {
        status: 200,
        length: h2Body.length,
        sha256: await sha256(h2Body),
      });
      // HTTP/1.1 and HTTP/2 responses advertise the HTTP/3 endpoint.
      assert.equal(viaH2.headers.get("alt-svc"), `h3=":${port}"; ma=86400`);

      const played = await browser.open(
        `${base}/player.html?src=${encodeURIComponent(`${base}/content/hls/master.m3u8`)}`,
        "document.title",
        /^(ENDED|ERROR)/,
      );
      const match = /^ENDED ([\d.]+) (.*)$/.exec(played);
      assert.ok(match, `playback did not end: "${played}"`);
      assert.ok(Math.abs(Number(match[1]) - SECONDS) < 0.15, `duration ${match[1]}`);
      assert.equal(match[2], "h3");
      // The log lines tell the same story: every browser request came over HTTP/3.
      const lines = sprox.logs.filter((l) => l.msg === "request" && l.path !== playlist);
      const browserLines = lines.filter((l) => l.protocol === "h3");
      assert.ok(
        browserLines.some((l) => l.path === segment && l.status === 200 && l.outcome === "ok"),
      );
      assert.ok(browserLines.filter((l) => String(l.path).endsWith(".ts")).length >= 2);
      assert.deepEqual(lines.filter((l) => l.protocol !== "h3"), []);
    } finally {
      h2.close();
      await browser.close();
      await sprox.stop();
      await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
      await media.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
