/**
 * Renditions: what one HLS media playlist follows across the periods of an MPD, with a
 * stable, URL-safe name derived from the Representation id.
 * @module
 */
import type { Mpd, Representation } from "./model.ts";

/** A track the HLS side exposes, followed through every period. */
export interface Rendition {
  /** `video-<id>`, `audio-<id>` or `subs-<id>`, reduced to `[A-Za-z0-9._-]`. */
  readonly name: string;
  readonly type: "video" | "audio" | "text";
  /** The representation that defines it (in the first period that has its type). */
  readonly representation: Representation;
  /** The matching representation in each period, or null where it has none. */
  readonly perPeriod: readonly (Representation | null)[];
}

const PREFIX = { video: "video", audio: "audio", text: "subs" } as const;

/**
 * The HLS-safe name of a representation: the id with anything outside `[A-Za-z0-9._-]`
 * replaced by `_`, prefixed by its type.
 *
 * @example
 * ```ts
 * renditionName("video", "1080p/avc"); // "video-1080p_avc"
 * ```
 */
export function renditionName(type: "video" | "audio" | "text", id: string): string {
  return `${PREFIX[type]}-${id.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

function byBandwidth(a: Representation, b: Representation): number {
  return a.bandwidth - b.bandwidth;
}

/** Finds the counterpart of `rep` in another period: same id, else same rank by bandwidth. */
function counterpart(rep: Representation, rank: number, candidates: Representation[]) {
  const same = candidates.find((c) => c.id === rep.id);
  if (same) return same;
  const sameLanguage = candidates.filter((c) => c.lang === rep.lang);
  const pool = sameLanguage.length ? sameLanguage : candidates;
  return pool.length ? pool[Math.min(rank, pool.length - 1)] : null;
}

/**
 * Lists the renditions of an MPD: one per video, audio and WebVTT representation of the
 * first period holding each type, matched into later periods by id (then by rank).
 *
 * @example
 * ```ts
 * const names = listRenditions(mpd).map((r) => r.name);
 * ```
 */
export function listRenditions(mpd: Mpd): Rendition[] {
  const renditions: Rendition[] = [];
  const used = new Set<string>();
  for (const type of ["video", "audio", "text"] as const) {
    const perPeriod = mpd.periods.map((p) =>
      p.representations.filter((r) => r.type === type).sort(byBandwidth)
    );
    const first = perPeriod.find((list) => list.length > 0);
    if (!first) continue;
    first.forEach((rep, rank) => {
      let name = renditionName(type, rep.id);
      for (let i = 2; used.has(name); i++) name = `${renditionName(type, rep.id)}-${i}`;
      used.add(name);
      renditions.push({
        name,
        type,
        representation: rep,
        perPeriod: perPeriod.map((list) => list.includes(rep) ? rep : counterpart(rep, rank, list)),
      });
    });
  }
  return renditions;
}
