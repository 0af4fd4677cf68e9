/**
 * Direct mode: `/proxy/hls/manifest.m3u8?d=<playlist URL>` fetches through the
 * `/proxy/stream` rules and rewrites every reference back through sProx.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { directResponseHeaders } from "../../routing/mod.ts";
import { decodedBody, readManifest } from "./body.ts";
import { type DirectLinkOptions, directModeResolver, guardInsecure } from "./links.ts";
import { PLAYLIST_CONTENT_TYPE, textResponse } from "./respond.ts";
import { rewritePlaylist } from "./rewrite.ts";
import { logRefusal } from "./route.ts";

/** The manifest size bound in direct mode (the route default, 16 MiB). */
export const DIRECT_MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Fetches a destination under the `/proxy/stream` rules (allowlist, SSRF guard, redirects). */
export type DirectFetch = (
  target: URL,
  headers: Headers,
) => Promise<{ readonly response: Response; readonly finalUrl: URL }>;

/** What a direct-mode manifest request needs besides its URL. */
export interface DirectManifestOptions {
  readonly fetch: DirectFetch;
  /** Upstream request headers (the caller's allowlisted headers plus `h_` overrides). */
  readonly headers: Headers;
  readonly maxBytes?: number;
  readonly requestId?: string;
}

/**
 * The `h_*` overrides and the `api_password` query credential of a direct-mode request,
 * exactly as given, to be repeated on every link of the rewritten manifest.
 *
 * @example
 * ```ts
 * carriedParameters(new URL("http://s/proxy/hls/manifest.m3u8?d=x&h_referer=r&api_password=p"));
 * // { overrides: [["h_referer", "r"]], credential: "p" }
 * ```
 */
export function carriedParameters(url: URL): DirectLinkOptions {
  const overrides: [string, string][] = [];
  for (const [key, value] of url.searchParams) {
    if (key.toLowerCase().startsWith("h_")) overrides.push([key, value]);
  }
  return { overrides, credential: url.searchParams.get("api_password") };
}

/** Fetches a manifest in direct mode; non-200 answers become client errors. */
export async function fetchDirectManifest(
  target: URL,
  options: DirectManifestOptions,
): Promise<{ response: Response; finalUrl: URL; text: string }> {
  const { response, finalUrl } = await options.fetch(target, options.headers);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw response.status === 404 || response.status === 410
      ? new ProxyError(404, "not_found", "upstream has no such manifest")
      : new ProxyError(
        502,
        "upstream_bad_response",
        `upstream answered ${response.status} for the manifest`,
      );
  }
  const text = await readManifest(
    await decodedBody(response),
    options.maxBytes ?? DIRECT_MAX_MANIFEST_BYTES,
  );
  return { response, finalUrl, text };
}

/**
 * Serves `/proxy/hls/manifest.m3u8`: nested playlists come back through it, segments,
 * keys and init sections through `/proxy/stream`, all carrying the request's `h_`
 * overrides and query credential. A playlist fetched over HTTPS must not reference
 * `http://` resources. The response headers follow the direct-mode policy
 * (`directResponseHeaders`), as `/proxy/stream` does.
 *
 * @example
 * ```ts
 * return await serveDirectPlaylist(url, target, { fetch, headers });
 * ```
 */
export async function serveDirectPlaylist(
  url: URL,
  target: URL,
  options: DirectManifestOptions,
): Promise<Response> {
  try {
    const { response, finalUrl, text } = await fetchDirectManifest(target, options);
    const resolve = guardInsecure(directModeResolver(carriedParameters(url)), {
      // Links point at sProx itself; what can be downgraded is the upstream leg.
      secure: finalUrl.protocol === "https:",
      allowInsecure: false,
    });
    const out = rewritePlaylist(text, { playlistUrl: finalUrl.href, resolve });
    return textResponse(out, response, {
      contentType: PLAYLIST_CONTENT_TYPE,
      headers: directResponseHeaders,
    });
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: "direct_manifest" });
    throw error;
  }
}
