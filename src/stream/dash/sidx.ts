/**
 * The Segment Index box (`sidx`, ISO/IEC 14496-12 §8.16.3) that SegmentBase
 * representations point at with `indexRange`: it lists each subsegment's size and
 * duration, which become `EXT-X-BYTERANGE` segments.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import type { ByteRange, MediaSegment, PeriodTrack } from "./segments.ts";

function invalid(message: string): ProxyError {
  return new ProxyError(502, "manifest_invalid", message);
}

/**
 * Turns the `sidx` bytes fetched for `track.index` into the track's media segments.
 * `bytes` must start at `track.index.range.offset`.
 *
 * @example
 * ```ts
 * const full = applySegmentIndex(track, sidxBytes, 1);
 * ```
 */
export function applySegmentIndex(
  track: PeriodTrack,
  bytes: Uint8Array,
  startNumber: number,
): PeriodTrack {
  if (track.index === null) return track;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  // Skip boxes before the sidx (an indexRange may start at a styp or free box).
  while (true) {
    if (at + 8 > bytes.byteLength) throw invalid("segment index holds no sidx box");
    const size = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === "sidx") break;
    if (size < 8) throw invalid("segment index box is malformed");
    at += size;
  }
  const boxStart = at;
  const boxSize = view.getUint32(at);
  if (boxSize < 32 || boxStart + boxSize > bytes.byteLength) {
    throw invalid("segment index box is truncated");
  }
  const version = bytes[at + 8];
  at += 12 + 4; // header, version/flags, reference_ID
  const timescale = view.getUint32(at);
  at += 4;
  let earliest: number;
  let firstOffset: number;
  if (version === 0) {
    earliest = view.getUint32(at);
    firstOffset = view.getUint32(at + 4);
    at += 8;
  } else {
    earliest = Number(view.getBigUint64(at));
    firstOffset = Number(view.getBigUint64(at + 8));
    at += 16;
  }
  const count = view.getUint16(at + 2);
  at += 4;
  if (timescale === 0 || at + count * 12 > boxStart + boxSize) {
    throw invalid("segment index box is malformed");
  }
  // The anchor is the first byte after the sidx box (§8.16.3.3).
  let offset = track.index.range.offset + boxStart + boxSize + firstOffset;
  let time = earliest;
  const segments: MediaSegment[] = [];
  for (let i = 0; i < count; i++, at += 12) {
    const reference = view.getUint32(at);
    if (reference >>> 31 === 1) throw invalid("hierarchical segment indexes are not supported");
    const size = reference & 0x7fffffff;
    const duration = view.getUint32(at + 4);
    const range: ByteRange = { offset, length: size };
    segments.push({
      url: track.index.url,
      range,
      duration,
      timescale,
      number: startNumber + i,
      time,
    });
    offset += size;
    time += duration;
  }
  return { init: track.init, segments, index: null };
}
