/**
 * Reading ISO BMFF boxes (ISO/IEC 14496-12 §4.2): 32-bit sizes, 64-bit `largesize`, size 0
 * ("to the end of the file"), `uuid` types and full-box version and flags. Pure functions
 * over bytes; nothing is copied.
 * @module
 */
import { ProxyError } from "../../../errors/mod.ts";

/** One box found in a buffer: its type and where its header and body lie. */
export interface Box {
  /** The four-character type (`moof`, `senc`, …). */
  readonly type: string;
  /** Offset of the box's first byte (its size field). */
  readonly start: number;
  /** Size of the header: 8, 16 with `largesize`, plus 16 for a `uuid` type. */
  readonly headerSize: number;
  /** Offset just past the box; `Infinity` for a size-0 box read with `open` allowed. */
  readonly end: number;
}

/** A 502 `segment_invalid` with a message naming what is wrong. */
export function invalidSegment(message: string): ProxyError {
  return new ProxyError(502, "segment_invalid", message);
}

/** The four characters at `at` as a string. */
export function fourCc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

/** Writes a four-character code at `at`. */
export function writeFourCc(bytes: Uint8Array, at: number, code: string): void {
  for (let i = 0; i < 4; i++) bytes[at + i] = code.charCodeAt(i);
}

/** Big-endian unsigned 32-bit integer at `at`. */
export function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** Big-endian unsigned 16-bit integer at `at`. */
export function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

/** Big-endian unsigned 64-bit integer at `at`; throws past 2^53 (no real file is that big). */
export function u64(bytes: Uint8Array, at: number): number {
  const value = u32(bytes, at) * 0x1_0000_0000 + u32(bytes, at + 4);
  if (!Number.isSafeInteger(value)) throw invalidSegment("a 64-bit field is out of range");
  return value;
}

/** Writes a big-endian unsigned 32-bit integer at `at`. */
export function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = value >>> 16;
  bytes[at + 2] = value >>> 8;
  bytes[at + 3] = value;
}

/**
 * Reads the header of the box at `at`, with `limit` the end of the bytes available. Returns
 * `null` when the header itself is not complete yet (a stream needs more bytes). A size-0
 * box extends to `limit` when `open` is false, else its end is `Infinity` (the end of the
 * stream). Throws 502 `segment_invalid` for a size smaller than its header.
 *
 * @example
 * ```ts
 * const box = readBoxHeader(bytes, 0, bytes.length); // { type: "ftyp", start: 0, headerSize: 8, end: 24 }
 * ```
 */
export function readBoxHeader(
  bytes: Uint8Array,
  at: number,
  limit: number,
  open = false,
): Box | null {
  if (limit - at < 8) return null;
  const size = u32(bytes, at);
  const type = fourCc(bytes, at + 4);
  let headerSize = 8;
  let end: number;
  if (size === 1) {
    if (limit - at < 16) return null;
    end = at + u64(bytes, at + 8);
    headerSize = 16;
  } else if (size === 0) {
    end = open ? Infinity : limit;
  } else {
    end = at + size;
  }
  if (type === "uuid") {
    if (limit - at < headerSize + 16) return null;
    headerSize += 16;
  }
  if (end - at < headerSize) {
    throw invalidSegment(`box '${printable(type)}' is smaller than its header`);
  }
  return { type, start: at, headerSize, end };
}

/** The type as shown in messages: non-printable characters replaced. */
function printable(type: string): string {
  return type.replace(/[^\x20-\x7e]/g, "?");
}

/**
 * The boxes laid end to end in `[start, end)` (the children of a container, or a whole
 * buffer). Throws 502 `segment_invalid` when one overruns `end`.
 *
 * @example
 * ```ts
 * for (const box of childBoxes(bytes, moof.start + moof.headerSize, moof.end)) console.log(box.type);
 * ```
 */
export function childBoxes(bytes: Uint8Array, start: number, end: number): Box[] {
  const boxes: Box[] = [];
  let at = start;
  while (at < end) {
    const box = readBoxHeader(bytes, at, end);
    if (box === null || box.end > end) {
      throw invalidSegment(`a box inside '${boxPath(bytes, start)}' overruns its parent`);
    }
    boxes.push(box);
    at = box.end;
  }
  return boxes;
}

function boxPath(bytes: Uint8Array, childStart: number): string {
  return childStart >= 8 ? printable(fourCc(bytes, childStart - 4)) : "file";
}

/** The children of a container box. */
export function childrenOf(bytes: Uint8Array, box: Box): Box[] {
  return childBoxes(bytes, box.start + box.headerSize, box.end);
}

/** The first child of `box` of type `type`. */
export function findChild(bytes: Uint8Array, box: Box, type: string): Box | undefined {
  return childrenOf(bytes, box).find((child) => child.type === type);
}

/** Follows a path of child types from `box` (`["mdia", "minf", "stbl"]`). */
export function findPath(bytes: Uint8Array, box: Box, path: readonly string[]): Box | undefined {
  let current: Box | undefined = box;
  for (const type of path) {
    if (current === undefined) return undefined;
    current = findChild(bytes, current, type);
  }
  return current;
}

/** A full box's version, flags and the offset of what follows them. */
export interface FullBox {
  readonly version: number;
  readonly flags: number;
  /** Offset of the first byte after version and flags. */
  readonly body: number;
}

/**
 * Reads the version and flags of a full box (ISO/IEC 14496-12 §4.2.2).
 *
 * @example
 * ```ts
 * const { version, flags, body } = readFullBox(bytes, tfhd);
 * ```
 */
export function readFullBox(bytes: Uint8Array, box: Box): FullBox {
  const at = box.start + box.headerSize;
  if (box.end - at < 4) throw invalidSegment(`box '${box.type}' is too short`);
  return { version: bytes[at], flags: u32(bytes, at) & 0xffffff, body: at + 4 };
}

/**
 * Turns a box into a `free` box of the same size with its body zeroed: players skip it,
 * and every offset that points past it (trun data offsets, `saio`, `sidx` sizes) stays valid.
 */
export function blankBox(bytes: Uint8Array, box: Box): void {
  writeFourCc(bytes, box.start + 4, "free");
  // A `largesize` stays where it is; the rest of the body (a `uuid` type too) is zeroed.
  const bodyStart = box.start + (u32(bytes, box.start) === 1 ? 16 : 8);
  bytes.fill(0, bodyStart, box.end);
}
