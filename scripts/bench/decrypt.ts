/**
 * Decryption throughput: MB/s of the streaming decryptor (`decryptFragments`) over a 2 MiB
 * media segment encrypted as `cenc` and as `cbcs`, against a plain pass-through of the same
 * bytes in the same run. The segment is fed in 64 KiB chunks, as a socket delivers it.
 * Video-like samples (60 × ~35 KB, one subsample per NAL unit) are the headline; audio-like
 * samples (~600 B each, whole-sample encryption) show the per-sample cost. Pure CPU.
 *
 *   deno run -A scripts/bench/decrypt.ts [--quick]
 *   taskset -c 0 deno run -A scripts/bench/decrypt.ts   # one core
 * @module
 */
import { decryptFragments, importContentKey } from "../../src/stream/drm/cenc/mod.ts";
import { box, code, encryptInit, encryptSegment, fullBox, words } from "../packagers/cenc.ts";

const SEGMENT_BYTES = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;
const KEY = crypto.getRandomValues(new Uint8Array(16));
const KID = crypto.getRandomValues(new Uint8Array(16));

/** A clear init with one track: avc1 (4-byte NAL lengths) or mp4a. */
function syntheticInit(video: boolean): Uint8Array {
  const entry = video
    ? box(
      "avc1",
      new Uint8Array(78),
      box("avcC", new Uint8Array([1, 0x64, 0, 0x1f, 0xff, 0xe0, 0])),
    )
    : box("mp4a", new Uint8Array(28));
  const tkhd = fullBox("tkhd", 0, 7, words(0, 0, 1), new Uint8Array(72));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, words(1), entry),
    fullBox("stsz", 0, 0, words(0, 0)),
  );
  const trak = box("trak", tkhd, box("mdia", box("minf", stbl)));
  const mvex = box("mvex", fullBox("trex", 0, 0, words(1, 1, 0, 0, 0)));
  return concat([box("ftyp", code("iso6"), words(0)), box("moov", trak, mvex)]);
}

/** A clear media segment of `count` samples of `size` bytes (NAL units for video). */
function syntheticSegment(count: number, size: number, video: boolean): Uint8Array {
  const samples: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const sample = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
    const full = new Uint8Array(size);
    for (let at = 0; at < size; at += sample.length) full.set(sample.subarray(0, size - at), at);
    if (video) {
      // An SEI-sized NAL unit, then one slice filling the rest.
      new DataView(full.buffer).setUint32(0, 20);
      new DataView(full.buffer).setUint32(24, size - 28);
    }
    samples.push(full);
  }
  const trun = (offset: number) =>
    fullBox("trun", 0, 0x201, words(count, offset), words(...samples.map((s) => s.length)));
  const traf = (offset: number) => box("traf", fullBox("tfhd", 0, 0x20000, words(1)), trun(offset));
  const moofSize = box("moof", fullBox("mfhd", 0, 0, words(1)), traf(0)).length;
  const moof = box("moof", fullBox("mfhd", 0, 0, words(1)), traf(moofSize + 8));
  return concat([box("styp", code("msdh"), words(0)), moof, box("mdat", ...samples)]);
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

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK);
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<number> {
  let total = 0;
  for await (const chunk of source) total += chunk.length;
  return total;
}

async function median(runs: number, fn: () => Promise<number>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** One line per scheme: MB/s decrypting vs passing through, for one sample layout. */
export async function runDecryptBench(quick = false): Promise<string[]> {
  const runs = quick ? 10 : 40;
  const key = await importContentKey(KEY);
  const lines: string[] = [];
  const layouts = [
    { name: "video (60 samples)", count: 60, video: true },
    { name: "audio (3500 samples)", count: 3500, video: false },
  ];
  for (const layout of layouts) {
    const size = Math.floor(SEGMENT_BYTES / layout.count);
    const clearInit = syntheticInit(layout.video);
    const clear = syntheticSegment(layout.count, size, layout.video);
    const mb = clear.length / 1e6;
    const passMs = await median(runs, () => drain(chunks(clear)));
    // The same clear fMP4 through the decryptor: box reading and fragment buffering alone.
    const clearFile = concat([clearInit, clear]);
    const parseMs = await median(
      runs,
      () =>
        drain(decryptFragments(chunks(clearFile), {
          keyFor: () => Promise.resolve(key),
          maxFragmentBytes: 64 * 1024 * 1024,
        })),
    );
    for (const scheme of ["cenc", "cbcs"] as const) {
      const options = { scheme, key: KEY, kid: KID };
      const init = encryptInit(clearInit, options);
      const { bytes } = await encryptSegment(clear, clearInit, options);
      const moov = concat([init, bytes]);
      const ms = await median(
        runs,
        () =>
          drain(decryptFragments(chunks(moov), {
            keyFor: () => Promise.resolve(key),
            maxFragmentBytes: 64 * 1024 * 1024,
          })),
      );
      const rate = (millis: number) => (mb / (millis / 1000)).toFixed(0);
      lines.push(
        `${scheme} ${layout.name}: ${rate(ms)} MB/s decrypting (${ms.toFixed(2)} ms per ${
          (clear.length / 1048576).toFixed(2)
        } MiB segment); pass-through ${rate(passMs)} MB/s; clear fMP4 through the decryptor ${
          rate(parseMs)
        } MB/s`,
      );
    }
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await runDecryptBench(Deno.args.includes("--quick"))) console.log(line);
}
