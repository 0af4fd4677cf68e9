import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { ProxyError } from "../../../errors/mod.ts";
import {
  box,
  code,
  encryptInit,
  encryptSegment,
  fullBox,
  words,
} from "../../../../scripts/packagers/cenc.ts";
import { readBoxHeader } from "./boxes.ts";
import { importContentKey } from "./cipher.ts";
import { planFragment } from "./fragment.ts";
import { type InitInfo, readInit } from "./init.ts";
import { decryptFragments, type DecryptStreamOptions } from "./stream.ts";

const KEY = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);
const KID = Uint8Array.from({ length: 16 }, (_, i) => i);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A clear init (one avc1 track, 4-byte NAL lengths) and a segment of NAL-unit samples. */
function clearContent(): { init: Uint8Array; segment: Uint8Array } {
  const avc1 = box("avc1", new Uint8Array(78), box("avcC", Uint8Array.from([1, 100, 0, 31, 255])));
  const trak = box(
    "trak",
    fullBox("tkhd", 0, 7, words(0, 0, 1), new Uint8Array(72)),
    box("mdia", box("minf", box("stbl", fullBox("stsd", 0, 0, words(1), avc1)))),
  );
  const init = concat([
    box("ftyp", code("iso6"), words(0)),
    box("moov", trak, box("mvex", fullBox("trex", 0, 0, words(1, 1, 0, 0, 0)))),
  ]);
  const sizes = [300, 1000, 77, 4100];
  const samples = sizes.map((size, s) => {
    const sample = Uint8Array.from({ length: size }, (_, i) => (i * 13 + s) & 0xff);
    new DataView(sample.buffer).setUint32(0, 10);
    new DataView(sample.buffer).setUint32(14, size - 18);
    return sample;
  });
  const trun = (offset: number) => fullBox("trun", 0, 0x201, words(sizes.length, offset, ...sizes));
  const moof = (offset: number) =>
    box("moof", box("traf", fullBox("tfhd", 0, 0x20000, words(1)), trun(offset)));
  const size = moof(0).length;
  const segment = concat([
    box("styp", code("msdh"), words(0)),
    moof(size + 8),
    box("mdat", ...samples),
  ]);
  return { init, segment };
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function run(
  bytes: Uint8Array,
  size: number,
  options: Partial<DecryptStreamOptions> = {},
): Promise<Uint8Array> {
  const key = await importContentKey(KEY);
  const out: Uint8Array[] = [];
  for await (
    const chunk of decryptFragments(chunked(bytes, size), {
      keyFor: () => Promise.resolve(key),
      maxFragmentBytes: 1 << 20,
      ...options,
    })
  ) {
    out.push(chunk.slice());
  }
  return concat(out);
}

function mdatOf(bytes: Uint8Array): Uint8Array {
  const at = new TextDecoder("latin1").decode(bytes).lastIndexOf("mdat") - 4;
  return bytes.subarray(at);
}

const latin = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

for (const scheme of ["cenc", "cbcs"] as const) {
  Deno.test(`decryptFragments() makes ${scheme} init + segment clear at any chunk size`, async () => {
    const { init, segment } = clearContent();
    const options = { scheme, key: KEY, kid: KID };
    const locked = concat([
      encryptInit(init, options),
      (await encryptSegment(segment, init, options)).bytes,
    ]);
    assert(latin(locked).includes("senc"));
    for (const size of [1, 7, 4096, locked.length]) {
      const out = await run(locked, size);
      assertEquals(out.length, locked.length);
      assertEquals(mdatOf(out), mdatOf(segment), `${scheme} in chunks of ${size}`);
      for (const gone of ["encv", "sinf", "senc", "saiz", "saio"]) {
        assert(!latin(out).includes(gone), `${gone} is gone`);
      }
      assertEquals(latin(out).indexOf("avc1"), latin(locked).indexOf("encv"));
    }
  });
}

Deno.test("decryptFragments() reads saiz/saio when there is no senc", async () => {
  const { init, segment } = clearContent();
  const options = { scheme: "cenc" as const, key: KEY, kid: KID };
  const media = (await encryptSegment(segment, init, options)).bytes;
  // Renamed, the senc box still holds the entries saio points at, but is no senc any more.
  media.set(code("skip"), latin(media).indexOf("senc"));
  const locked = encryptInit(init, options);
  const ftyp = readBoxHeader(locked, 0, locked.length)!;
  const info = readInit(locked, readBoxHeader(locked, ftyp.end, locked.length)!);
  const out = await run(media, 100, { loadInit: () => Promise.resolve(info) });
  assertEquals(mdatOf(out), mdatOf(segment));
});

Deno.test("decryptFragments() refuses a fragment without init, too large, or truncated", async () => {
  const { init, segment } = clearContent();
  const options = { scheme: "cbcs" as const, key: KEY, kid: KID };
  const locked = (await encryptSegment(segment, init, options)).bytes;
  const reason = (name: string, message: string) => (e: unknown) =>
    e instanceof ProxyError && e.reason === name && e.message === message;
  await rejects(
    () => run(locked, 64),
    reason("segment_invalid", "a fragment comes before any 'moov'"),
  );
  await rejects(
    () => run(concat([encryptInit(init, options), locked]), 64, { maxFragmentBytes: 5000 }),
    reason("segment_too_large", "a media fragment exceeds the size bound"),
  );
  await rejects(
    () => run(concat([encryptInit(init, options), locked.subarray(0, locked.length - 1)]), 64),
    reason("segment_invalid", "the stream ends inside a box"),
  );
  await rejects(
    () => run(new TextEncoder().encode("<html>not found</html>"), 64),
    reason("segment_invalid", "the body is not an fMP4 stream"),
  );
});

Deno.test("planFragment() places samples from an absolute base data offset and reads senc IVs", () => {
  const protection = {
    scheme: "cenc",
    isProtected: true,
    ivSize: 8,
    kid: KID,
    constantIv: null,
    cryptByteBlock: 0,
    skipByteBlock: 0,
  };
  const init: InitInfo = {
    tracks: new Map([[7, {
      trackId: 7,
      defaultSampleDescriptionIndex: 1,
      defaultSampleSize: 0,
      descriptions: [protection],
      groups: [],
    }]]),
  };
  // tfhd: base data offset (absolute, 10_050) and a default sample size of 40; two truns.
  const tfhd = fullBox("tfhd", 0, 0x11, words(7, 0, 10_050, 40));
  const senc = fullBox("senc", 0, 0, words(3), words(1, 2), words(3, 4), words(5, 6));
  const moof = box(
    "moof",
    box(
      "traf",
      tfhd,
      fullBox("trun", 0, 0x1, words(2, 0)),
      fullBox("trun", 0, 0x0, words(1)),
      senc,
    ),
  );
  const bytes = concat([moof, new Uint8Array(200)]);
  const plan = planFragment(bytes, readBoxHeader(bytes, 0, bytes.length)!, init, {
    position: 10_000,
  });
  assertEquals(plan.samples.map((s) => [s.offset, s.size, [...s.iv.subarray(0, 8)]]), [
    [50, 40, [0, 0, 0, 1, 0, 0, 0, 2]],
    [90, 40, [0, 0, 0, 3, 0, 0, 0, 4]],
    [130, 40, [0, 0, 0, 5, 0, 0, 0, 6]],
  ]);
  assertEquals(plan.blanks.map((b) => b.type), ["senc"]);
});
