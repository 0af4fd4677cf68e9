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
  type DirectLinkOptions,
  directLinkTail,
  type DirectManifestOptions,
  directModeResolver,
  fetchDirectManifest,
  guardInsecure,
  logRefusal,
  selectVariant,
  textResponse,
  type VariantChoice,
} from "../hls/mod.ts";
import { parseMpd } from "./model.ts";
import { listRenditions } from "./renditions.ts";
import { type ConvertedPlaylist, MAX_INDEX_BYTES, observeConversion } from "./respond.ts";
import {
  type InitReference,
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
  /** `max_res` / `resolution`: the one variant the multivariant playlist keeps. */
  readonly variants?: VariantChoice | null;
  /**
   * Decryption mode (`key_id`/`key`): init sections and segments link to the decrypting
   * endpoint, made from the carried link options and whether the MPD came over HTTPS.
   */
  readonly decrypt?: ((links: DirectLinkOptions, secure: boolean) => DecryptUri) | null;
}

/** Writes the decrypting link of a segment (or, with `init` null, of an init section). */
export type DecryptUri = (url: string, init: InitReference | null) => string;

/**
 * Which playlist a direct-mode MPD request asks for: `rendition` names a media playlist by
 * sProx's rendition name, `profile_id` (MediaFlow's parameter) by the Representation `@id`.
 */
export type DirectMpdPlaylist = ConvertedPlaylist | {
  readonly kind: "profile";
  readonly id: string;
};

/** Which playlist a direct-mode MPD request asks for. */
export function directMpdPlaylist(url: URL): DirectMpdPlaylist {
  if (url.pathname !== DIRECT_MPD_PLAYLIST_PATH) return { kind: "multivariant" };
  const name = url.searchParams.get("rendition");
  if (name && /^[A-Za-z0-9._-]+$/.test(name)) return { kind: "media", name };
  const profile = url.searchParams.get("profile_id");
  if (name === null && profile && profile.length <= 256 && /^[\x21-\x7e]+$/.test(profile)) {
    return { kind: "profile", id: profile };
  }
  throw new ProxyError(400, "bad_request", "query parameter rendition (or profile_id) is required");
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
    const asked = directMpdPlaylist(url);
    const { response, finalUrl, text } = await fetchDirectManifest(target, options);
    const started = performance.now();
    const mpd = parseMpd(text, finalUrl.href);
    let which: ConvertedPlaylist;
    if (asked.kind === "profile") {
      const found = listRenditions(mpd).find((r) => r.representation.id === asked.id);
      if (!found) throw new ProxyError(404, "not_found", "the MPD has no such profile_id");
      which = { kind: "media", name: found.name };
    } else which = asked;
    const carried = carriedParameters(url);
    const signed = options.signed ?? null;
    const resolve = guardInsecure(directModeResolver({ ...carried, signed }), {
      secure: finalUrl.protocol === "https:",
      allowInsecure: false,
    });
    const mpdParameter = encodeURIComponent(target.href);
    const tail = directLinkTail(carried) +
      (carried.playlistParameters ?? []).map(([k, v]) =>
        `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`
      ).join("");
    const write = {
      resolve,
      renditionUri: (name: string) =>
        signed
          ? signed.link(DIRECT_MPD_PLAYLIST_PATH, [
            ["d", target.href],
            ["rendition", name],
            ...(carried.overrides ?? []),
            ...(carried.playlistParameters ?? []),
          ])
          : `${DIRECT_MPD_PLAYLIST_PATH}?d=${mpdParameter}&rendition=${name}${tail}`,
      keyUri: options.decrypt ? null : options.keyUri,
      decryptUri: options.decrypt?.({ ...carried, signed }, finalUrl.protocol === "https:") ?? null,
      now: options.now ?? Date.now(),
    };
    const finish = async (playlist: string) => {
      observeConversion(started);
      const out = signed ? await signed.finish(playlist) : playlist;
      return textResponse(out, response, { headers: directResponseHeaders });
    };
    if (which.kind === "multivariant") {
      const playlist = multivariantPlaylist(mpd, write);
      return await finish(options.variants ? selectVariant(playlist, options.variants) : playlist);
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
    return await finish(mediaPlaylist(mpd, which.name, { ...write, indexes }));
  } catch (error) {
    logRefusal(error, { request_id: options.requestId, route: "direct_manifest" });
    throw error;
  }
}
