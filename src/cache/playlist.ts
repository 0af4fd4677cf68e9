/**
 * What the cache needs to know about video objects: their kind (for default TTLs) and the
 * live-playlist rule: a live HLS media playlist lives at most half its target duration, so
 * a player polling every target duration never sees the same list twice in a row
 * (RFC 8216 §6.2.2 asks clients to reload no sooner than half the target duration when the
 * playlist did not change).
 * @module
 */
import type { ContentKind } from "./freshness.ts";

/** The facts of an HLS playlist's text the live-playlist rule reads. */
export interface PlaylistFacts {
  /** A media playlist (it has `#EXT-X-TARGETDURATION` or `#EXTINF`), not a master. */
  readonly media: boolean;
  /** It has `#EXT-X-ENDLIST` or `#EXT-X-PLAYLIST-TYPE:VOD`: it will not change. */
  readonly ended: boolean;
  /** `#EXT-X-TARGETDURATION` in seconds, or `null` when absent or invalid. */
  readonly targetDurationSecs: number | null;
}

/**
 * Reads the facts of a playlist's text (tags are matched at line starts, case-sensitively as
 * RFC 8216 §4.1 requires).
 *
 * @example
 * ```ts
 * playlistFacts("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n");
 * // { media: true, ended: false, targetDurationSecs: 6 }
 * ```
 */
export function playlistFacts(text: string): PlaylistFacts {
  const target = /^#EXT-X-TARGETDURATION:\s*(\d+(?:\.\d+)?)\s*$/m.exec(text);
  const media = target !== null || /^#EXTINF:/m.test(text);
  const ended = /^#EXT-X-ENDLIST\s*$/m.test(text) || /^#EXT-X-PLAYLIST-TYPE:\s*VOD\s*$/m.test(text);
  const targetDurationSecs = target ? Number(target[1]) : null;
  return { media, ended, targetDurationSecs };
}

/**
 * The longest a playlist may be cached: half its target duration for a live media playlist
 * (one without `#EXT-X-ENDLIST`), `null` (no cap) for anything else. A live playlist without
 * a valid target duration gets `0`: its freshness cannot be bounded, so it is not served
 * from the cache without revalidation.
 *
 * @example
 * ```ts
 * livePlaylistCapSecs("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n"); // 3
 * livePlaylistCapSecs("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n"); // null
 * ```
 */
export function livePlaylistCapSecs(text: string): number | null {
  const facts = playlistFacts(text);
  if (!facts.media || facts.ended) return null;
  return facts.targetDurationSecs === null ? 0 : facts.targetDurationSecs / 2;
}

/** Seconds of an ISO 8601 duration as MPDs write it (`PT1.5S`, `PT2M`, `P0DT1H`), or null. */
function isoDurationSecs(text: string): number | null {
  const m =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/
      .exec(text.trim());
  if (!m || text.trim() === "P" || text.trim() === "PT") return null;
  const [d, h, min, sec] = m.slice(1).map((v) => Number(v ?? 0));
  return ((d * 24 + h) * 60 + min) * 60 + sec;
}

/**
 * The longest a DASH MPD may be cached: for a live one (`type="dynamic"`), half the shorter
 * of its `minimumUpdatePeriod` and `maxSegmentDuration` (clients refresh it about that
 * often, and a stale MPD hides the newest segments), else one second; `null` (no cap) for a
 * static MPD or anything that is not an MPD.
 *
 * @example
 * ```ts
 * liveMpdCapSecs('<MPD type="dynamic" minimumUpdatePeriod="PT2S">'); // 1
 * liveMpdCapSecs('<MPD type="static">'); // null
 * ```
 */
export function liveMpdCapSecs(text: string): number | null {
  const root = /<(?:[A-Za-z_][\w.-]*:)?MPD\b[^>]*>/.exec(text)?.[0];
  if (!root || !/\btype\s*=\s*["']dynamic["']/.test(root)) return null;
  const periods = ["minimumUpdatePeriod", "maxSegmentDuration"]
    .map((name) => new RegExp(`\\b${name}\\s*=\\s*["']([^"']+)["']`).exec(root)?.[1])
    .map((value) => value === undefined ? null : isoDurationSecs(value))
    .filter((value): value is number => value !== null && value > 0);
  return periods.length === 0 ? 1 : Math.min(...periods) / 2;
}

const SEGMENT_EXTENSIONS = /\.(ts|m4s|m4v|m4a|mp4|aac|ac3|ec3|mp3|cmfv|cmfa|webm|vtt|fmp4)$/i;

/**
 * The kind of an object for the default TTLs: HLS and DASH manifests are `playlist`, media
 * (`video/*`, `audio/*`, MPEG-TS, fMP4, WebVTT, by type or by extension) is `segment`,
 * everything else `other`.
 *
 * @example
 * ```ts
 * contentKindOf("application/vnd.apple.mpegurl"); // "playlist"
 * contentKindOf(null, "/live/seg_10.ts"); // "segment"
 * ```
 */
export function contentKindOf(contentType: string | null, path = ""): ContentKind {
  const type = contentType?.split(";")[0].trim().toLowerCase() ?? "";
  if (/mpegurl$/.test(type) || type === "application/dash+xml") return "playlist";
  if (/^(video|audio)\//.test(type) || type === "text/vtt" || type === "application/mp4") {
    return "segment";
  }
  if (type !== "" && type !== "application/octet-stream" && type !== "binary/octet-stream") {
    return "other";
  }
  const pathname = path.split("?")[0];
  if (/\.(m3u8?|mpd)$/i.test(pathname)) return "playlist";
  return SEGMENT_EXTENSIONS.test(pathname) ? "segment" : "other";
}
