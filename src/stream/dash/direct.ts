/**
 * Direct-mode DASH→HLS: `/proxy/mpd/manifest.m3u8?d=<MPD URL>` answers the multivariant
 * playlist and `/proxy/mpd/playlist.m3u8?d=<MPD URL>&rendition=<name>` a media playlist,
 * both fetched through the `/proxy/stream` rules.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { directResponseHeaders } from "../../routing/mod.ts";
import {
  carriedParameters,
  directLinkTail,
  type DirectManifestOptions,
  directModeResolver,
  fetchDirectManifest,
  guardInsecure,
  logRefusal,
  textResponse,
} from "../hls/mod.ts";
import { parseMpd } from "./model.ts";
import { type ConvertedPlaylist, MAX_INDEX_BYTES, observeConversion } from "./respond.ts";
import {
  mediaPlaylist,
  multivariantPlaylist,
  segmentIndexKey,
  segmentIndexRequests,
} from "./to_hls.ts";

/** The path of converted media playlists in direct mode. */
export const DIRECT_MPD_PLAYLIST_PATH = "/proxy/mpd/playlist.m3u8";

/** Options of {@linkcode serveDirectMpd}. */
export interface DirectMpdOptions extends DirectManifestOptions {
  /** Key URIs for protected content, or null when DRM is off. */
  readonly keyUri: ((kid: string) => string) | null;
  readonly now?: number;
}

/** Which playlist a direct-mode MPD request asks for (`rendition` names a media playlist). */
export function directMpdPlaylist(url: URL): ConvertedPlaylist {
  if (url.pathname !== DIRECT_MPD_PLAYLIST_PATH) return { kind: "multivariant" };
  const name = url.searchParams.get("rendition");
  if (!name || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new ProxyError(400, "bad_request", "query parameter rendition is required");
  }
  return { kind: "media", name };
}

async function fetchRange(
  options: DirectMpdOptions,
  url: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const headers = new Headers(options.headers);
  headers.set("range", `bytes=${offset}-${offset + length - 1}`);
  const { response } = await options.fetch(new URL(url), headers);
  if (response.status !== 206 && response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new ProxyError(502, "upstream_bad_response", "segment index could not be fetched");
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return response.status === 200 ? bytes.slice(offset, offset + length) : bytes;
}

/**
 * Serves a direct-mode converted playlist for the MPD at `target`, with the direct-mode
 * response-header policy (`directResponseHeaders`), as `/proxy/stream` does.
 *
 * @example
 * ```ts
 * return await serveDirectMpd(url, target, { fetch, headers, keyUri: null });
 * ```
 */
export async function serveDirectMpd(
  url: URL,
  target: URL,
  options: DirectMpdOptions,
): Promise<Response> {
  try {
    const which = directMpdPlaylist(url);
    const { response, finalUrl, text } = await fetchDirectManifest(target, options);
    const started = performance.now();
    const mpd = parseMpd(text, finalUrl.href);
    const carried = carriedParameters(url);
    const resolve = guardInsecure(directModeResolver(carried), {
      secure: finalUrl.protocol === "https:",
      allowInsecure: false,
    });
    const mpdParameter = encodeURIComponent(target.href);
    const write = {
      resolve,
      renditionUri: (name: string) =>
        `${DIRECT_MPD_PLAYLIST_PATH}?d=${mpdParameter}&rendition=${name}${directLinkTail(carried)}`,
      keyUri: options.keyUri,
      now: options.now ?? Date.now(),
    };
    if (which.kind === "multivariant") {
      const playlist = multivariantPlaylist(mpd, write);
      observeConversion(started);
      return textResponse(playlist, response, { headers: directResponseHeaders });
    }
    const indexes = new Map<string, Uint8Array>();
    for (const request of segmentIndexRequests(mpd, which.name, write.now)) {
      if (request.range.length > MAX_INDEX_BYTES) {
        throw new ProxyError(502, "manifest_too_large", "segment index range is too large");
      }
      const bytes = await fetchRange(
        options,
        request.url,
        request.range.offset,
        request.range.length,
      );
      indexes.set(segmentIndexKey(request), bytes);
    }
    const playlist = mediaPlaylist(mpd, which.name, { ...write, indexes });
    observeConversion(started);
    return textResponse(playlist, response, { headers: directResponseHeaders });
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: "direct_manifest" });
    throw error;
  }
}
