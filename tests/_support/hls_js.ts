/**
 * hls.js for browser tests, fetched from the npm registry with `npm pack` (npm is how this
 * project gets Deno, so it is there).
 * @module
 */
import assert from "node:assert/strict";
import { withTimeout } from "./timeout.ts";

/** The hls.js release the browser tests play with. */
export const HLS_JS = "hls.js@1.7.4";

/**
 * Downloads and unpacks hls.js into `dir`; returns `dist/hls.min.js`.
 *
 * @example
 * ```ts
 * const script = await fetchHlsJs(dir);
 * ```
 */
export async function fetchHlsJs(dir: string): Promise<Uint8Array> {
  const out = await new Deno.Command("npm", {
    args: ["pack", HLS_JS, "--pack-destination", dir, "--silent"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const tarball = `${dir}/${new TextDecoder().decode(out.stdout).trim().split("\n").pop()}`;
  const untar = await new Deno.Command("tar", {
    args: ["xzf", tarball, "-C", dir],
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(untar.success);
  return await Deno.readFile(`${dir}/package/dist/hls.min.js`);
}

/**
 * The test page that plays `?src=` with hls.js (served at `/hls.min.js`) at 4× speed: its
 * title says `LOADING`, `ERROR <detail>` on a fatal error, and `ENDED <duration>` plus what
 * `ended` adds, once the video ends. `hlsConfig` is the `Hls` constructor's argument, `extra`
 * more script (listeners of its own).
 *
 * @example
 * ```ts
 * new Response(playerPage({ hlsConfig: "{ emeEnabled: false }" }), { headers: { "content-type": "text/html" } });
 * ```
 */
export function playerPage(
  options: { hlsConfig?: string; extra?: string; ended?: string } = {},
): string {
  return `<!doctype html><html><body><video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById("v");
document.title = "LOADING";
const hls = new Hls(${options.hlsConfig ?? ""});
hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) document.title = "ERROR " + d.details; });
${options.extra ?? ""}
hls.loadSource(new URLSearchParams(location.search).get("src"));
hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => {
  v.playbackRate = 4;
  v.play().catch((e) => (document.title = "ERROR play " + e));
});
v.addEventListener("ended", () => {
  document.title = "ENDED " + v.duration.toFixed(3)${options.ended ? ` + ${options.ended}` : ""};
});
</script></body></html>`;
}

/** The page server of a player test: `/hls.min.js` and, at any other path, `page`. */
export interface PlayerServer {
  /** `http://127.0.0.1:<port>/index.html?src=` (append the encoded source URL). */
  readonly pageUrl: string;
  close(): Promise<void>;
}

/** Serves hls.js (`script`, from {@linkcode fetchHlsJs}) and a player `page` on loopback. */
export function servePlayer(script: Uint8Array, page: string): PlayerServer {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/hls.min.js") {
      return new Response(script as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/javascript" },
      });
    }
    return new Response(page, { headers: { "content-type": "text/html" } });
  });
  return {
    pageUrl: `http://127.0.0.1:${server.addr.port}/index.html?src=`,
    close: () => withTimeout(server.shutdown(), 10_000, "the page server to shut down"),
  };
}
