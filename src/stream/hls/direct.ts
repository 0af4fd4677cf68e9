/**
 * Direct mode: `/proxy/hls/manifest.m3u8?d=<playlist URL>` fetches through the
 * `/proxy/stream` rules and rewrites every reference back through sProx.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { directResponseHeaders } from "../../routing/mod.ts";
import { parseDestination } from "../direct/mod.ts";
import { decodedBody, readManifest } from "./body.ts";
import { guardInsecure } from "./insecure.ts";
import { type DirectLinkOptions, directModeResolver, type ProxiedReferences } from "./links.ts";
import type { ReferenceResolver } from "./resolve.ts";
import { PLAYLIST_OUTPUTS, playlistOutput } from "./output_memo.ts";
import { PLAYLIST_CONTENT_TYPE, textResponse, transformDurationOf } from "./respond.ts";
import { rewritePlaylist } from "./rewrite.ts";
import { logRefusal } from "./route.ts";
import type { SignedLinkWriter } from "./signed_links.ts";
import { selectVariant, type VariantChoice, variantChoice } from "./variants.ts";

/** `/proxy/hls/key_proxy/manifest.m3u8`: playlists whose keys alone go through sProx. */
export const KEY_PROXY_PLAYLIST_PATH = "/proxy/hls/key_proxy/manifest.m3u8";

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
  /** The request came with a signed URL: links are signed URLs minted by this writer. */
  readonly signed?: SignedLinkWriter | null;
  /**
   * Remember outputs under this object (one a reload replaces: the plan's direct-mode
   * settings), so that repeated requests for the same playlist version share one rewrite.
   * Not for signed links (minted per request).
   */
  readonly memoScope?: object;
}

/** The HLS options of a direct-mode playlist request (MediaFlow's parameter names). */
export interface DirectPlaylistOptions {
  /** `key_url`: every key URI is replaced by this URL (then linked through sProx). */
  readonly keyUrl: string | null;
  /** `no_proxy=true`: none; `key_only_proxy=true` or the key-proxy path: keys. */
  readonly proxy: ProxiedReferences;
  /** `max_res=true` / `resolution=<height>p`. */
  readonly variants: VariantChoice | null;
  /** Decryption mode (`key_id`/`key`): rewrites the playlist in place of the plain rewrite. */
  readonly decrypt?: PlaylistDecryption | null;
}

/** A playlist rewrite for decryption, given what the plain rewrite would use. */
export type PlaylistDecryption = (text: string, context: {
  readonly playlistUrl: string;
  /** The plain rewrite's resolver (insecure guard included). */
  readonly resolve: ReferenceResolver;
  /** The parameters every link carries. */
  readonly links: DirectLinkOptions;
  /** The playlist came over HTTPS. */
  readonly secure: boolean;
}) => string;

const TRUE = /^(true|1|yes)$/i;

/**
 * Reads the HLS options of a direct-mode request. `keysOnly` is set for
 * `/proxy/hls/key_proxy/manifest.m3u8`. A `key_url` is read like `d` (a URL or its base64);
 * it is fetched, like every link, under the `/proxy/stream` rules.
 *
 * @example
 * ```ts
 * directPlaylistOptions(new URL("http://s/proxy/hls/manifest.m3u8?d=x&no_proxy=true"), false);
 * // { keyUrl: null, proxy: "none", variants: null }
 * ```
 */
export function directPlaylistOptions(url: URL, keysOnly: boolean): DirectPlaylistOptions {
  const keyText = url.searchParams.get("key_url");
  const keyUrl = keyText ? parseDestination(keyText, "key_url").href : null;
  let proxy: ProxiedReferences = "all";
  if (TRUE.test(url.searchParams.get("no_proxy") ?? "")) proxy = "none";
  else if (keysOnly || TRUE.test(url.searchParams.get("key_only_proxy") ?? "")) proxy = "keys";
  return { keyUrl, proxy, variants: variantChoice(url) };
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
  const playlistParameters: [string, string][] = [];
  for (const [key, value] of url.searchParams) {
    const lower = key.toLowerCase();
    if (lower.startsWith("h_") || lower.startsWith("rp_") || lower === "x_headers") {
      overrides.push([key, value]);
    } else if (PLAYLIST_PARAMETERS.has(lower)) playlistParameters.push([key, value]);
  }
  return { overrides, playlistParameters, credential: url.searchParams.get("api_password") };
}

/**
 * Parameters that shape nested playlists and are repeated on their links: the key
 * replacement, and the per-request key material and key source of protected DASH.
 */
const PLAYLIST_PARAMETERS: ReadonlySet<string> = new Set([
  "key_url",
  "key_id",
  "key",
  "key_source",
]);

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
 * overrides, `rp_`/`x_headers` and query credential (or as signed URLs). A playlist fetched
 * over HTTPS must not reference `http://` resources. The response headers follow the
 * direct-mode policy (`directResponseHeaders`), as `/proxy/stream` does. `playlist` holds
 * the HLS options (`key_url`, `no_proxy`, key-only proxying, variant choice).
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
  playlist: DirectPlaylistOptions = { keyUrl: null, proxy: "all", variants: null },
): Promise<Response> {
  try {
    const { response, finalUrl, text } = await fetchDirectManifest(target, options);
    const responseOptions = {
      contentType: PLAYLIST_CONTENT_TYPE,
      headers: directResponseHeaders,
    };
    // What the output depends on besides the source and the plan: the request's path and
    // query (links carry its parameters; the options are read from it) and where the playlist
    // was fetched from in the end (references resolve against it; its scheme guards them).
    // Signed links are minted per request (the token's expiry and address): never shared.
    const scope = options.signed ? undefined : options.memoScope;
    const key = `${url.pathname}${url.search}\n${finalUrl.href}`;
    const known = scope && PLAYLIST_OUTPUTS.find(scope, key, text);
    if (known) return textResponse("", response, { ...responseOptions, output: known });
    const started = performance.now();
    let links: ReferenceResolver = directModeResolver({
      ...carriedParameters(url),
      proxy: playlist.proxy,
      playlistPath: playlist.proxy === "keys" ? KEY_PROXY_PLAYLIST_PATH : undefined,
      signed: options.signed,
    });
    if (playlist.keyUrl !== null) {
      const replaced = playlist.keyUrl;
      const inner = links;
      links = (reference, kind, line) => inner(kind === "key" ? replaced : reference, kind, line);
    }
    const resolve = guardInsecure(links, {
      // Links point at sProx itself; what can be downgraded is the upstream leg.
      secure: finalUrl.protocol === "https:",
      allowInsecure: false,
    });
    const source = playlist.variants ? selectVariant(text, playlist.variants) : text;
    let out = playlist.decrypt
      ? playlist.decrypt(source, {
        playlistUrl: finalUrl.href,
        resolve,
        links: { ...carriedParameters(url), signed: options.signed },
        secure: finalUrl.protocol === "https:",
      })
      : rewritePlaylist(source, { playlistUrl: finalUrl.href, resolve });
    if (options.signed) out = await options.signed.finish(out);
    transformDurationOf("hls_rewrite").observe((performance.now() - started) / 1000);
    const output = playlistOutput(out);
    if (scope) PLAYLIST_OUTPUTS.keep(scope, key, text, output);
    return textResponse(out, response, { ...responseOptions, output });
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: "direct_manifest" });
    throw error;
  }
}
