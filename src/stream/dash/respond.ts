/**
 * The transform step for DASH→HLS: an upstream MPD response becomes a multivariant or
 * media playlist response, fetching `sidx` ranges for SegmentBase tracks on the way.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { manifestTransformDuration } from "../../telemetry/mod.ts";
import { decodedBody, readManifest, textResponse } from "../hls/mod.ts";
import { parseMpd } from "./model.ts";
import type { ByteRange } from "./segments.ts";
import {
  type HlsWriteOptions,
  mediaPlaylist,
  multivariantPlaylist,
  segmentIndexKey,
  segmentIndexRequests,
} from "./to_hls.ts";

/** Which playlist of the converted MPD is asked for. */
export type ConvertedPlaylist =
  | { readonly kind: "multivariant" }
  | { readonly kind: "media"; readonly name: string };

/** What converting one MPD response needs. */
export interface MpdResponseOptions extends Omit<HlsWriteOptions, "indexes"> {
  /** The absolute upstream URL the MPD came from. */
  readonly mpdUrl: string;
  readonly maxBytes: number;
  /** Fetches a byte range of an upstream resource (the `sidx` of SegmentBase tracks). */
  readonly fetchRange: (url: string, range: ByteRange) => Promise<Uint8Array>;
}

/** Records the time a DASH→HLS conversion took (segment index fetches included). */
export function observeConversion(started: number): void {
  manifestTransformDuration.labels("dash_to_hls").observe((performance.now() - started) / 1000);
}

/** The largest `sidx` range fetched for one SegmentBase track. */
export const MAX_INDEX_BYTES = 4 * 1024 * 1024;

/** Maps a non-200 upstream answer for a manifest to the client-facing error. */
export function upstreamManifestError(status: number): ProxyError {
  return status === 404 || status === 410
    ? new ProxyError(404, "not_found", "upstream has no such manifest")
    : new ProxyError(502, "upstream_bad_response", `upstream answered ${status} for the manifest`);
}

/**
 * Converts an upstream MPD response into the asked-for HLS playlist response.
 *
 * @example
 * ```ts
 * return await convertMpdResponse(upstream, { kind: "multivariant" }, options);
 * ```
 */
export async function convertMpdResponse(
  upstream: Response,
  which: ConvertedPlaylist,
  options: MpdResponseOptions,
): Promise<Response> {
  if (upstream.status !== 200) {
    await upstream.body?.cancel().catch(() => {});
    throw upstreamManifestError(upstream.status);
  }
  const text = await readManifest(await decodedBody(upstream), options.maxBytes);
  const started = performance.now();
  const mpd = parseMpd(text, options.mpdUrl);
  const now = options.now ?? Date.now();
  if (which.kind === "multivariant") {
    const playlist = multivariantPlaylist(mpd, { ...options, now });
    observeConversion(started);
    return textResponse(playlist, upstream);
  }
  const indexes = new Map<string, Uint8Array>();
  for (const request of segmentIndexRequests(mpd, which.name, now)) {
    if (request.range.length > MAX_INDEX_BYTES) {
      throw new ProxyError(502, "manifest_too_large", "segment index range is too large");
    }
    indexes.set(segmentIndexKey(request), await options.fetchRange(request.url, request.range));
  }
  const playlist = mediaPlaylist(mpd, which.name, { ...options, now, indexes });
  observeConversion(started);
  return textResponse(playlist, upstream);
}
