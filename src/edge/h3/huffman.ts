/**
 * The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B), which QPACK reuses for
 * string literals (RFC 9204 §4.1.2). The code is canonical: the code lengths of the 257
 * symbols (bytes 0-255 and EOS) determine every code, so only the lengths are stored.
 * @module
 */

/** Code length in bits of each symbol 0-255, then EOS (RFC 7541 Appendix B). */
const LENGTHS: readonly number[] = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
];

const EOS = 256;
const MAX_LENGTH = 30;

/** Canonical code of each symbol, and the decoding tables by length. */
const CODES = new Uint32Array(257);
/** First code of each length, the count of codes of that length, and where its symbols start. */
const FIRST = new Int32Array(MAX_LENGTH + 2);
const COUNT = new Int32Array(MAX_LENGTH + 2);
const START = new Int32Array(MAX_LENGTH + 2);
/** Symbols ordered by (length, symbol): the canonical order. */
const SORTED: number[] = [...LENGTHS.keys()].sort((a, b) => LENGTHS[a] - LENGTHS[b] || a - b);

(() => {
  let code = 0;
  let length = LENGTHS[SORTED[0]];
  for (let i = 0; i < SORTED.length; i++) {
    const symbol = SORTED[i];
    while (length < LENGTHS[symbol]) {
      code <<= 1;
      length++;
    }
    if (COUNT[length] === 0) {
      FIRST[length] = code;
      START[length] = i;
    }
    COUNT[length]++;
    CODES[symbol] = code;
    code++;
  }
})();

/** A string that is not a valid Huffman encoding (RFC 7541 §5.2). */
export class HuffmanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HuffmanError";
  }
}

/**
 * Decodes a Huffman-encoded string literal. Throws {@linkcode HuffmanError} on the EOS
 * symbol, on padding longer than 7 bits, or on padding that is not the most significant
 * bits of EOS (all ones), as RFC 7541 §5.2 requires.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(decodeHuffman(Uint8Array.of(0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf)));
 * // "no-cache"
 * ```
 */
export function decodeHuffman(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      length++;
      const index = code - FIRST[length];
      if (COUNT[length] > 0 && index >= 0 && index < COUNT[length]) {
        const symbol = SORTED[START[length] + index];
        if (symbol === EOS) throw new HuffmanError("Huffman string contains EOS");
        out.push(symbol);
        code = 0;
        length = 0;
      } else if (length >= MAX_LENGTH) {
        throw new HuffmanError("invalid Huffman code");
      }
    }
  }
  if (length > 7) throw new HuffmanError("Huffman padding longer than 7 bits");
  if (code !== (1 << length) - 1) throw new HuffmanError("Huffman padding is not all ones");
  return Uint8Array.from(out);
}

/** The length in bytes of `bytes` once Huffman-encoded. */
export function huffmanLength(bytes: Uint8Array): number {
  let bits = 0;
  for (const b of bytes) bits += LENGTHS[b];
  return Math.ceil(bits / 8);
}

/**
 * Huffman-encodes `bytes`, padding the last byte with the most significant bits of EOS.
 *
 * @example
 * ```ts
 * encodeHuffman(new TextEncoder().encode("no-cache")); // a8 eb 10 64 9c bf
 * ```
 */
export function encodeHuffman(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanLength(bytes));
  let at = 0;
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    const length = LENGTHS[b];
    let code = CODES[b];
    let left = length;
    // Codes are up to 30 bits: feed them a byte at a time so `buffer` stays small.
    while (left > 0) {
      const take = Math.min(8, left);
      left -= take;
      buffer = (buffer << take) | ((code >>> left) & ((1 << take) - 1));
      bits += take;
      code &= (1 << left) - 1;
      while (bits >= 8) {
        bits -= 8;
        out[at++] = (buffer >> bits) & 0xff;
      }
      buffer &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[at++] = ((buffer << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return out;
}

/** The canonical code and length of a symbol (0-256), for tests against the RFC table. */
export function huffmanCode(symbol: number): { readonly code: number; readonly length: number } {
  return { code: CODES[symbol], length: LENGTHS[symbol] };
}
