/**
 * Expanding a representation's addressing (ISO/IEC 23009-1 §5.3.9) into a concrete list of
 * segments for one period, including the live availability window (§5.3.9.5 and DASH-IF
 * IOP §4.3: availabilityStartTime + period start + segment end ≤ now, and segment end >
 * now − timeShiftBufferDepth).
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import type { Mpd, Period, Representation, SegmentInfo } from "./model.ts";

/** A byte range: `length` bytes from `offset`. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** One media segment, times in the representation's timescale. */
export interface MediaSegment {
  readonly url: string;
  readonly range: ByteRange | null;
  readonly duration: number;
  readonly timescale: number;
  /** The DASH segment number; stable across refreshes of a live MPD. */
  readonly number: number;
  readonly time: number;
}

/** A representation's segments within one period. */
export interface PeriodTrack {
  readonly init: { readonly url: string; readonly range: ByteRange | null } | null;
  readonly segments: readonly MediaSegment[];
  /** SegmentBase with an index: the `sidx` box to fetch before segments are known. */
  readonly index: { readonly url: string; readonly range: ByteRange } | null;
}

/** The most segments one representation may expand to. */
export const MAX_SEGMENTS = 200_000;

/** The most segments a live window lists (the newest are kept). */
export const MAX_LIVE_SEGMENTS = 5_000;

function invalid(message: string): ProxyError {
  return new ProxyError(502, "manifest_invalid", message);
}

/** Parses a DASH byte range `first-last` (both inclusive). */
export function parseByteRange(value: string): ByteRange {
  const m = /^\s*(\d+)-(\d+)\s*$/.exec(value);
  if (!m || Number(m[2]) < Number(m[1])) throw invalid("MPD holds an invalid byte range");
  return { offset: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1 };
}

const IDENTIFIER = /\$(RepresentationID|Number|Time|Bandwidth|SubNumber)?(?:%0(\d{1,2})d)?\$/g;

/**
 * Fills a SegmentTemplate string (§5.3.9.4.4): `$RepresentationID$`, `$Number$`, `$Time$`,
 * `$Bandwidth$` with optional `%0<width>d`, and `$$` for a literal dollar.
 *
 * @example
 * ```ts
 * fillTemplate("v-$RepresentationID$-$Number%05d$.m4s", { id: "hd", number: 7 }); // "v-hd-00007.m4s"
 * ```
 */
export function fillTemplate(
  template: string,
  values: { id: string; number?: number; time?: number; bandwidth?: number },
): string {
  return template.replace(IDENTIFIER, (_all, name: string | undefined, width?: string) => {
    if (name === undefined) return "$";
    if (name === "RepresentationID") return values.id;
    const n = name === "Number"
      ? values.number
      : name === "Time"
      ? values.time
      : name === "Bandwidth"
      ? values.bandwidth
      : undefined;
    if (n === undefined) throw invalid(`MPD template uses $${name}$ where it has no value`);
    return width ? String(n).padStart(Number(width), "0") : String(n);
  });
}

function absolute(reference: string, base: string): string {
  try {
    return new URL(reference, base).href;
  } catch {
    throw invalid("MPD holds an invalid segment URL");
  }
}

interface Slot {
  readonly time: number;
  readonly duration: number;
  readonly number: number;
}

/** The end of the period in representation time, or null when open-ended. */
function periodEnd(mpd: Mpd, period: Period, info: SegmentInfo, now: number): number | null {
  let seconds = period.duration;
  if (mpd.dynamic && mpd.availabilityStartTime !== null) {
    const elapsed = (now - mpd.availabilityStartTime) / 1000 - period.start;
    seconds = seconds === null ? elapsed : Math.min(seconds, elapsed);
  }
  return seconds === null ? null : seconds * info.timescale + info.presentationTimeOffset;
}

/**
 * Expands a SegmentTimeline up to `end`. Repetitions that end before `from` (the live
 * window's start) are skipped arithmetically, numbers included, so a long-running live
 * timeline with `r="-1"` costs only its window.
 */
function timelineSlots(info: SegmentInfo, end: number | null, from = -Infinity): Slot[] {
  const slots: Slot[] = [];
  const entries = info.timeline!;
  let time = 0;
  let number = info.startNumber;
  entries.forEach((s, i) => {
    if (s.t !== null) time = s.t;
    let repeat = s.r;
    if (repeat < 0) {
      const next = entries[i + 1]?.t ?? end;
      if (next === null || next === undefined) throw invalid("MPD r=-1 has no end to repeat to");
      repeat = Math.ceil((next - time) / s.d) - 1;
    }
    const skipped = Math.min(Math.max(0, Math.floor((from - time) / s.d)), repeat + 1);
    time += skipped * s.d;
    number += skipped;
    repeat -= skipped;
    if (slots.length + repeat >= MAX_SEGMENTS) throw invalid("MPD describes too many segments");
    for (let k = 0; k <= repeat; k++) {
      slots.push({ time, duration: s.d, number: number++ });
      time += s.d;
    }
  });
  return slots;
}

function durationSlots(mpd: Mpd, period: Period, info: SegmentInfo, now: number): Slot[] {
  const d = info.duration!;
  let first = 0;
  let count: number;
  const length = period.duration === null ? null : period.duration * info.timescale;
  if (mpd.dynamic && mpd.availabilityStartTime !== null) {
    const elapsed = ((now - mpd.availabilityStartTime) / 1000 - period.start) * info.timescale;
    let last = Math.floor(elapsed / d) - 1;
    if (length !== null) last = Math.min(last, Math.ceil(length / d - 1e-9) - 1);
    if (mpd.timeShiftBufferDepth !== null) {
      first = Math.max(0, Math.floor((elapsed - mpd.timeShiftBufferDepth * info.timescale) / d));
    }
    first = Math.max(first, last - MAX_LIVE_SEGMENTS + 1);
    count = Math.max(0, last - first + 1);
  } else {
    if (length === null) throw invalid("MPD period duration is unknown");
    count = Math.ceil(length / d - 1e-9);
  }
  if (info.endNumber !== null) {
    count = Math.min(count, info.endNumber - info.startNumber - first + 1);
  }
  if (count > MAX_SEGMENTS) throw invalid("MPD describes too many segments");
  const slots: Slot[] = [];
  for (let k = first; k < first + count; k++) {
    slots.push({
      time: k * d + info.presentationTimeOffset,
      duration: length !== null && (k + 1) * d > length ? length - k * d : d,
      number: info.startNumber + k,
    });
  }
  return slots;
}

/** The earliest representation time a live window can list (−∞ for static MPDs). */
function windowStart(mpd: Mpd, period: Period, info: SegmentInfo, now: number): number {
  if (!mpd.dynamic || mpd.availabilityStartTime === null) return -Infinity;
  const elapsed = (now - mpd.availabilityStartTime) / 1000 - period.start;
  const oldest = mpd.timeShiftBufferDepth === null
    ? -Infinity
    : (elapsed - mpd.timeShiftBufferDepth) * info.timescale + info.presentationTimeOffset;
  // Without a buffer depth the window is bounded by count; keep a generous margin of time.
  const byCount = (elapsed * info.timescale + info.presentationTimeOffset) -
    MAX_LIVE_SEGMENTS * Math.max(...info.timeline!.map((s) => s.d)) * 2;
  return Math.max(oldest, mpd.timeShiftBufferDepth === null ? byCount : -Infinity);
}

/** Keeps the slots a live client may fetch now: available and inside the time-shift buffer. */
function liveWindow(mpd: Mpd, period: Period, info: SegmentInfo, slots: Slot[], now: number) {
  if (!mpd.dynamic || mpd.availabilityStartTime === null) return slots;
  const start = mpd.availabilityStartTime + period.start * 1000;
  const endOf = (s: Slot) =>
    start + ((s.time - info.presentationTimeOffset + s.duration) / info.timescale) * 1000;
  const oldest = mpd.timeShiftBufferDepth === null
    ? -Infinity
    : now - mpd.timeShiftBufferDepth * 1000;
  const kept = slots.filter((s) => endOf(s) <= now && endOf(s) > oldest);
  return kept.length > MAX_LIVE_SEGMENTS ? kept.slice(-MAX_LIVE_SEGMENTS) : kept;
}

/**
 * The segments of `rep` in `period` at wall-clock `now` (epoch ms; used for live MPDs).
 *
 * @example
 * ```ts
 * const track = expandSegments(mpd, mpd.periods[0], rep, Date.now());
 * ```
 */
export function expandSegments(
  mpd: Mpd,
  period: Period,
  rep: Representation,
  now: number,
): PeriodTrack {
  const info = rep.segments;
  const fill = (t: string, s?: Slot) =>
    absolute(
      fillTemplate(t, { id: rep.id, number: s?.number, time: s?.time, bandwidth: rep.bandwidth }),
      rep.baseUrl,
    );
  // A whole-file segment lasts the period; milliseconds at least, for an exact EXTINF.
  const wholeScale = Math.max(info.timescale, 1000);
  const whole = (): MediaSegment[] => [{
    url: rep.baseUrl,
    range: null,
    duration: Math.round((period.duration ?? 0) * wholeScale),
    timescale: wholeScale,
    number: info.startNumber,
    time: info.presentationTimeOffset,
  }];
  switch (info.kind) {
    case "template": {
      if (info.media === null) throw invalid("MPD SegmentTemplate has no media attribute");
      const slots = info.timeline
        ? liveWindow(
          mpd,
          period,
          info,
          timelineSlots(
            info,
            periodEnd(mpd, period, info, now),
            windowStart(mpd, period, info, now),
          ),
          now,
        )
        : info.duration !== null
        ? durationSlots(mpd, period, info, now)
        : null;
      if (slots === null) throw invalid("MPD SegmentTemplate has neither duration nor timeline");
      return {
        init: info.initialization === null ? null : { url: fill(info.initialization), range: null },
        segments: slots.map((s) => ({
          url: fill(info.media!, s),
          range: null,
          duration: s.duration,
          timescale: info.timescale,
          number: s.number,
          time: s.time,
        })),
        index: null,
      };
    }
    case "list": {
      let time = info.presentationTimeOffset;
      const durations = info.timeline ? timelineSlots(info, null) : null;
      const slots = info.segmentUrls.map(
        (u, i): Slot & { url: string; range: ByteRange | null } => {
          const duration = durations?.[i]?.duration ?? info.duration;
          if (duration === null || duration === undefined) {
            throw invalid("MPD SegmentList has no segment duration");
          }
          const slot = {
            time: durations?.[i]?.time ?? time,
            duration,
            number: info.startNumber + i,
            url: u.media === null ? rep.baseUrl : absolute(u.media, rep.baseUrl),
            range: u.mediaRange === null ? null : parseByteRange(u.mediaRange),
          };
          time = slot.time + duration;
          return slot;
        },
      );
      const kept = liveWindow(mpd, period, info, slots, now) as typeof slots;
      return {
        init: info.initialization === null && info.initializationRange === null ? null : {
          url: info.initialization === null
            ? rep.baseUrl
            : absolute(info.initialization, rep.baseUrl),
          range: info.initializationRange === null
            ? null
            : parseByteRange(info.initializationRange),
        },
        segments: kept.map((s) => ({ ...s, timescale: info.timescale })),
        index: null,
      };
    }
    case "base": {
      const index = info.indexRange === null ? null : parseByteRange(info.indexRange);
      const initRange = info.initializationRange !== null
        ? parseByteRange(info.initializationRange)
        : index !== null && index.offset > 0
        ? { offset: 0, length: index.offset }
        : null;
      const initUrl = info.initialization === null
        ? rep.baseUrl
        : absolute(info.initialization, rep.baseUrl);
      return {
        init: initRange === null && info.initialization === null
          ? null
          : { url: initUrl, range: initRange },
        segments: index === null ? whole() : [],
        index: index === null ? null : { url: rep.baseUrl, range: index },
      };
    }
    case "none":
      return { init: null, segments: whole(), index: null };
  }
}
