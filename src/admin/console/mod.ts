/**
 * The web console's static assets, served by the admin listener outside `/admin/` (the page
 * asks for the token and sends it with every `/admin/*` request it makes). Every asset is a
 * module of the program, never a file read at run time: the sandbox cannot read `src/`, and
 * the compiled binary has none.
 *
 * | Path                   | Asset                  |
 * | ---------------------- | ---------------------- |
 * | `/`                    | the page               |
 * | `/console/app.js`      | the page's script      |
 * | `/console/style.css`   | the style sheet        |
 * | `/console/hls.min.js`  | hls.js, for the preview |
 * @module
 */
import { HLS_JS } from "./hls.ts";
import { CONSOLE_CSS, CONSOLE_HTML } from "./page.ts";
import { CONSOLE_JS } from "./script.ts";

/**
 * What the page may load: its own assets, data from any http(s) origin (the public listeners,
 * which the URL builder, preview and speedtest reach), media from MSE blobs, hls.js's worker.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self' http: https:",
  "media-src 'self' blob: http: https:",
  "worker-src 'self' blob:",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
].join("; ");

const ASSETS: ReadonlyMap<string, { body: string; type: string }> = new Map([
  ["/", { body: CONSOLE_HTML, type: "text/html; charset=utf-8" }],
  ["/console/app.js", { body: CONSOLE_JS, type: "text/javascript; charset=utf-8" }],
  ["/console/style.css", { body: CONSOLE_CSS, type: "text/css; charset=utf-8" }],
  ["/console/hls.min.js", { body: HLS_JS, type: "text/javascript; charset=utf-8" }],
]);

/** The console's paths, for the admin app's `405` answers. */
export const CONSOLE_PATHS: readonly string[] = [...ASSETS.keys()];

/**
 * The console asset at `path` (`GET` or `HEAD`), or `undefined` when there is none.
 *
 * @example
 * ```ts
 * app.get("/*", (c, next) => consoleAsset(c.req.path) ?? next());
 * ```
 */
export function consoleAsset(path: string): Response | undefined {
  const asset = ASSETS.get(path);
  if (asset === undefined) return undefined;
  return new Response(asset.body, {
    headers: {
      "content-type": asset.type,
      // The assets change only with the binary; revalidating is cheap on loopback.
      "cache-control": "no-cache",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
