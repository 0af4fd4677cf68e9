/**
 * Sample decryption with WebCrypto (ISO/IEC 23001-7 §9, §10): `cenc` is AES-128-CTR over the
 * protected bytes of a sample, the keystream running on across its subsamples; `cbcs` is
 * AES-128-CBC over the encrypted blocks of a crypt:skip pattern, restarting from the IV at
 * every subsample, a trailing partial block left clear. Samples are decrypted in place.
 * @module
 */
import { invalidSegment } from "./boxes.ts";
import type { EncryptedSample } from "./fragment.ts";

/** One content key, imported for both modes. */
export interface ContentKey {
  readonly ctr: CryptoKey;
  readonly cbc: CryptoKey;
}

/**
 * Imports a 16-byte content key for AES-CTR and AES-CBC.
 *
 * @example
 * ```ts
 * const key = await importContentKey(hexToBytes("3c1a9e7b5d2f40618c9ab7e6d5f4c3b2")!);
 * ```
 */
export async function importContentKey(raw: Uint8Array): Promise<ContentKey> {
  if (raw.length !== 16) throw new TypeError("a content key must be 16 bytes");
  const bytes = raw.slice();
  const [ctr, cbc] = await Promise.all([
    crypto.subtle.importKey("raw", bytes, "AES-CTR", false, ["encrypt", "decrypt"]),
    crypto.subtle.importKey("raw", bytes, "AES-CBC", false, ["encrypt", "decrypt"]),
  ]);
  return { ctr, cbc };
}

/** The protected byte ranges of a sample: `[offset, length]` pairs in the buffer. */
function protectedRanges(sample: EncryptedSample): number[] {
  if (sample.subsamples === null) return [sample.offset, sample.size];
  const ranges: number[] = [];
  let at = sample.offset;
  const list = sample.subsamples;
  for (let i = 0; i < list.length; i += 2) {
    at += list[i];
    if (list[i + 1] > 0) ranges.push(at, list[i + 1]);
    at += list[i + 1];
  }
  return ranges;
}

/**
 * `cenc` (§10.1): the counter block starts at the IV (an 8-byte IV is followed by a zero
 * 64-bit block counter) and counts through the concatenated protected bytes of the sample.
 */
async function decryptCtrSample(
  bytes: Uint8Array,
  sample: EncryptedSample,
  key: CryptoKey,
): Promise<void> {
  const ranges = protectedRanges(sample);
  if (ranges.length === 0) return;
  const algorithm = { name: "AES-CTR", counter: source(sample.iv), length: 64 };
  if (ranges.length === 2) {
    const [at, length] = ranges;
    const out = await crypto.subtle.decrypt(
      algorithm,
      key,
      source(bytes.subarray(at, at + length)),
    );
    bytes.set(new Uint8Array(out), at);
    return;
  }
  let total = 0;
  for (let i = 1; i < ranges.length; i += 2) total += ranges[i];
  const joined = new Uint8Array(total);
  for (let i = 0, q = 0; i < ranges.length; i += 2) {
    joined.set(bytes.subarray(ranges[i], ranges[i] + ranges[i + 1]), q);
    q += ranges[i + 1];
  }
  const out = new Uint8Array(await crypto.subtle.decrypt(algorithm, key, joined));
  for (let i = 0, q = 0; i < ranges.length; i += 2) {
    bytes.set(out.subarray(q, q + ranges[i + 1]), ranges[i]);
    q += ranges[i + 1];
  }
}

/**
 * Calls `visit(offset, blocks)` for each run of encrypted 16-byte blocks of a protected
 * range under a crypt:skip pattern (§9.6). With no pattern (0:0) or no skip, every whole
 * block is encrypted. A last pattern repetition with fewer than `crypt` whole blocks left
 * encrypts those blocks; bytes after the last whole block are clear.
 *
 * @example
 * ```ts
 * patternRuns(0, 400, 1, 9, (at, n) => console.log(at, n)); // 0 1, 160 1, 320 1
 * ```
 */
export function patternRuns(
  offset: number,
  length: number,
  crypt: number,
  skip: number,
  visit: (offset: number, blocks: number) => void,
): void {
  const blocks = Math.floor(length / 16);
  if (blocks === 0) return;
  if (crypt === 0 || skip === 0) {
    visit(offset, blocks);
    return;
  }
  for (let b = 0; b < blocks; b += crypt + skip) {
    visit(offset + b * 16, Math.min(crypt, blocks - b));
  }
}

const ZERO_IV = new Uint8Array(16);

/** WebCrypto takes views of plain `ArrayBuffer`s; fMP4 bytes never live in shared memory. */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/**
 * `cbcs` (§10.4) for every sample under one key, in two WebCrypto calls. The encrypted
 * blocks of all chains (one chain per subsample, §10.4.2: the IV restarts at each) are laid
 * end to end and decrypted as one CBC chain; the first block of each later chain is then
 * corrected from "XOR previous ciphertext" to "XOR IV". WebCrypto's CBC checks PKCS#7
 * padding, so a last block is appended that decrypts to a full padding block: E(pad ⊕ Cₙ).
 */
async function decryptCbcsSamples(
  bytes: Uint8Array,
  samples: readonly EncryptedSample[],
  key: CryptoKey,
): Promise<void> {
  // Runs of contiguous encrypted blocks: [offset, blocks]; chain starts: [block index, sample].
  const runs: number[] = [];
  const chains: number[] = [];
  let total = 0;
  for (let s = 0; s < samples.length; s++) {
    const sample = samples[s];
    const { cryptByteBlock, skipByteBlock } = sample.protection;
    const ranges = protectedRanges(sample);
    for (let i = 0; i < ranges.length; i += 2) {
      const first = total;
      patternRuns(ranges[i], ranges[i + 1], cryptByteBlock, skipByteBlock, (at, n) => {
        runs.push(at, n);
        total += n;
      });
      if (total > first) chains.push(first, s);
    }
  }
  if (total === 0) return;
  const chain = new Uint8Array(total * 16 + 16);
  for (let i = 0, q = 0; i < runs.length; i += 2) {
    const length = runs[i + 1] * 16;
    chain.set(bytes.subarray(runs[i], runs[i] + length), q);
    q += length;
  }
  const last = total * 16;
  const padding = new Uint8Array(16);
  for (let j = 0; j < 16; j++) padding[j] = 0x10 ^ chain[last - 16 + j];
  const sealed = await crypto.subtle.encrypt({ name: "AES-CBC", iv: ZERO_IV }, key, padding);
  chain.set(new Uint8Array(sealed, 0, 16), last);
  const firstIv = samples[chains[1]].iv;
  const plain = new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-CBC", iv: source(firstIv) }, key, chain),
  );
  for (let c = 2; c < chains.length; c += 2) {
    const at = chains[c] * 16;
    const iv = samples[chains[c + 1]].iv;
    for (let j = 0; j < 16; j++) plain[at + j] ^= chain[at - 16 + j] ^ iv[j];
  }
  for (let i = 0, q = 0; i < runs.length; i += 2) {
    const length = runs[i + 1] * 16;
    bytes.set(plain.subarray(q, q + length), runs[i]);
    q += length;
  }
}

/**
 * Decrypts `samples` in place in `bytes`, with the key `keyFor` returns for each KID. Throws
 * 502 `segment_invalid` for a scheme other than `cenc` and `cbcs`.
 *
 * @example
 * ```ts
 * await decryptSamples(bytes, planFragment(bytes, moof, init).samples, () => key);
 * ```
 */
export async function decryptSamples(
  bytes: Uint8Array,
  samples: readonly EncryptedSample[],
  keyFor: (kid: Uint8Array) => ContentKey,
): Promise<void> {
  const ctr: [EncryptedSample, ContentKey][] = [];
  const cbcs = new Map<ContentKey, EncryptedSample[]>();
  for (const sample of samples) {
    const key = keyFor(sample.protection.kid);
    const scheme = sample.protection.scheme;
    if (scheme === "cenc") ctr.push([sample, key]);
    else if (scheme === "cbcs") {
      const list = cbcs.get(key);
      if (list) list.push(sample);
      else cbcs.set(key, [sample]);
    } else {
      const shown = scheme.replace(/[^\x20-\x7e]/g, "?");
      throw invalidSegment(`protection scheme '${shown}' is not supported`);
    }
  }
  await Promise.all([
    ...ctr.map(([sample, key]) => decryptCtrSample(bytes, sample, key.ctr)),
    ...[...cbcs].map(([key, list]) => decryptCbcsSamples(bytes, list, key.cbc)),
  ]);
}
