/**
 * The direct-mode endpoints by path, in MediaFlow's shapes. A signed URL names the endpoint
 * it opens by its canonical path; a request path is mapped to the same. Pure.
 * @module
 */

/** What a direct-mode path serves. */
export type DirectEndpointKind =
  /** `/proxy/stream`, `/proxy/stream/<file name>`, `/proxy/hls/segment.<ext>`. */
  | "stream"
  /** `/proxy/hls/manifest.m3u8`. */
  | "hls"
  /** `/proxy/hls/key_proxy/manifest.m3u8`: only key URIs are rewritten. */
  | "hls_keys"
  /** `/proxy/mpd/manifest.m3u8` and `/proxy/mpd/playlist.m3u8`. */
  | "mpd"
  /** `/proxy/mpd/init.mp4`. */
  | "mpd_init"
  /** `/proxy/mpd/segment.mp4`. */
  | "mpd_segment"
  /** `/proxy/ip`. */
  | "ip"
  /** `/proxy/decrypt/<name>`: init sections and segments decrypted server-side. */
  | "decrypt";

/** A request path mapped to its endpoint. */
export interface DirectEndpoint {
  readonly kind: DirectEndpointKind;
  /** The path a signed URL for it names (`/proxy/stream` for every `/proxy/stream/…`). */
  readonly canonical: string;
  /** The decoded `<file name>` of `/proxy/stream/<file name>`, else null. */
  readonly filename: string | null;
}

const FIXED: ReadonlyMap<string, DirectEndpointKind> = new Map([
  ["/proxy/stream", "stream"],
  ["/proxy/hls/manifest.m3u8", "hls"],
  ["/proxy/hls/key_proxy/manifest.m3u8", "hls_keys"],
  ["/proxy/mpd/manifest.m3u8", "mpd"],
  ["/proxy/mpd/playlist.m3u8", "mpd"],
  ["/proxy/mpd/init.mp4", "mpd_init"],
  ["/proxy/mpd/segment.mp4", "mpd_segment"],
  ["/proxy/ip", "ip"],
]);

const HLS_SEGMENT = /^\/proxy\/hls\/segment\.[A-Za-z0-9]{1,10}$/;

function decodeName(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The endpoint a path (as the URL parser serialises it, percent-encoded) names, or
 * undefined. The `<file name>` of `/proxy/stream/<file name>` and `/proxy/decrypt/<name>` is one
 * path segment.
 *
 * @example
 * ```ts
 * locateDirectEndpoint("/proxy/stream/My%20Movie.mkv");
 * // { kind: "stream", canonical: "/proxy/stream", filename: "My Movie.mkv" }
 * ```
 */
export function locateDirectEndpoint(path: string): DirectEndpoint | undefined {
  const kind = FIXED.get(path);
  if (kind) return { kind, canonical: path, filename: null };
  const named = /^\/proxy\/(stream|decrypt)\/([^/]+)$/.exec(path);
  if (named) {
    const kind = named[1] === "stream" ? "stream" : "decrypt";
    return { kind, canonical: `/proxy/${named[1]}`, filename: decodeName(named[2]) };
  }
  if (HLS_SEGMENT.test(path)) return { kind: "stream", canonical: path, filename: null };
  return undefined;
}
