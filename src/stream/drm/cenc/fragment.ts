/**
 * Where the encrypted samples of a movie fragment are and how each is protected: `tfhd` and
 * `trun` give sample offsets and sizes (ISO/IEC 14496-12 §8.8.7, §8.8.8), `senc` — or
 * `saiz`/`saio` auxiliary information — gives each sample's IV and subsamples (ISO/IEC
 * 23001-7 §7), `sbgp`/`sgpd` `seig` groups override the track's defaults (§6).
 * @module
 */
import { type Box, childrenOf, invalidSegment, readFullBox, u16, u32, u64 } from "./boxes.ts";
import { type InitInfo, isSeigGrouping, type Protection, readSeigGroups } from "./init.ts";

/** One protected sample of a fragment, located in the fragment's bytes. */
export interface EncryptedSample {
  /** Offset of the sample's first byte in the buffer given to {@linkcode planFragment}. */
  readonly offset: number;
  readonly size: number;
  readonly protection: Protection;
  /** The 16-byte IV (8-byte IVs padded with zeros, §9.3) or the constant IV. */
  readonly iv: Uint8Array;
  /** `[clear, protected, clear, protected, …]` byte counts, or null for a whole sample. */
  readonly subsamples: readonly number[] | null;
}

/** What decrypting one fragment means: its protected samples and the boxes to blank. */
export interface FragmentPlan {
  readonly samples: EncryptedSample[];
  /** `senc`, `saiz`, `saio`, `seig` groupings and `pssh` boxes: to become `free` boxes. */
  readonly blanks: Box[];
}

/** Where the buffer starts in the file, for `tfhd` base data offsets (absolute). */
export interface FragmentOptions {
  readonly position?: number;
}

// tfhd flags (§8.8.7.1)
const BASE_DATA_OFFSET = 0x1;
const SAMPLE_DESCRIPTION_INDEX = 0x2;
const DEFAULT_DURATION = 0x8;
const DEFAULT_SIZE = 0x10;
const DEFAULT_BASE_IS_MOOF = 0x20000;
// trun flags (§8.8.8.1)
const DATA_OFFSET = 0x1;
const FIRST_SAMPLE_FLAGS = 0x4;
const SAMPLE_DURATION = 0x100;
const SAMPLE_SIZE = 0x200;
const SAMPLE_FLAGS = 0x400;
const SAMPLE_CTS = 0x800;
// senc flags (ISO/IEC 23001-7 §7.2.1)
const USE_SUBSAMPLES = 0x2;

/** The PIFF sample encryption box type (`uuid` a2394f52-5a9b-4f14-a244-6c427c648df4). */
const PIFF_SENC = [0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14, 0xa2, 0x44, 0x6c, 0x42];

function isPiffSenc(bytes: Uint8Array, box: Box): boolean {
  return box.type === "uuid" && PIFF_SENC.every((b, i) => bytes[box.start + 8 + i] === b);
}

interface SampleSpan {
  offset: number;
  size: number;
}

/** The per-sample auxiliary information: IV and subsamples (§7.1, the `senc` entry). */
interface AuxEntry {
  iv: Uint8Array;
  subsamples: number[] | null;
}

function readAuxEntry(
  bytes: Uint8Array,
  at: number,
  end: number,
  ivSize: number,
  withSubsamples: boolean,
): { entry: AuxEntry; next: number } {
  if (at + ivSize > end) throw invalidSegment("sample encryption data is truncated");
  const iv = bytes.subarray(at, at + ivSize);
  at += ivSize;
  let subsamples: number[] | null = null;
  if (withSubsamples) {
    if (at + 2 > end) throw invalidSegment("sample encryption data is truncated");
    const count = u16(bytes, at);
    at += 2;
    if (at + count * 6 > end) throw invalidSegment("subsample entries are truncated");
    subsamples = new Array(count * 2);
    for (let i = 0; i < count; i++) {
      subsamples[2 * i] = u16(bytes, at);
      subsamples[2 * i + 1] = u32(bytes, at + 2);
      at += 6;
    }
  }
  return { entry: { iv, subsamples }, next: at };
}

/** Per-sample group indexes from a `seig` `sbgp` (§8.9.2), expanded to one per sample. */
function groupIndexes(bytes: Uint8Array, sbgp: Box, count: number): Uint32Array {
  const { version, body } = readFullBox(bytes, sbgp);
  let at = body + 4 + (version === 1 ? 4 : 0);
  const entries = u32(bytes, at);
  at += 4;
  const indexes = new Uint32Array(count);
  let sample = 0;
  for (let i = 0; i < entries; i++, at += 8) {
    if (at + 8 > sbgp.end) throw invalidSegment("'sbgp' entries overrun the box");
    const run = u32(bytes, at);
    const index = u32(bytes, at + 4);
    indexes.fill(index, Math.min(sample, count), Math.min(sample + run, count));
    sample += run;
  }
  return indexes;
}

function padIv(iv: Uint8Array): Uint8Array {
  if (iv.length === 16) return iv;
  const padded = new Uint8Array(16);
  padded.set(iv);
  return padded;
}

/** Reads `saiz` + `saio` (§8.7.8, §8.7.9) into aux entries, when there is no `senc`. */
function auxFromSaio(
  bytes: Uint8Array,
  saiz: Box,
  saio: Box,
  base: number,
  truns: readonly number[],
  ivSizes: readonly number[],
): AuxEntry[] {
  const z = readFullBox(bytes, saiz);
  let at = z.body + ((z.flags & 1) !== 0 ? 8 : 0);
  const defaultSize = bytes[at];
  const count = u32(bytes, at + 1);
  at += 5;
  if (count !== ivSizes.length) throw invalidSegment("'saiz' sample count does not match 'trun'");
  if (defaultSize === 0 && at + count > saiz.end) throw invalidSegment("'saiz' is truncated");
  const sizeOf = (i: number) => defaultSize || bytes[at + i];
  const o = readFullBox(bytes, saio);
  let oat = o.body + ((o.flags & 1) !== 0 ? 8 : 0);
  const offsetCount = u32(bytes, oat);
  oat += 4;
  const offsets: number[] = [];
  for (let i = 0; i < offsetCount; i++) {
    offsets.push(o.version === 0 ? u32(bytes, oat) : u64(bytes, oat));
    oat += o.version === 0 ? 4 : 8;
  }
  if (offsetCount !== 1 && offsetCount !== truns.length) {
    throw invalidSegment("'saio' has neither one offset nor one per 'trun'");
  }
  const entries: AuxEntry[] = [];
  let sample = 0;
  for (let t = 0; t < offsetCount; t++) {
    let cursor = base + offsets[t];
    const last = offsetCount === 1 ? count : sample + truns[t];
    for (; sample < last; sample++) {
      const size = sizeOf(sample);
      const { entry } = readAuxEntry(
        bytes,
        cursor,
        cursor + size,
        size === 0 ? 0 : ivSizes[sample],
        size > ivSizes[sample],
      );
      entries.push(entry);
      cursor += size;
    }
  }
  return entries;
}

/**
 * Locates the protected samples of the `moof` at `moof` (its `mdat` must be in `bytes` too)
 * and lists the protection boxes to blank. Throws 502 `segment_invalid` for malformed boxes,
 * sample data outside `bytes`, or a protected track without per-sample information.
 *
 * @example
 * ```ts
 * const plan = planFragment(bytes, moof, init);
 * for (const s of plan.samples) console.log(s.offset, s.size, s.subsamples);
 * ```
 */
export function planFragment(
  bytes: Uint8Array,
  moof: Box,
  init: InitInfo,
  options: FragmentOptions = {},
): FragmentPlan {
  const samples: EncryptedSample[] = [];
  const blanks: Box[] = [];
  let previousEnd = moof.start;
  for (const traf of childrenOf(bytes, moof)) {
    if (traf.type === "pssh") blanks.push(traf);
    if (traf.type !== "traf") continue;
    const boxes = childrenOf(bytes, traf);
    const tfhd = boxes.find((b) => b.type === "tfhd");
    if (!tfhd) throw invalidSegment("'traf' has no 'tfhd'");
    const header = readFullBox(bytes, tfhd);
    const id = u32(bytes, header.body);
    const track = init.tracks.get(id);
    let at = header.body + 4;
    let base = previousEnd;
    if (header.flags & BASE_DATA_OFFSET) {
      base = u64(bytes, at) - (options.position ?? 0);
      at += 8;
    } else if (header.flags & DEFAULT_BASE_IS_MOOF) {
      base = moof.start;
    }
    let descriptionIndex = track?.defaultSampleDescriptionIndex ?? 1;
    if (header.flags & SAMPLE_DESCRIPTION_INDEX) {
      descriptionIndex = u32(bytes, at);
      at += 4;
    }
    if (header.flags & DEFAULT_DURATION) at += 4;
    const defaultSize = header.flags & DEFAULT_SIZE ? u32(bytes, at) : track?.defaultSampleSize;

    // Samples of every trun, in order (§8.8.8.3: a trun without data offset follows the last).
    const spans: SampleSpan[] = [];
    const truns: number[] = [];
    let cursor = base;
    for (const trun of boxes) {
      if (trun.type !== "trun") continue;
      const run = readFullBox(bytes, trun);
      const count = u32(bytes, run.body);
      let p = run.body + 4;
      if (run.flags & DATA_OFFSET) {
        cursor = base + (u32(bytes, p) | 0);
        p += 4;
      }
      if (run.flags & FIRST_SAMPLE_FLAGS) p += 4;
      const stride = 4 * [SAMPLE_DURATION, SAMPLE_SIZE, SAMPLE_FLAGS, SAMPLE_CTS]
        .filter((f) => run.flags & f).length;
      if (p + stride * count > trun.end) throw invalidSegment("'trun' entries overrun the box");
      const sizeAt = run.flags & SAMPLE_DURATION ? 4 : 0;
      for (let i = 0; i < count; i++, p += stride) {
        const size = run.flags & SAMPLE_SIZE ? u32(bytes, p + sizeAt) : defaultSize;
        if (size === undefined) throw invalidSegment("sample size is not given");
        spans.push({ offset: cursor, size });
        cursor += size;
      }
      truns.push(count);
    }
    previousEnd = cursor;

    const local: Protection[] = [];
    let grouping: Box | undefined;
    let senc: Box | undefined;
    let saiz: Box | undefined;
    let saio: Box | undefined;
    const defaultProtection = track?.descriptions[descriptionIndex - 1] ?? null;
    const scheme = defaultProtection?.scheme ?? "cenc";
    for (const box of boxes) {
      if (box.type === "senc") senc = box;
      else if (box.type === "saiz") saiz = box;
      else if (box.type === "saio") saio = box;
      else if (box.type === "sgpd") {
        const groups = readSeigGroups(bytes, box, scheme);
        if (groups) local.push(...groups);
        else continue;
      } else if (box.type === "sbgp") {
        if (!isSeigGrouping(bytes, box)) continue;
        grouping = box;
      } else if (!isPiffSenc(bytes, box)) continue;
      blanks.push(box);
    }
    const indexes = grouping ? groupIndexes(bytes, grouping, spans.length) : null;
    const protectionOf = (i: number): Protection | null => {
      const index = indexes?.[i] ?? 0;
      if (index === 0) return defaultProtection;
      const group = index > 0x10000 ? local[index - 0x10001] : track?.groups[index - 1];
      if (!group) throw invalidSegment("a sample refers to a missing 'seig' group");
      return group;
    };
    const protections = spans.map((_, i) => protectionOf(i));
    if (!protections.some((p) => p?.isProtected)) continue;
    if (!track) throw invalidSegment("a fragment refers to a track the init does not describe");
    const ivSizes = protections.map((p) => p?.ivSize ?? 0);

    let aux: AuxEntry[];
    if (senc) {
      const full = readFullBox(bytes, senc);
      const count = u32(bytes, full.body);
      if (count !== spans.length) throw invalidSegment("'senc' sample count does not match 'trun'");
      aux = [];
      let p = full.body + 4;
      for (let i = 0; i < count; i++) {
        const read = readAuxEntry(
          bytes,
          p,
          senc.end,
          ivSizes[i],
          (full.flags & USE_SUBSAMPLES) !== 0,
        );
        aux.push(read.entry);
        p = read.next;
      }
    } else if (saiz && saio) {
      aux = auxFromSaio(bytes, saiz, saio, base, truns, ivSizes);
    } else {
      throw invalidSegment("a protected fragment has no sample encryption information");
    }

    spans.forEach((span, i) => {
      const protection = protections[i];
      if (!protection?.isProtected) return;
      if (span.offset < 0 || span.offset + span.size > bytes.length) {
        throw invalidSegment("sample data lies outside the fragment");
      }
      const { iv, subsamples } = aux[i];
      if (subsamples) {
        let total = 0;
        for (const n of subsamples) total += n;
        if (total > span.size) throw invalidSegment("subsamples are larger than their sample");
      }
      const source = protection.ivSize === 0 ? protection.constantIv! : iv;
      samples.push({ ...span, protection, iv: padIv(source), subsamples });
    });
  }
  return { samples, blanks };
}
