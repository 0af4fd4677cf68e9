/**
 * Writing HLS (RFC 8216) from an MPD: a multivariant playlist of the renditions and one
 * media playlist per rendition.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import type { ReferenceResolver } from "../hls/mod.ts";
import type { Mpd, Representation } from "./model.ts";
import { listRenditions, type Rendition } from "./renditions.ts";
import { type ByteRange, expandSegments, type PeriodTrack } from "./segments.ts";
import { applySegmentIndex } from "./sidx.ts";

/** How converted playlists write their references. */
export interface HlsWriteOptions {
  /** Writes a segment, init section or subtitle file URL (kind `media`). */
  readonly resolve: ReferenceResolver;
  /** The URI of a rendition's media playlist, as the multivariant playlist lists it. */
  readonly renditionUri: (name: string) => string;
  /** The key URI for a default KID; `null` when DRM is off (no `EXT-X-KEY` is written). */
  readonly keyUri?: ((kid: string) => string) | null;
  /** Wall clock in epoch ms for live MPDs; defaults to `Date.now()`. */
  readonly now?: number;
  /** `sidx` bytes fetched for SegmentBase tracks, keyed by {@linkcode segmentIndexKey}. */
  readonly indexes?: ReadonlyMap<string, Uint8Array>;
  /**
   * Decryption mode: init sections (`init` null) and segments (with their init section) are
   * written through this instead of `resolve`, and no `EXT-X-KEY` is written.
   */
  readonly decryptUri?: ((url: string, init: InitReference | null) => string) | null;
}

/** An init section as a media segment refers to it: its URL and byte range. */
export interface InitReference {
  readonly url: string;
  readonly range: ByteRange | null;
}

/** A `sidx` range the caller must fetch before a SegmentBase media playlist can be written. */
export interface SegmentIndexRequest {
  readonly url: string;
  readonly range: ByteRange;
}

/** The key of a fetched segment index in {@linkcode HlsWriteOptions.indexes}. */
export function segmentIndexKey(request: SegmentIndexRequest): string {
  return `${request.range.offset}-${request.range.length}@${request.url}`;
}

/**
 * Formats a duration given in timescale units as decimal seconds, exact to the microsecond
 * (integer arithmetic, no accumulated float error).
 *
 * @example
 * ```ts
 * formatSeconds(1001, 30000); // "0.033367"
 * formatSeconds(180000, 90000); // "2.000"
 * ```
 */
export function formatSeconds(ticks: number, timescale: number): string {
  let whole = Math.floor(ticks / timescale);
  let micro = Math.round(((ticks - whole * timescale) * 1_000_000) / timescale);
  if (micro >= 1_000_000) {
    whole += 1;
    micro -= 1_000_000;
  }
  const fraction = String(micro).padStart(6, "0").replace(/0+$/, "").padEnd(3, "0");
  return `${whole}.${fraction}`;
}

function quoted(value: string): string {
  return `"${value.replace(/["\r\n]/g, "'")}"`;
}

function frameRate(value: string | null): string | null {
  if (value === null) return null;
  const [n, d] = value.split("/").map(Number);
  const rate = d ? n / d : n;
  return Number.isFinite(rate) && rate > 0 ? rate.toFixed(3) : null;
}

function rendition(mpd: Mpd, name: string): Rendition {
  const found = listRenditions(mpd).find((r) => r.name === name);
  if (!found) throw new ProxyError(404, "not_found", "no such rendition in the MPD");
  return found;
}

/**
 * The `sidx` ranges a rendition's media playlist needs (SegmentBase with `indexRange`).
 *
 * @example
 * ```ts
 * for (const request of segmentIndexRequests(mpd, "video-1")) await fetchRange(request);
 * ```
 */
export function segmentIndexRequests(mpd: Mpd, name: string, now = Date.now()) {
  const found = rendition(mpd, name);
  const requests: SegmentIndexRequest[] = [];
  mpd.periods.forEach((period, i) => {
    const rep = found.perPeriod[i];
    if (rep) {
      const index = expandSegments(mpd, period, rep, now).index;
      if (index) requests.push(index);
    }
  });
  return requests;
}

function trackOf(mpd: Mpd, i: number, rep: Representation, options: HlsWriteOptions): PeriodTrack {
  const track = expandSegments(mpd, mpd.periods[i], rep, options.now ?? Date.now());
  if (track.index === null) return track;
  const bytes = options.indexes?.get(segmentIndexKey(track.index));
  if (!bytes) throw new ProxyError(502, "manifest_invalid", "segment index was not available");
  return applySegmentIndex(track, bytes, rep.segments.startNumber);
}

function byteRange(range: ByteRange): string {
  return `${range.length}@${range.offset}`;
}

/**
 * The media playlist of one rendition: `EXT-X-MAP` per period, exact `EXTINF`,
 * `EXT-X-BYTERANGE` for ranged addressing, `EXT-X-DISCONTINUITY` between periods,
 * `EXT-X-KEY` for protected periods, and for live MPDs the availability window with the
 * DASH segment number as `EXT-X-MEDIA-SEQUENCE`. Throws 404 `not_found` for an unknown name.
 *
 * @example
 * ```ts
 * const playlist = mediaPlaylist(mpd, "video-1", { resolve, renditionUri: (n) => `${n}.m3u8` });
 * ```
 */
export function mediaPlaylist(mpd: Mpd, name: string, options: HlsWriteOptions): string {
  const found = rendition(mpd, name);
  const body: string[] = [];
  let firstNumber: number | null = null;
  let target = 1;
  let key: string | null = null;
  let started = false;
  mpd.periods.forEach((period, i) => {
    const rep = found.perPeriod[i];
    if (!rep) return;
    const track = trackOf(mpd, i, rep, options);
    if (track.segments.length === 0) return;
    if (started) body.push("#EXT-X-DISCONTINUITY");
    started = true;
    const protection = rep.protection;
    const decrypt = options.decryptUri ?? null;
    const wanted = protection?.kid && options.keyUri && !decrypt
      ? `#EXT-X-KEY:METHOD=${protection.scheme === "cbcs" ? "SAMPLE-AES" : "SAMPLE-AES-CTR"},URI=${
        quoted(options.keyUri(protection.kid))
      },KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`
      : null;
    if (wanted !== key) body.push(wanted ?? "#EXT-X-KEY:METHOD=NONE");
    key = wanted;
    if (track.init) {
      const range = track.init.range ? `,BYTERANGE="${byteRange(track.init.range)}"` : "";
      const uri = decrypt
        ? decrypt(track.init.url, null)
        : options.resolve(track.init.url, "media");
      body.push(`#EXT-X-MAP:URI=${quoted(uri)}${range}`);
    }
    if (mpd.dynamic && mpd.availabilityStartTime !== null) {
      const s = track.segments[0];
      const offset = (s.time - rep.segments.presentationTimeOffset) / s.timescale;
      const at = mpd.availabilityStartTime + (period.start + offset) * 1000;
      body.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.round(at)).toISOString()}`);
    }
    for (const s of track.segments) {
      firstNumber ??= s.number;
      target = Math.max(target, Math.ceil(s.duration / s.timescale - 1e-9));
      body.push(`#EXTINF:${formatSeconds(s.duration, s.timescale)},`);
      if (s.range) body.push(`#EXT-X-BYTERANGE:${byteRange(s.range)}`);
      body.push(decrypt ? decrypt(s.url, track.init) : options.resolve(s.url, "media"));
    }
  });
  const head = [
    "#EXTM3U",
    "#EXT-X-VERSION:7",
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${firstNumber ?? 0}`,
  ];
  if (!mpd.dynamic) head.push("#EXT-X-PLAYLIST-TYPE:VOD");
  head.push("#EXT-X-INDEPENDENT-SEGMENTS");
  const tail = mpd.dynamic ? [] : ["#EXT-X-ENDLIST"];
  return [...head, ...body, ...tail, ""].join("\n");
}

function mediaTag(r: Rendition, group: string, name: string, first: boolean, uri: string) {
  const rep = r.representation;
  const main = rep.roles.includes("main");
  const parts = [
    `TYPE=${r.type === "audio" ? "AUDIO" : "SUBTITLES"}`,
    `GROUP-ID=${quoted(group)}`,
    `NAME=${quoted(name)}`,
  ];
  if (rep.lang) parts.push(`LANGUAGE=${quoted(rep.lang)}`);
  parts.push(`DEFAULT=${first ? "YES" : "NO"}`, `AUTOSELECT=${first || main ? "YES" : "NO"}`);
  if (r.type === "audio" && rep.channels && /^\d+$/.test(rep.channels)) {
    parts.push(`CHANNELS=${quoted(rep.channels)}`);
  }
  parts.push(`URI=${quoted(uri)}`);
  return `#EXT-X-MEDIA:${parts.join(",")}`;
}

function displayNames(list: Rendition[]): Map<Rendition, string> {
  const names = new Map<Rendition, string>();
  const seen = new Set<string>();
  for (const r of list) {
    const rep = r.representation;
    let name = rep.label ?? rep.lang ?? (r.type === "audio" ? "audio" : "subtitles");
    if (list.some((o) => o !== r && (o.representation.label ?? o.representation.lang) === name)) {
      name = `${name} ${Math.round(rep.bandwidth / 1000)}k`;
    }
    const base = name;
    for (let i = 2; seen.has(name); i++) name = `${base} (${i})`;
    seen.add(name);
    names.set(r, name);
  }
  return names;
}

/**
 * The multivariant playlist of an MPD: video representations as `EXT-X-STREAM-INF`
 * (BANDWIDTH including the largest audio, CODECS, RESOLUTION, FRAME-RATE), audio as an
 * `EXT-X-MEDIA` AUDIO group, WebVTT as a SUBTITLES group. An MPD without video lists its
 * audio representations as the variants.
 *
 * @example
 * ```ts
 * const master = multivariantPlaylist(mpd, { resolve, renditionUri: (n) => `${n}.m3u8` });
 * ```
 */
export function multivariantPlaylist(mpd: Mpd, options: HlsWriteOptions): string {
  const all = listRenditions(mpd);
  const video = all.filter((r) => r.type === "video");
  const audio = all.filter((r) => r.type === "audio");
  const text = all.filter((r) => r.type === "text");
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"];
  const variants = video.length ? video : audio;
  const grouped = video.length ? audio : [];
  const names = displayNames(grouped);
  const defaultAudio = grouped.find((r) => r.representation.roles.includes("main")) ?? grouped[0];
  for (const r of grouped) {
    lines.push(
      mediaTag(r, "audio", names.get(r)!, r === defaultAudio, options.renditionUri(r.name)),
    );
  }
  const textNames = displayNames(text);
  for (const r of text) {
    lines.push(mediaTag(r, "subs", textNames.get(r)!, false, options.renditionUri(r.name)));
  }
  const audioCodecs = [...new Set(grouped.map((r) => r.representation.codecs))];
  const maxAudio = Math.max(0, ...grouped.map((r) => r.representation.bandwidth));
  for (const r of variants) {
    const rep = r.representation;
    const attrs = [`BANDWIDTH=${rep.bandwidth + maxAudio}`];
    const codecs = [rep.codecs, ...audioCodecs];
    if (codecs.every((c) => c)) attrs.push(`CODECS=${quoted(codecs.join(","))}`);
    if (rep.width && rep.height) attrs.push(`RESOLUTION=${rep.width}x${rep.height}`);
    const rate = r.type === "video" ? frameRate(rep.frameRate) : null;
    if (rate) attrs.push(`FRAME-RATE=${rate}`);
    if (grouped.length) attrs.push(`AUDIO="audio"`);
    if (text.length) attrs.push(`SUBTITLES="subs"`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(",")}`, options.renditionUri(r.name));
  }
  if (variants.length === 0) {
    throw new ProxyError(502, "manifest_invalid", "MPD has no audio or video representation");
  }
  return [...lines, ""].join("\n");
}
