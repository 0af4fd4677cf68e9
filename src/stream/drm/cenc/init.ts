/**
 * The protection of each track as the `moov` of an init segment describes it (ISO/IEC
 * 23001-7 §8: `sinf` → `frma`, `schm`, `schi`/`tenc`; `seig` sample groups, §6), and the
 * rewrite that makes the init segment clear: `encv`/`enca` back to their original format,
 * protection boxes turned into `free` boxes of the same size.
 * @module
 */
import {
  blankBox,
  type Box,
  childrenOf,
  findChild,
  findPath,
  fourCc,
  invalidSegment,
  readFullBox,
  u16,
  u32,
  writeFourCc,
} from "./boxes.ts";

/** How the samples of a track (or of a sample group) are protected. */
export interface Protection {
  /** The `schm` scheme type: `cenc`, `cbcs` (decrypted) or another (refused). */
  readonly scheme: string;
  readonly isProtected: boolean;
  /** Bytes of IV per sample in `senc`: 0 (constant IV), 8 or 16. */
  readonly ivSize: number;
  /** The key ID (16 bytes). */
  readonly kid: Uint8Array;
  /** The constant IV when `ivSize` is 0 (cbcs), else null. */
  readonly constantIv: Uint8Array | null;
  /** Encrypted 16-byte blocks of the pattern (0 with `skipByteBlock` 0: no pattern). */
  readonly cryptByteBlock: number;
  /** Clear 16-byte blocks of the pattern. */
  readonly skipByteBlock: number;
}

/** What fragments of one track need from the init segment. */
export interface TrackInfo {
  readonly trackId: number;
  /** `trex` defaults, used when `tfhd` carries none. */
  readonly defaultSampleDescriptionIndex: number;
  readonly defaultSampleSize: number;
  /** Protection per sample description (index 0 is description 1); null for a clear one. */
  readonly descriptions: readonly (Protection | null)[];
  /** `seig` sample group descriptions of the track's `stbl` (group indexes 1…0x10000). */
  readonly groups: readonly Protection[];
}

/** The tracks of an init segment, by track ID. */
export interface InitInfo {
  readonly tracks: ReadonlyMap<number, TrackInfo>;
}

/** Sample entry types whose fields are laid out as a VisualSampleEntry (§12.1.3). */
const VISUAL_ENTRY_BODY = 78;
/** AudioSampleEntry (§12.2.3) body before its child boxes, for sound versions 0, 1, 2. */
const AUDIO_ENTRY_BODY = [28, 44, 64];

/** The offset of the first child box of a sample entry. */
function entryChildren(bytes: Uint8Array, entry: Box): number {
  const body = entry.start + entry.headerSize;
  if (entry.type === "encv") return body + VISUAL_ENTRY_BODY;
  if (entry.type === "enca") {
    const version = u16(bytes, body + 8);
    const size = AUDIO_ENTRY_BODY[version];
    if (size === undefined) throw invalidSegment("audio sample entry has an unknown version");
    return body + size;
  }
  throw invalidSegment(`protected sample entry '${entry.type}' is not supported`);
}

/**
 * Reads the protection fields shared by `tenc` (§8.2.2) and `seig` entries (§6): a reserved
 * byte, the pattern byte, isProtected, the IV size, the KID and an optional constant IV.
 */
function readProtectionFields(
  bytes: Uint8Array,
  at: number,
  end: number,
  scheme: string,
  pattern: boolean,
): Protection {
  if (end - at < 20) throw invalidSegment("protection box is too short");
  const isProtected = bytes[at + 2] !== 0;
  const ivSize = bytes[at + 3];
  if (ivSize !== 0 && ivSize !== 8 && ivSize !== 16) {
    throw invalidSegment("per-sample IV size must be 0, 8 or 16");
  }
  const kid = bytes.slice(at + 4, at + 20);
  let constantIv: Uint8Array | null = null;
  if (isProtected && ivSize === 0) {
    const size = bytes[at + 20];
    if ((size !== 8 && size !== 16) || at + 21 + size > end) {
      throw invalidSegment("constant IV is missing or malformed");
    }
    constantIv = bytes.slice(at + 21, at + 21 + size);
  }
  return {
    scheme,
    isProtected,
    ivSize,
    kid,
    constantIv,
    cryptByteBlock: pattern ? bytes[at + 1] >> 4 : 0,
    skipByteBlock: pattern ? bytes[at + 1] & 0xf : 0,
  };
}

/** The protection of one encrypted sample entry, from its `sinf`. */
function readSinf(bytes: Uint8Array, entry: Box): { protection: Protection; format: string } {
  const sinf = childBoxes(bytes, entry).find((b) => b.type === "sinf");
  if (!sinf) throw invalidSegment("protected sample entry has no 'sinf' box");
  const frma = findChild(bytes, sinf, "frma");
  const schm = findChild(bytes, sinf, "schm");
  const tenc = findPath(bytes, sinf, ["schi", "tenc"]);
  if (!frma || !schm || !tenc) throw invalidSegment("'sinf' lacks 'frma', 'schm' or 'tenc'");
  const format = fourCc(bytes, frma.start + frma.headerSize);
  const scheme = fourCc(bytes, readFullBox(bytes, schm).body);
  const full = readFullBox(bytes, tenc);
  return {
    format,
    protection: readProtectionFields(bytes, full.body, tenc.end, scheme, full.version > 0),
  };
}

function childBoxes(bytes: Uint8Array, entry: Box): Box[] {
  const at = entryChildren(bytes, entry);
  return at >= entry.end ? [] : childrenOf(bytes, { ...entry, headerSize: at - entry.start });
}

/** The sample entries of an `stsd` box (§8.5.2: a full box with an entry count). */
function sampleEntries(bytes: Uint8Array, stsd: Box): Box[] {
  const { body } = readFullBox(bytes, stsd);
  return childrenOf(bytes, { ...stsd, headerSize: body + 4 - stsd.start });
}

/** `seig` entries of an `sgpd` box (§8.9.3), or null when it groups something else. */
export function readSeigGroups(bytes: Uint8Array, sgpd: Box, scheme: string): Protection[] | null {
  const { version, body } = readFullBox(bytes, sgpd);
  if (fourCc(bytes, body) !== "seig") return null;
  let at = body + 4;
  const defaultLength = version === 1 ? u32(bytes, at) : 20;
  if (version === 1) at += 4;
  if (version >= 2) at += 4;
  const count = u32(bytes, at);
  at += 4;
  const groups: Protection[] = [];
  for (let i = 0; i < count; i++) {
    let length = defaultLength;
    if (version === 1 && defaultLength === 0) {
      length = u32(bytes, at);
      at += 4;
    }
    if (at + length > sgpd.end) throw invalidSegment("'sgpd' entry overruns its box");
    groups.push(readProtectionFields(bytes, at, at + length, scheme, true));
    at += length;
  }
  return groups;
}

/** Whether an `sbgp` box (§8.9.2) maps samples to `seig` groups. */
export function isSeigGrouping(bytes: Uint8Array, box: Box): boolean {
  return fourCc(bytes, readFullBox(bytes, box).body) === "seig";
}

function trackId(bytes: Uint8Array, trak: Box): number {
  const tkhd = findChild(bytes, trak, "tkhd");
  if (!tkhd) throw invalidSegment("'trak' has no 'tkhd'");
  const { version, body } = readFullBox(bytes, tkhd);
  return u32(bytes, body + (version === 1 ? 16 : 8));
}

/** The number of samples the `stbl` itself describes (an unfragmented track has some). */
function stblSampleCount(bytes: Uint8Array, stbl: Box): number {
  const stsz = findChild(bytes, stbl, "stsz") ?? findChild(bytes, stbl, "stz2");
  return stsz ? u32(bytes, readFullBox(bytes, stsz).body + 4) : 0;
}

function trexDefaults(bytes: Uint8Array, moov: Box): Map<number, [number, number]> {
  const defaults = new Map<number, [number, number]>();
  const mvex = findChild(bytes, moov, "mvex");
  for (const trex of mvex ? childrenOf(bytes, mvex) : []) {
    if (trex.type !== "trex") continue;
    const { body } = readFullBox(bytes, trex);
    // track_ID, default_sample_description_index, default_sample_duration, default_sample_size
    defaults.set(u32(bytes, body), [u32(bytes, body + 4), u32(bytes, body + 12)]);
  }
  return defaults;
}

/**
 * Reads the protection of every track of a `moov` box. Throws 502 `segment_invalid` for a
 * protected track whose samples live in the `moov` itself (an unfragmented file).
 *
 * @example
 * ```ts
 * const init = readInit(bytes, moov);
 * init.tracks.get(1)?.descriptions[0]?.scheme; // "cenc"
 * ```
 */
export function readInit(bytes: Uint8Array, moov: Box): InitInfo {
  const defaults = trexDefaults(bytes, moov);
  const tracks = new Map<number, TrackInfo>();
  for (const trak of childrenOf(bytes, moov)) {
    if (trak.type !== "trak") continue;
    const id = trackId(bytes, trak);
    const stbl = findPath(bytes, trak, ["mdia", "minf", "stbl"]);
    const stsd = stbl && findChild(bytes, stbl, "stsd");
    if (!stbl || !stsd) throw invalidSegment("'trak' has no sample descriptions");
    const descriptions = sampleEntries(bytes, stsd).map((entry) =>
      entry.type.startsWith("enc") ? readSinf(bytes, entry).protection : null
    );
    const scheme = descriptions.find((d) => d !== null)?.scheme ?? "cenc";
    const groups: Protection[] = [];
    for (const box of childrenOf(bytes, stbl)) {
      if (box.type === "sgpd") groups.push(...(readSeigGroups(bytes, box, scheme) ?? []));
    }
    if (descriptions.some((d) => d !== null) && stblSampleCount(bytes, stbl) > 0) {
      throw invalidSegment("protected samples outside movie fragments are not supported");
    }
    const [index, size] = defaults.get(id) ?? [1, 0];
    tracks.set(id, {
      trackId: id,
      defaultSampleDescriptionIndex: index,
      defaultSampleSize: size,
      descriptions,
      groups,
    });
  }
  return { tracks };
}

/** Sample-table boxes that only carry protection data. */
const PROTECTION_BOXES = new Set(["senc", "saiz", "saio"]);

/**
 * Reads the init's protection, then rewrites the `moov` in place into a clear one of the
 * same size: each `encv`/`enca` entry takes its original format back from `frma`, and
 * `sinf`, `pssh`, `senc`, `saiz`, `saio` and `seig` grouping boxes become `free` boxes.
 *
 * @example
 * ```ts
 * const init = clearInit(bytes, moov); // bytes now hold avc1/mp4a entries
 * ```
 */
export function clearInit(bytes: Uint8Array, moov: Box): InitInfo {
  const info = readInit(bytes, moov);
  for (const box of childrenOf(bytes, moov)) {
    if (box.type === "pssh") blankBox(bytes, box);
    if (box.type !== "trak") continue;
    const stbl = findPath(bytes, box, ["mdia", "minf", "stbl"])!;
    for (const child of childrenOf(bytes, stbl)) {
      const grouping = child.type === "sgpd" || child.type === "sbgp";
      if (PROTECTION_BOXES.has(child.type) || (grouping && isSeigGrouping(bytes, child))) {
        blankBox(bytes, child);
      }
    }
    for (const entry of sampleEntries(bytes, findChild(bytes, stbl, "stsd")!)) {
      if (!entry.type.startsWith("enc")) continue;
      const { format } = readSinf(bytes, entry);
      for (const child of childBoxes(bytes, entry)) {
        if (child.type === "sinf") blankBox(bytes, child);
      }
      writeFourCc(bytes, entry.start + 4, format);
    }
  }
  return info;
}
