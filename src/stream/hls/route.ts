/**
 * Route mode: the transform step between forwarding and responding on routes with
 * `hls.enabled` and `hls.rewrite_playlist_urls`.
 * @module
 */
import type { RouteConfig } from "../../config/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { log } from "../../telemetry/mod.ts";
import { guardInsecure } from "./insecure.ts";
import { originPrefix, routeModeResolver } from "./links.ts";
import { type ReferenceKind, type ReferenceResolver, withDirectoryMapping } from "./resolve.ts";
import { playlistBody, rewritePlaylistResponse } from "./respond.ts";
import { PLAYLIST_OUTPUTS } from "./output_memo.ts";

/** What the route-mode transform needs to know about the request and the route. */
export interface RoutePlaylistOptions {
  readonly routeId: string;
  /** The route's upstream origin. */
  readonly origin: URL;
  readonly hls: RouteConfig["hls"];
  /** The protocol the client reached sProx over. */
  readonly clientProtocol: "http" | "https";
  /** `/proxy/stream` links for cross-origin references, null where it would not serve. */
  readonly directLink: ((url: string, kind: ReferenceKind) => string | null) | null;
  readonly requestId?: string;
  /** The upstream body, when the caller already holds it in memory (read without a stream). */
  readonly bytes?: Uint8Array;
}

/** True when the route reads playlists (to check them, and to rewrite them when asked). */
export function handlesPlaylists(hls: RouteConfig["hls"]): boolean {
  return hls.enabled;
}

/**
 * The route-mode resolver with the insecure-reference guard: the context is secure when
 * the playlist came over HTTPS, the client is on HTTPS, or `base_url` is HTTPS; references
 * under the route's own origin stay exempt (the operator chose that origin).
 */
export function routeResolver(
  playlistUrl: string,
  options: Omit<RoutePlaylistOptions, "routeId" | "requestId">,
): ReferenceResolver {
  const prefix = originPrefix(options.origin.href);
  const resolve = routeModeResolver({
    origin: options.origin.href,
    baseUrl: options.hls.base_url,
    crossOrigin: options.hls.cross_origin,
    directLink: options.directLink,
  });
  return guardInsecure(resolve, {
    secure: playlistUrl.startsWith("https:") || options.clientProtocol === "https" ||
      (options.hls.base_url?.startsWith("https:") ?? false),
    allowInsecure: options.hls.allow_insecure_segments,
    trustedPrefix: prefix,
  });
}

/** Logs a refused playlist with the reason and, for reference refusals, the host only. */
export function logRefusal(error: unknown, fields: Record<string, unknown>): void {
  if (!(error instanceof ProxyError)) return;
  const host = typeof error.cause === "string" ? error.cause : undefined;
  log("warn", "playlist refused", { ...fields, reason: error.reason, reference_host: host });
}

/**
 * The check-only resolver of `hls.enabled` routes without `rewrite_playlist_urls`: every
 * reference stays as written; only the insecure-reference guard applies.
 */
function checkingResolver(
  playlistUrl: string,
  options: Omit<RoutePlaylistOptions, "routeId" | "requestId">,
): ReferenceResolver {
  const identity = withDirectoryMapping((url) => url, (directory) => directory);
  return guardInsecure(identity, {
    secure: playlistUrl.startsWith("https:") || options.clientProtocol === "https",
    allowInsecure: options.hls.allow_insecure_segments,
    trustedPrefix: originPrefix(options.origin.href),
  });
}

/**
 * On `hls.enabled` routes, reads an upstream playlist (recognised by type or by its
 * leading `#EXTM3U`), checks it, and rewrites it when `rewrite_playlist_urls` is on;
 * anything else passes through unchanged.
 *
 * @example
 * ```ts
 * const response = await transformRoutePlaylist(upstream, target.href, options);
 * ```
 */
export async function transformRoutePlaylist(
  upstream: Response,
  playlistUrl: string,
  options: RoutePlaylistOptions,
): Promise<Response> {
  if (!handlesPlaylists(options.hls)) return upstream;
  const probe = await playlistBody(upstream, playlistUrl, options.bytes);
  if (!probe.playlist) return probe.response;
  const rewrite = options.hls.rewrite_playlist_urls;
  // Built when a rewrite runs: a remembered output needs no resolver.
  let resolver: ReferenceResolver | undefined;
  try {
    return await rewritePlaylistResponse(upstream, probe.body, {
      playlistUrl,
      get resolve() {
        return resolver ??= rewrite
          ? routeResolver(playlistUrl, options)
          : checkingResolver(playlistUrl, options);
      },
      maxBytes: options.hls.max_manifest_bytes,
      checkOnly: !rewrite,
      // The resolver depends on the plan (these settings are replaced by a reload), the
      // route, the client's scheme and the playlist URL.
      memo: {
        outputs: PLAYLIST_OUTPUTS,
        scope: options.hls,
        key: `${options.routeId}\n${options.clientProtocol}\n${playlistUrl}`,
      },
    });
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: options.routeId });
    throw error;
  }
}
