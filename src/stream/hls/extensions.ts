/**
 * File extensions that say what a URL is not: a media segment, a key, an image. A response
 * of an ambiguous type at such a URL is not sniffed for `#EXTM3U`.
 * @module
 */

/** The segment extensions ffmpeg's HLS demuxer accepts by default (`allowed_segment_extensions`). */
export const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set(
  "3gp,aac,avi,ac3,eac3,flac,mkv,m4a,m4s,m4v,mpg,mov,mp2,mp3,mp4,mpeg,mpegts,ogg,ogv,oga,ts,vob,vtt,wav,webvtt,cmfv,cmfa,ec3,fmp4"
    .split(","),
);

/** Media segments, plus keys, images and other files that are never an HLS playlist. */
const NEVER_PLAYLIST: ReadonlySet<string> = new Set([
  ...MEDIA_EXTENSIONS,
  ..."bin,key,jpg,jpeg,png,gif,webp,avif,ico,svg,woff,woff2,css,js,wasm,zip,gz".split(","),
]);

/**
 * True when the last path segment of `url` ends with an extension that is never a
 * playlist (`seg1.ts`, `key.bin`, `thumb.jpg`), compared without regard to case.
 *
 * @example
 * ```ts
 * neverPlaylist("https://o.example/v/seg1.ts?token=x"); // true
 * neverPlaylist("https://o.example/v/index.m3u8"); // false
 * neverPlaylist("https://o.example/v/playlist?id=1"); // false
 * ```
 */
export function neverPlaylist(url: string): boolean {
  let end = url.length;
  const query = url.indexOf("?");
  if (query >= 0) end = query;
  const fragment = url.indexOf("#");
  if (fragment >= 0 && fragment < end) end = fragment;
  const slash = url.lastIndexOf("/", end - 1);
  const dot = url.lastIndexOf(".", end - 1);
  if (dot <= slash) return false;
  return NEVER_PLAYLIST.has(url.slice(dot + 1, end).toLowerCase());
}
