import { deepStrictEqual as assertEquals, notDeepStrictEqual, rejects } from "node:assert/strict";
import { ProxyError } from "../../../errors/mod.ts";
import { decryptSamples, importContentKey, patternRuns } from "./cipher.ts";
import type { EncryptedSample } from "./fragment.ts";
import type { Protection } from "./init.ts";

const RAW = Uint8Array.from({ length: 16 }, (_, i) => i * 7 + 1);
const KID = new Uint8Array(16).fill(9);

function protection(scheme: string, crypt = 0, skip = 0): Protection {
  return {
    scheme,
    isProtected: true,
    ivSize: 16,
    kid: KID,
    constantIv: null,
    cryptByteBlock: crypt,
    skipByteBlock: skip,
  };
}

function plaintext(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The protected ranges of a sample as [offset, length] pairs. */
function ranges(s: EncryptedSample): [number, number][] {
  if (!s.subsamples) return [[s.offset, s.size]];
  const out: [number, number][] = [];
  let at = s.offset;
  for (let i = 0; i < s.subsamples.length; i += 2) {
    at += s.subsamples[i];
    out.push([at, s.subsamples[i + 1]]);
    at += s.subsamples[i + 1];
  }
  return out;
}

/** Reference cenc: one CTR keystream over the concatenated protected bytes of a sample. */
async function encryptCtr(bytes: Uint8Array, s: EncryptedSample, key: CryptoKey) {
  const parts = ranges(s).map(([at, n]) => bytes.slice(at, at + n));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let q = 0;
  for (const p of parts) {
    joined.set(p, q);
    q += p.length;
  }
  const out = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: s.iv as Uint8Array<ArrayBuffer>, length: 64 },
      key,
      joined,
    ),
  );
  q = 0;
  for (const [at, n] of ranges(s)) {
    bytes.set(out.subarray(q, q + n), at);
    q += n;
  }
}

/** Reference cbcs, one block at a time: each subsample chains from the IV (§10.4.2). */
async function encryptCbcs(bytes: Uint8Array, s: EncryptedSample, key: CryptoKey) {
  const { cryptByteBlock: crypt, skipByteBlock: skip } = s.protection;
  for (const [at, n] of ranges(s)) {
    let iv = s.iv;
    const blocks = Math.floor(n / 16);
    for (let b = 0; b < blocks; b++) {
      const inPattern = crypt === 0 || skip === 0 || b % (crypt + skip) < crypt;
      if (!inPattern) continue;
      const p = at + b * 16;
      const out = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-CBC", iv: iv as Uint8Array<ArrayBuffer> },
          key,
          bytes.slice(p, p + 16),
        ),
      );
      bytes.set(out.subarray(0, 16), p);
      iv = out.slice(0, 16);
    }
  }
}

Deno.test("patternRuns() follows crypt:skip over whole blocks, the last pattern cut short", () => {
  const runs: [number, number][] = [];
  patternRuns(100, 400, 1, 9, (at, n) => runs.push([at, n]));
  assertEquals(runs, [[100, 1], [260, 1], [420, 1]]);
  runs.length = 0;
  patternRuns(0, 11 * 16 + 5, 2, 3, (at, n) => runs.push([at, n]));
  assertEquals(runs, [[0, 2], [80, 2], [160, 1]]);
  runs.length = 0;
  patternRuns(8, 40, 0, 0, (at, n) => runs.push([at, n]));
  assertEquals(runs, [[8, 2]]);
  runs.length = 0;
  patternRuns(8, 15, 1, 9, (at, n) => runs.push([at, n]));
  assertEquals(runs, []);
});

Deno.test("decryptSamples() cenc: the keystream runs on across unaligned subsamples", async () => {
  const key = await importContentKey(RAW);
  const clear = plaintext(3000, 3);
  const samples: EncryptedSample[] = [
    {
      offset: 10,
      size: 1200,
      protection: protection("cenc"),
      iv: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]),
      subsamples: [5, 37, 3, 0, 100, 1055],
    },
    {
      offset: 1300,
      size: 900,
      protection: protection("cenc"),
      iv: Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]),
      subsamples: null,
    },
  ];
  const bytes = clear.slice();
  for (const s of samples) await encryptCtr(bytes, s, key.ctr);
  notDeepStrictEqual(bytes, clear);
  await decryptSamples(bytes, samples, () => key);
  assertEquals(bytes, clear);
});

Deno.test("decryptSamples() cbcs: pattern blocks per subsample, IV restarts, partial blocks clear", async () => {
  const key = await importContentKey(RAW);
  const clear = plaintext(6000, 11);
  const ivA = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const ivB = Uint8Array.from({ length: 16 }, (_, i) => 0x10 * (i % 3));
  const samples: EncryptedSample[] = [
    {
      offset: 0,
      size: 2000,
      protection: protection("cbcs", 1, 9),
      iv: ivA,
      subsamples: [5, 1003, 7, 985],
    },
    {
      offset: 2000,
      size: 1500,
      protection: protection("cbcs", 1, 9),
      iv: ivB,
      subsamples: [20, 1480],
    },
    { offset: 3500, size: 777, protection: protection("cbcs"), iv: ivA, subsamples: null },
    {
      offset: 4300,
      size: 1600,
      protection: protection("cbcs", 2, 3),
      iv: ivB,
      subsamples: [16, 1584],
    },
  ];
  const bytes = clear.slice();
  for (const s of samples) await encryptCbcs(bytes, s, key.cbc);
  notDeepStrictEqual(bytes, clear);
  // A partial trailing block is left as it was.
  assertEquals(bytes.subarray(3500 + 768, 3500 + 777), clear.subarray(3500 + 768, 3500 + 777));
  await decryptSamples(bytes, samples, () => key);
  assertEquals(bytes, clear);
});

Deno.test("decryptSamples() uses each sample's key and refuses other schemes", async () => {
  const one = await importContentKey(RAW);
  const two = await importContentKey(RAW.map((b) => b ^ 0xff));
  const clear = plaintext(64, 1);
  const bytes = clear.slice();
  const a: EncryptedSample = {
    offset: 0,
    size: 32,
    protection: protection("cenc"),
    iv: new Uint8Array(16),
    subsamples: null,
  };
  const b: EncryptedSample = { ...a, offset: 32, protection: { ...protection("cenc"), kid: RAW } };
  await encryptCtr(bytes, a, one.ctr);
  await encryptCtr(bytes, b, two.ctr);
  await decryptSamples(bytes, [a, b], (kid) => kid[0] === 9 ? one : two);
  assertEquals(bytes, clear);
  await rejects(
    () => decryptSamples(bytes, [{ ...a, protection: protection("cens", 1, 9) }], () => one),
    (e: unknown) =>
      e instanceof ProxyError && e.reason === "segment_invalid" &&
      e.message === "protection scheme 'cens' is not supported",
  );
});
