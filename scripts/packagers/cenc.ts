/**
 * A small Common Encryption packager for test content: it turns the clear fMP4 that ffmpeg
 * writes (DASH and HLS, `default-base-is-moof` fragments) into `cenc` (AES-CTR, 8-byte
 * per-sample IVs) or `cbcs` (AES-CBC, 1:9 pattern for video, constant IV) content, with
 * `senc`, `saiz` and `saio` in every `traf`. ffmpeg 5.1 cannot do this itself: it has no
 * `cbcs` muxer, and its DASH/HLS `cenc` output carries no per-fragment sample information.
 *
 * Video samples are split into one subsample per NAL unit (length and header byte clear);
 * audio samples are encrypted whole.
 * @module
 */
import {
  type Box,
  childrenOf,
  findChild,
  findPath,
  fourCc,
  readBoxHeader,
  readFullBox,
  u16,
  u32,
  writeU32,
} from "../../src/stream/drm/cenc/mod.ts";

/** How content is encrypted. */
export interface CencOptions {
  readonly scheme: "cenc" | "cbcs";
  readonly key: Uint8Array;
  readonly kid: Uint8Array;
  /** The first per-sample IV (cenc) or the constant IV (cbcs); derived from the KID if absent. */
  readonly iv?: Uint8Array;
}

/** `type` + body as a box. */
export function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const size = 8 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  writeU32(out, 0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let at = 8;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A full box: version, flags, then the body. */
export function fullBox(
  type: string,
  version: number,
  flags: number,
  ...parts: Uint8Array[]
): Uint8Array {
  const head = new Uint8Array(4);
  writeU32(head, 0, (version << 24) | flags);
  return box(type, head, ...parts);
}

/** Big-endian 32-bit integers as bytes. */
export function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => writeU32(out, i * 4, v));
  return out;
}

/** A four-character code as bytes. */
export function code(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Rebuilds a container: its header and fixed fields as they were, then `children`. */
function rebuild(bytes: Uint8Array, container: Box, fixed: number, children: Uint8Array[]) {
  const type = fourCc(bytes, container.start + 4);
  const head = bytes.subarray(container.start + container.headerSize, fixed);
  return box(type, head, ...children);
}

const VIDEO_FORMATS = new Set(["avc1", "avc3"]);
const AUDIO_FORMATS = new Set(["mp4a"]);

function tenc(options: CencOptions, video: boolean): Uint8Array {
  if (options.scheme === "cenc") {
    return fullBox("tenc", 0, 0, new Uint8Array([0, 0, 1, 8]), options.kid);
  }
  const pattern = video ? (1 << 4) | 9 : 0;
  return fullBox(
    "tenc",
    1,
    0,
    new Uint8Array([0, pattern, 1, 0]),
    options.kid,
    new Uint8Array([16]),
    ivOf(options),
  );
}

function ivOf(options: CencOptions): Uint8Array {
  if (options.iv) return options.iv;
  const iv = new Uint8Array(16);
  iv.set(options.kid.subarray(0, 8));
  return iv;
}

/**
 * The encrypted init segment: each `avc1`/`mp4a` entry becomes `encv`/`enca` with a `sinf`
 * (`frma`, `schm`, `schi`/`tenc`).
 *
 * @example
 * ```ts
 * const locked = encryptInit(await Deno.readFile("init.mp4"), { scheme: "cbcs", key, kid });
 * ```
 */
export function encryptInit(init: Uint8Array, options: CencOptions): Uint8Array {
  const top = childrenOf(init, { type: "", start: 0, headerSize: 0, end: init.length });
  return concat(top.map((b) => {
    if (b.type !== "moov") return init.subarray(b.start, b.end);
    return rebuild(
      init,
      b,
      b.start + b.headerSize,
      childrenOf(init, b).map((trak) => {
        if (trak.type !== "trak") return init.subarray(trak.start, trak.end);
        return rebuildPath(init, trak, ["mdia", "minf", "stbl", "stsd"], (stsd) => {
          const { body } = readFullBox(init, stsd);
          const entries = childrenOf(init, { ...stsd, headerSize: body + 4 - stsd.start });
          return rebuild(
            init,
            stsd,
            body + 4,
            entries.map((entry) => encryptEntry(init, entry, options)),
          );
        });
      }),
    );
  }));
}

/** Rebuilds `container` with the box at `path` replaced by `edit(box)`. */
function rebuildPath(
  bytes: Uint8Array,
  container: Box,
  path: readonly string[],
  edit: (target: Box) => Uint8Array,
): Uint8Array {
  const [next, ...rest] = path;
  return rebuild(
    bytes,
    container,
    container.start + container.headerSize,
    childrenOf(bytes, container).map((child) => {
      if (child.type !== next) return bytes.subarray(child.start, child.end);
      return rest.length === 0 ? edit(child) : rebuildPath(bytes, child, rest, edit);
    }),
  );
}

function encryptEntry(bytes: Uint8Array, entry: Box, options: CencOptions): Uint8Array {
  const video = VIDEO_FORMATS.has(entry.type);
  if (!video && !AUDIO_FORMATS.has(entry.type)) return bytes.subarray(entry.start, entry.end);
  const fixed = entry.start + 8 + (video ? 78 : 28);
  const sinf = box(
    "sinf",
    box("frma", code(entry.type)),
    fullBox("schm", 0, 0, code(options.scheme), words(0x10000)),
    box("schi", tenc(options, video)),
  );
  const children = childrenOf(bytes, { ...entry, headerSize: fixed - entry.start })
    .map((c) => bytes.subarray(c.start, c.end));
  return box(video ? "encv" : "enca", bytes.subarray(entry.start + 8, fixed), ...children, sinf);
}

/** What the packager needs of each track of the clear init. */
interface ClearTrack {
  readonly video: boolean;
  /** Bytes of the NAL unit length prefix (from `avcC`). */
  readonly nalLength: number;
  readonly defaultSize: number;
}

function clearTracks(init: Uint8Array): Map<number, ClearTrack> {
  const top = childrenOf(init, { type: "", start: 0, headerSize: 0, end: init.length });
  const moov = top.find((b) => b.type === "moov");
  if (!moov) throw new Error("the init segment has no moov");
  const sizes = new Map<number, number>();
  const mvex = findChild(init, moov, "mvex");
  for (const trex of mvex ? childrenOf(init, mvex) : []) {
    const { body } = readFullBox(init, trex);
    sizes.set(u32(init, body), u32(init, body + 12));
  }
  const tracks = new Map<number, ClearTrack>();
  for (const trak of childrenOf(init, moov)) {
    if (trak.type !== "trak") continue;
    const tkhd = readFullBox(init, findChild(init, trak, "tkhd")!);
    const id = u32(init, tkhd.body + (tkhd.version === 1 ? 16 : 8));
    const stsd = findPath(init, trak, ["mdia", "minf", "stbl", "stsd"])!;
    const entry = readBoxHeader(init, readFullBox(init, stsd).body + 4, stsd.end)!;
    const video = VIDEO_FORMATS.has(entry.type);
    let nalLength = 4;
    if (video) {
      const avcC = childrenOf(init, { ...entry, headerSize: 86 }).find((b) => b.type === "avcC")!;
      nalLength = (init[avcC.start + 8 + 4] & 3) + 1;
    }
    tracks.set(id, { video, nalLength, defaultSize: sizes.get(id) ?? 0 });
  }
  return tracks;
}

/** Samples of a `default-base-is-moof` traf: offsets from the moof start, sizes. */
function trafSamples(bytes: Uint8Array, traf: Box, defaults: ClearTrack) {
  const tfhd = readFullBox(bytes, findChild(bytes, traf, "tfhd")!);
  if (!(tfhd.flags & 0x20000) || tfhd.flags & 1) throw new Error("expected default-base-is-moof");
  let at = tfhd.body + 4 + (tfhd.flags & 2 ? 4 : 0) + (tfhd.flags & 8 ? 4 : 0);
  const defaultSize = tfhd.flags & 0x10 ? u32(bytes, at) : defaults.defaultSize;
  const samples: { offset: number; size: number }[] = [];
  for (const trun of childrenOf(bytes, traf)) {
    if (trun.type !== "trun") continue;
    const run = readFullBox(bytes, trun);
    if (!(run.flags & 1)) throw new Error("expected a trun data offset");
    let offset = u32(bytes, run.body + 4) | 0;
    at = run.body + 8 + (run.flags & 4 ? 4 : 0);
    const fields = [0x100, 0x200, 0x400, 0x800].filter((f) => run.flags & f).length;
    const sizeAt = run.flags & 0x100 ? 4 : 0;
    for (let i = 0; i < u32(bytes, run.body); i++, at += fields * 4) {
      const size = run.flags & 0x200 ? u32(bytes, at + sizeAt) : defaultSize;
      samples.push({ offset, size });
      offset += size;
    }
  }
  return samples;
}

/** Subsamples of an AVC sample: per NAL unit, its length prefix and header byte clear. */
function nalSubsamples(sample: Uint8Array, nalLength: number): number[] {
  const pairs: number[] = [];
  let at = 0;
  while (at < sample.length) {
    let size = 0;
    for (let i = 0; i < nalLength; i++) size = size * 256 + sample[at + i];
    pairs.push(nalLength + 1, size - 1);
    at += nalLength + size;
  }
  if (at !== sample.length) throw new Error("NAL units do not fill the sample");
  return pairs;
}

async function encryptRanges(
  sample: Uint8Array,
  pairs: number[] | null,
  iv: Uint8Array,
  keys: { ctr: CryptoKey; cbc: CryptoKey },
  options: CencOptions,
  video: boolean,
): Promise<void> {
  const ranges: [number, number][] = [];
  if (pairs === null) ranges.push([0, sample.length]);
  else {
    for (let i = 0, at = 0; i < pairs.length; i += 2) {
      at += pairs[i];
      ranges.push([at, pairs[i + 1]]);
      at += pairs[i + 1];
    }
  }
  if (options.scheme === "cenc") {
    const joined = concat(ranges.map(([at, n]) => sample.subarray(at, at + n)));
    const counter = new Uint8Array(16);
    counter.set(iv.subarray(0, 8));
    const out = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-CTR", counter, length: 64 },
        keys.ctr,
        joined as Uint8Array<ArrayBuffer>,
      ),
    );
    let q = 0;
    for (const [at, n] of ranges) {
      sample.set(out.subarray(q, q + n), at);
      q += n;
    }
    return;
  }
  for (const [at, n] of ranges) {
    // 1:9 for video, every block for audio; a partial trailing block stays clear.
    const blocks: number[] = [];
    for (let b = 0; b < Math.floor(n / 16); b += video ? 10 : 1) blocks.push(at + b * 16);
    if (blocks.length === 0) continue;
    const plain = concat(blocks.map((p) => sample.subarray(p, p + 16)));
    const out = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-CBC", iv: iv as Uint8Array<ArrayBuffer> },
        keys.cbc,
        plain as Uint8Array<ArrayBuffer>,
      ),
    );
    blocks.forEach((p, i) => sample.set(out.subarray(i * 16, i * 16 + 16), p));
  }
}

/**
 * The encrypted media segment: samples encrypted in the `mdat`, `senc` + `saiz` + `saio`
 * appended to each `traf`, trun data offsets and `sidx` sizes moved by the `moof` growth.
 * `init` is the clear init segment the segment belongs to; `firstSample` numbers the IVs.
 *
 * @example
 * ```ts
 * const locked = await encryptSegment(segment, init, { scheme: "cenc", key, kid }, 0);
 * ```
 */
export async function encryptSegment(
  segment: Uint8Array,
  init: Uint8Array,
  options: CencOptions,
  firstSample = 0,
): Promise<{ bytes: Uint8Array; samples: number }> {
  const tracks = clearTracks(init);
  const keys = {
    ctr: await crypto.subtle.importKey(
      "raw",
      options.key as Uint8Array<ArrayBuffer>,
      "AES-CTR",
      false,
      [
        "encrypt",
      ],
    ),
    cbc: await crypto.subtle.importKey(
      "raw",
      options.key as Uint8Array<ArrayBuffer>,
      "AES-CBC",
      false,
      [
        "encrypt",
      ],
    ),
  };
  const top = childrenOf(segment, { type: "", start: 0, headerSize: 0, end: segment.length });
  const moofs = top.filter((b) => b.type === "moof");
  if (moofs.length !== 1) throw new Error("expected one moof per segment");
  const moof = moofs[0];
  const mdat = top[top.indexOf(moof) + 1];
  if (mdat?.type !== "mdat") throw new Error("expected an mdat right after the moof");
  const data = segment.slice(moof.start, mdat.end);
  let counter = firstSample;
  const parts: Uint8Array[] = [];
  let cursor = 8;
  for (const child of childrenOf(segment, moof)) {
    if (child.type !== "traf") {
      parts.push(segment.subarray(child.start, child.end));
      cursor += child.end - child.start;
      continue;
    }
    const id = u32(segment, readFullBox(segment, findChild(segment, child, "tfhd")!).body);
    const track = tracks.get(id)!;
    const entries: Uint8Array[] = [];
    for (const s of trafSamples(segment, child, track)) {
      const sample = data.subarray(s.offset, s.offset + s.size);
      const pairs = track.video ? nalSubsamples(sample, track.nalLength) : null;
      const iv = options.scheme === "cenc" ? words(0, counter++) : ivOf(options);
      await encryptRanges(sample, pairs, iv, keys, options, track.video);
      const ivBytes = options.scheme === "cenc" ? iv : new Uint8Array();
      if (pairs === null) entries.push(ivBytes);
      else {
        const subs = new Uint8Array(2 + (pairs.length / 2) * 6);
        subs[0] = pairs.length / 2 >> 8;
        subs[1] = pairs.length / 2;
        for (let i = 0; i < pairs.length; i += 2) {
          subs[2 + i * 3] = pairs[i] >> 8;
          subs[3 + i * 3] = pairs[i];
          writeU32(subs, 4 + i * 3, pairs[i + 1]);
        }
        entries.push(concat([ivBytes, subs]));
      }
    }
    const senc = fullBox("senc", 0, track.video ? 2 : 0, words(entries.length), ...entries);
    const sizes = entries.map((e) => e.length);
    const uniform = sizes.every((n) => n === sizes[0]) ? sizes[0] : 0;
    const saiz = fullBox(
      "saiz",
      0,
      0,
      new Uint8Array([uniform]),
      words(entries.length),
      uniform ? new Uint8Array() : Uint8Array.from(sizes),
    );
    const kept = childrenOf(segment, child).map((c) => segment.subarray(c.start, c.end));
    const before = 8 + kept.reduce((n, k) => n + k.length, 0);
    // The first senc entry, as an offset from the moof start (default-base-is-moof).
    const sencEntries = cursor + before + 16;
    const saio = fullBox("saio", 0, 0, words(1, sencEntries));
    const traf = box("traf", ...kept, senc, saiz, saio);
    parts.push(traf);
    cursor += traf.length;
  }
  const newMoof = box("moof", ...parts);
  const delta = newMoof.length - (moof.end - moof.start);
  // trun data offsets count from the moof start: the mdat moved by the growth.
  for (
    const traf of childrenOf(newMoof, {
      type: "moof",
      start: 0,
      headerSize: 8,
      end: newMoof.length,
    })
  ) {
    if (traf.type !== "traf") continue;
    for (const trun of childrenOf(newMoof, traf)) {
      if (trun.type !== "trun") continue;
      const at = readFullBox(newMoof, trun).body + 4;
      writeU32(newMoof, at, (u32(newMoof, at) + delta) >>> 0);
    }
  }
  const out = top.map((b) => {
    if (b === moof) return newMoof;
    if (b === mdat) return data.subarray(mdat.start - moof.start);
    const copy = segment.slice(b.start, b.end);
    if (b.type === "sidx") growSidx(copy, delta);
    return copy;
  });
  return { bytes: concat(out), samples: counter - firstSample };
}

/** Adds `delta` to the first reference of a one-reference `sidx` (§8.16.3). */
function growSidx(sidx: Uint8Array, delta: number): void {
  const { version, body } = readFullBox(sidx, readBoxHeader(sidx, 0, sidx.length)!);
  const at = body + 8 + (version === 0 ? 8 : 16);
  if (u16(sidx, at + 2) !== 1) throw new Error("expected one sidx reference");
  const word = u32(sidx, at + 4);
  writeU32(sidx, at + 4, ((word & 0x80000000) | ((word & 0x7fffffff) + delta)) >>> 0);
}

/** The `cenc:default_KID` form of a key ID (8-4-4-4-12 hex). */
function uuidOf(kid: Uint8Array): string {
  const hex = Array.from(kid, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * Encrypts a directory that `packageContent` wrote as `dash-number`/`dash-timeline` or
 * `hls-fmp4` into `to`: init sections and segments encrypted, the MPD given a
 * `ContentProtection` with `cenc:default_KID` per AdaptationSet, media playlists an
 * `EXT-X-KEY` (`SAMPLE-AES-CTR` for cenc, `SAMPLE-AES` for cbcs) before their `EXT-X-MAP`.
 *
 * @example
 * ```ts
 * await encryptPackage("/tmp/dash", "/tmp/dash-cbcs", { scheme: "cbcs", key, kid });
 * ```
 */
export async function encryptPackage(from: string, to: string, options: CencOptions) {
  await Deno.mkdir(to, { recursive: true });
  const names = [...Deno.readDirSync(from)].map((e) => e.name).sort();
  const inits = new Map<string, Uint8Array>();
  for (const name of names) {
    if (name.startsWith("init")) inits.set(name, await Deno.readFile(`${from}/${name}`));
  }
  const counters = new Map<string, number>();
  for (const name of names) {
    const bytes = await Deno.readFile(`${from}/${name}`);
    if (inits.has(name)) {
      await Deno.writeFile(`${to}/${name}`, encryptInit(bytes, options));
    } else if (name.endsWith(".m4s")) {
      // DASH: chunk-<rep>-<n>.m4s belongs to init-<rep>.m4s; HLS fMP4: one init.mp4.
      const rep = /^chunk-(.+)-\d+\.m4s$/.exec(name)?.[1];
      const initName = rep === undefined ? "init.mp4" : `init-${rep}.m4s`;
      const init = inits.get(initName);
      if (!init) throw new Error(`no init section for ${name}`);
      const first = counters.get(initName) ?? 0;
      const { bytes: locked, samples } = await encryptSegment(bytes, init, options, first);
      counters.set(initName, first + samples);
      await Deno.writeFile(`${to}/${name}`, locked);
    } else if (name.endsWith(".mpd")) {
      const protection =
        `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${options.scheme}" cenc:default_KID="${
          uuidOf(options.kid)
        }"/>`;
      const mpd = new TextDecoder().decode(bytes)
        .replace("<MPD ", '<MPD xmlns:cenc="urn:mpeg:cenc:2013" ')
        .replace(/(<AdaptationSet[^>]*>)/g, `$1\n\t\t\t${protection}`);
      await Deno.writeTextFile(`${to}/${name}`, mpd);
    } else if (name.endsWith(".m3u8")) {
      const method = options.scheme === "cenc" ? "SAMPLE-AES-CTR" : "SAMPLE-AES";
      const kid = Array.from(options.kid, (b) => b.toString(16).padStart(2, "0")).join("");
      const key =
        `#EXT-X-KEY:METHOD=${method},URI="data:text/plain;base64,${kid}",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`;
      const text = new TextDecoder().decode(bytes).replace(/^#EXT-X-MAP:/m, `${key}\n#EXT-X-MAP:`);
      await Deno.writeTextFile(`${to}/${name}`, text);
    } else {
      await Deno.writeFile(`${to}/${name}`, bytes);
    }
  }
}
