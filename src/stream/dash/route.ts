/**
 * DASH→HLS on routes with `dash.to_hls`: `<MPD path>/master.m3u8` and
 * `<MPD path>/<rendition>.m3u8` are answered from the upstream MPD.
 * @module
 */
import type { RouteConfig } from "../../config/mod.ts";
import { logRefusal, type ReferenceKind, routeResolver } from "../hls/mod.ts";
import { type ConvertedPlaylist, convertMpdResponse } from "./respond.ts";
import type { ByteRange } from "./segments.ts";

/** A request path naming a playlist converted from an MPD. */
export interface ConvertedPath {
  /** The path of the MPD on the route (what is fetched upstream). */
  readonly mpdPath: string;
  readonly which: ConvertedPlaylist;
}

const CONVERTED = /^(\/.*\.mpd)\/([A-Za-z0-9._-]+)\.m3u8$/i;

/**
 * Recognises `<path>.mpd/master.m3u8` and `<path>.mpd/<rendition>.m3u8`.
 *
 * @example
 * ```ts
 * matchConvertedPath("/vod/movie.mpd/master.m3u8");
 * // { mpdPath: "/vod/movie.mpd", which: { kind: "multivariant" } }
 * ```
 */
export function matchConvertedPath(pathname: string): ConvertedPath | null {
  const m = CONVERTED.exec(pathname);
  if (!m) return null;
  return {
    mpdPath: m[1],
    which: m[2] === "master" ? { kind: "multivariant" } : { kind: "media", name: m[2] },
  };
}

/** What converting an MPD on a route needs. */
export interface RouteDashOptions {
  readonly routeId: string;
  readonly origin: URL;
  readonly hls: RouteConfig["hls"];
  readonly dash: RouteConfig["dash"];
  readonly clientProtocol: "http" | "https";
  readonly directLink: ((url: string, kind: ReferenceKind) => string | null) | null;
  /** The absolute upstream URL of the MPD. */
  readonly mpdUrl: string;
  /** The client's query string (with `?`), carried onto rendition URIs. */
  readonly search: string;
  /** Key URIs for protected content, or null when DRM is off. */
  readonly keyUri: ((kid: string) => string) | null;
  readonly fetchRange: (url: string, range: ByteRange) => Promise<Uint8Array>;
  readonly requestId?: string;
  readonly now?: number;
}

/**
 * Answers a converted playlist from the upstream MPD response. Segment URLs follow the
 * route-mode rules of playlist rewriting (`base_url`, `cross_origin`, insecure guard).
 *
 * @example
 * ```ts
 * return await serveRouteDash(upstream, match.which, options);
 * ```
 */
export async function serveRouteDash(
  upstream: Response,
  which: ConvertedPlaylist,
  options: RouteDashOptions,
): Promise<Response> {
  try {
    return await convertMpdResponse(upstream, which, {
      mpdUrl: options.mpdUrl,
      maxBytes: options.dash.max_manifest_bytes,
      resolve: routeResolver(options.mpdUrl, options),
      renditionUri: (name) => `${name}.m3u8${options.search}`,
      keyUri: options.keyUri,
      fetchRange: options.fetchRange,
      now: options.now,
    });
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: options.routeId });
    throw error;
  }
}
