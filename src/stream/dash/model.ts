/**
 * An MPD (ISO/IEC 23009-1) read into the plain values the HLS writer needs: periods with
 * their timing, representations with inherited attributes, resolved BaseURLs, merged
 * segment addressing and content protection.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { child, childrenNamed, parseXml, type XmlElement } from "./_xml.ts";
import { parseDateTime, parseDuration } from "./_time.ts";

/** One `<S>` of a SegmentTimeline. */
export interface TimelineEntry {
  readonly t: number | null;
  readonly d: number;
  readonly r: number;
}

/** Segment addressing merged across Period, AdaptationSet and Representation. */
export interface SegmentInfo {
  readonly kind: "template" | "list" | "base" | "none";
  readonly timescale: number;
  /** Constant segment duration in timescale units. */
  readonly duration: number | null;
  readonly startNumber: number;
  readonly endNumber: number | null;
  readonly presentationTimeOffset: number;
  readonly media: string | null;
  readonly initialization: string | null;
  readonly initializationRange: string | null;
  readonly indexRange: string | null;
  readonly timeline: readonly TimelineEntry[] | null;
  readonly segmentUrls: readonly { media: string | null; mediaRange: string | null }[];
}

/** Common-encryption signalling of a representation. */
export interface Protection {
  /** `cenc` (AES-CTR) or `cbcs` (AES-CBC pattern). */
  readonly scheme: "cenc" | "cbcs";
  /** The default key id, 32 lower-case hex digits, when signalled. */
  readonly kid: string | null;
}

/** What kind of track a representation carries. */
export type TrackType = "video" | "audio" | "text" | "other";

/** One Representation with everything it inherits. */
export interface Representation {
  readonly id: string;
  readonly type: TrackType;
  readonly adaptationSet: number;
  readonly bandwidth: number;
  readonly mimeType: string;
  readonly codecs: string | null;
  readonly width: number | null;
  readonly height: number | null;
  readonly frameRate: string | null;
  readonly lang: string | null;
  readonly label: string | null;
  readonly roles: readonly string[];
  readonly channels: string | null;
  /** The resolved absolute BaseURL segment templates resolve against. */
  readonly baseUrl: string;
  readonly segments: SegmentInfo;
  readonly protection: Protection | null;
}

/** One Period with its start and duration in seconds. */
export interface Period {
  readonly id: string | null;
  readonly start: number;
  readonly duration: number | null;
  readonly representations: readonly Representation[];
}

/** A whole MPD. */
export interface Mpd {
  readonly url: string;
  readonly dynamic: boolean;
  /** Epoch milliseconds. */
  readonly availabilityStartTime: number | null;
  readonly timeShiftBufferDepth: number | null;
  readonly mediaPresentationDuration: number | null;
  readonly minimumUpdatePeriod: number | null;
  readonly periods: readonly Period[];
}

function invalid(message: string): ProxyError {
  return new ProxyError(502, "manifest_invalid", message);
}

function int(value: string | undefined, name: string): number | null {
  if (value === undefined) return null;
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw invalid(`MPD attribute ${name} is not an integer`);
  return n;
}

function resolveBase(element: XmlElement, parent: string): string {
  const base = child(element, "BaseURL");
  if (!base || base.text === "") return parent;
  try {
    return new URL(base.text, parent).href;
  } catch {
    throw invalid("MPD holds an invalid BaseURL");
  }
}

const SEGMENT_ELEMENTS = ["SegmentTemplate", "SegmentList", "SegmentBase"] as const;
const KIND = { SegmentTemplate: "template", SegmentList: "list", SegmentBase: "base" } as const;

function timeline(element: XmlElement): TimelineEntry[] | null {
  const node = child(element, "SegmentTimeline");
  if (!node) return null;
  return childrenNamed(node, "S").map((s) => {
    const d = int(s.attributes.get("d"), "S@d");
    if (d === null || d <= 0) throw invalid("MPD SegmentTimeline entry needs a positive d");
    return { t: int(s.attributes.get("t"), "S@t"), d, r: int(s.attributes.get("r"), "S@r") ?? 0 };
  });
}

/** Merges segment addressing from the outermost level inwards (§5.3.9.1 inheritance). */
function mergeSegments(levels: readonly XmlElement[]): SegmentInfo {
  let chosen: (typeof SEGMENT_ELEMENTS)[number] | null = null;
  for (const level of levels) {
    for (const name of SEGMENT_ELEMENTS) if (child(level, name)) chosen = name;
  }
  const none: SegmentInfo = {
    kind: "none",
    timescale: 1,
    duration: null,
    startNumber: 1,
    endNumber: null,
    presentationTimeOffset: 0,
    media: null,
    initialization: null,
    initializationRange: null,
    indexRange: null,
    timeline: null,
    segmentUrls: [],
  };
  if (chosen === null) return none;
  const attrs = new Map<string, string>();
  let init: XmlElement | undefined;
  let entries: TimelineEntry[] | null = null;
  let urls: SegmentInfo["segmentUrls"] = [];
  for (const level of levels) {
    const node = child(level, chosen);
    if (!node) continue;
    for (const [k, v] of node.attributes) attrs.set(k, v);
    init = child(node, "Initialization") ?? init;
    entries = timeline(node) ?? entries;
    const list = childrenNamed(node, "SegmentURL");
    if (list.length) {
      urls = list.map((u) => ({
        media: u.attributes.get("media") ?? null,
        mediaRange: u.attributes.get("mediaRange") ?? null,
      }));
    }
  }
  const timescale = int(attrs.get("timescale"), "timescale") ?? 1;
  if (timescale <= 0) throw invalid("MPD timescale must be positive");
  const duration = int(attrs.get("duration"), "duration");
  if (duration !== null && duration <= 0) throw invalid("MPD segment duration must be positive");
  return {
    kind: KIND[chosen],
    timescale,
    duration,
    startNumber: int(attrs.get("startNumber"), "startNumber") ?? 1,
    endNumber: int(attrs.get("endNumber"), "endNumber"),
    presentationTimeOffset: int(attrs.get("presentationTimeOffset"), "presentationTimeOffset") ??
      0,
    media: attrs.get("media") ?? null,
    initialization: attrs.get("initialization") ?? init?.attributes.get("sourceURL") ?? null,
    initializationRange: init?.attributes.get("range") ?? null,
    indexRange: attrs.get("indexRange") ?? null,
    timeline: entries,
    segmentUrls: urls,
  };
}

const CENC = "urn:mpeg:dash:mp4protection:2011";

function protection(levels: readonly XmlElement[]): Protection | null {
  let found = null as Protection | null;
  for (const level of levels) {
    for (const cp of childrenNamed(level, "ContentProtection")) {
      const scheme = (cp.attributes.get("schemeIdUri") ?? "").toLowerCase();
      if (scheme !== CENC) continue;
      const value = (cp.attributes.get("value") ?? "cenc").toLowerCase();
      const kid = (cp.attributes.get("default_KID") ?? "").replaceAll("-", "").toLowerCase();
      found = {
        scheme: value === "cbcs" ? "cbcs" : "cenc",
        kid: /^[0-9a-f]{32}$/.test(kid) ? kid : found?.kid ?? null,
      };
    }
  }
  return found;
}

function trackType(contentType: string | undefined, mimeType: string): TrackType {
  const type = contentType ?? mimeType.split("/")[0];
  if (type === "video" || type === "audio") return type;
  return mimeType === "text/vtt" ? "text" : "other";
}

function representation(
  mpdLevel: readonly XmlElement[],
  set: XmlElement,
  rep: XmlElement,
  index: number,
  base: string,
): Representation {
  const a = (name: string) => rep.attributes.get(name) ?? set.attributes.get(name);
  const mimeType = (a("mimeType") ?? "").toLowerCase();
  const codecs = a("codecs") ?? null;
  const id = rep.attributes.get("id");
  if (!id) throw invalid("MPD Representation needs an id");
  const channels = child(rep, "AudioChannelConfiguration") ??
    child(set, "AudioChannelConfiguration");
  const label = child(set, "Label")?.text || a("label") || null;
  return {
    id,
    type: trackType(set.attributes.get("contentType"), mimeType),
    adaptationSet: index,
    bandwidth: int(rep.attributes.get("bandwidth"), "bandwidth") ?? 0,
    mimeType,
    codecs,
    width: int(a("width"), "width"),
    height: int(a("height"), "height"),
    frameRate: a("frameRate") ?? null,
    lang: a("lang") ?? null,
    label,
    roles: childrenNamed(set, "Role").map((r) => r.attributes.get("value") ?? ""),
    channels: channels?.attributes.get("value") ?? null,
    baseUrl: resolveBase(rep, resolveBase(set, base)),
    segments: mergeSegments([...mpdLevel, set, rep]),
    protection: protection([set, rep]),
  };
}

function isTrickMode(set: XmlElement): boolean {
  return [...childrenNamed(set, "EssentialProperty"), ...childrenNamed(set, "SupplementalProperty")]
    .some((p) => p.attributes.get("schemeIdUri") === "http://dashif.org/guidelines/trickmode");
}

/**
 * Parses MPD text fetched from `url` into an {@linkcode Mpd}. Throws 502
 * `manifest_invalid` for anything that is not a usable MPD.
 *
 * @example
 * ```ts
 * const mpd = parseMpd(text, "https://cdn.example/movie/manifest.mpd");
 * ```
 */
export function parseMpd(text: string, url: string): Mpd {
  const root = parseXml(text);
  if (root.name !== "MPD") throw invalid("document is not an MPD");
  const at = (name: string) => root.attributes.get(name);
  const seconds = (name: string) => (at(name) === undefined ? null : parseDuration(at(name)!));
  const mpdBase = resolveBase(root, url);
  const dynamic = at("type") === "dynamic";
  const mediaPresentationDuration = seconds("mediaPresentationDuration");
  const nodes = childrenNamed(root, "Period");
  if (nodes.length === 0) throw invalid("MPD has no Period");
  const starts: (number | null)[] = [];
  const durations = nodes.map((p) => {
    const d = p.attributes.get("duration");
    return d === undefined ? null : parseDuration(d);
  });
  nodes.forEach((p, i) => {
    const s = p.attributes.get("start");
    if (s !== undefined) starts.push(parseDuration(s));
    else if (i === 0) starts.push(0);
    else {
      const prev = starts[i - 1];
      const prevDuration = durations[i - 1];
      starts.push(prev !== null && prevDuration !== null ? prev + prevDuration : null);
    }
  });
  const periods = nodes.map((node, i): Period => {
    const start = starts[i];
    if (start === null) throw invalid("MPD Period start cannot be determined");
    const next = starts[i + 1] ?? null;
    const duration = durations[i] ??
      (next !== null
        ? next - start
        : mediaPresentationDuration !== null
        ? mediaPresentationDuration - start
        : null);
    const base = resolveBase(node, mpdBase);
    const sets = childrenNamed(node, "AdaptationSet").filter((s) => !isTrickMode(s));
    return {
      id: node.attributes.get("id") ?? null,
      start,
      duration,
      representations: sets.flatMap((set, index) =>
        childrenNamed(set, "Representation").map((rep) =>
          representation([node], set, rep, index, base)
        )
      ),
    };
  });
  return {
    url,
    dynamic,
    availabilityStartTime: at("availabilityStartTime") === undefined
      ? null
      : parseDateTime(at("availabilityStartTime")!),
    timeShiftBufferDepth: seconds("timeShiftBufferDepth"),
    mediaPresentationDuration,
    minimumUpdatePeriod: seconds("minimumUpdatePeriod"),
    periods,
  };
}
