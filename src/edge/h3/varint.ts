/**
 * QUIC variable-length integers (RFC 9000 §16): the two most significant bits of the first
 * byte give the length (1, 2, 4 or 8 bytes), the rest is the value in network byte order.
 * HTTP/3 frames, settings, stream types and QPACK's length fields all use them.
 * @module
 */

/** The largest value a variable-length integer holds (2^62 - 1). */
export const MAX_VARINT = (1n << 62n) - 1n;

/** A value read from a buffer and the bytes it took. */
export interface VarintRead {
  readonly value: number;
  readonly length: number;
}

/** The encoded length of the integer whose first byte is `first`. */
export function varintLength(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >> 6)) as 1 | 2 | 4 | 8;
}

/**
 * Reads a variable-length integer at `offset`, or `undefined` when the buffer ends first.
 * Values past 2^53 lose precision (no HTTP/3 field sProx acts on comes near that); use
 * {@linkcode readVarintBigInt} for an exact value.
 *
 * @example
 * ```ts
 * readVarint(new Uint8Array([0x7b, 0xbd]), 0); // { value: 15293, length: 2 }
 * ```
 */
export function readVarint(bytes: Uint8Array, offset: number): VarintRead | undefined {
  if (offset >= bytes.length) return undefined;
  const first = bytes[offset];
  const length = varintLength(first);
  if (offset + length > bytes.length) return undefined;
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  return { value, length };
}

/**
 * Reads a variable-length integer exactly, as a `bigint`; `undefined` when the buffer ends
 * first.
 *
 * @example
 * ```ts
 * readVarintBigInt(Uint8Array.of(0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c), 0);
 * // { value: 151288809941952652n, length: 8 }
 * ```
 */
export function readVarintBigInt(
  bytes: Uint8Array,
  offset: number,
): { readonly value: bigint; readonly length: number } | undefined {
  if (offset >= bytes.length) return undefined;
  const length = varintLength(bytes[offset]);
  if (offset + length > bytes.length) return undefined;
  let value = BigInt(bytes[offset] & 0x3f);
  for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i]);
  return { value, length };
}

/**
 * Encodes `value` in the shortest form (RFC 9000 §16). Throws a `RangeError` for a value
 * that is negative, not an integer, or past 2^62 - 1.
 *
 * @example
 * ```ts
 * encodeVarint(37); // Uint8Array [0x25]
 * ```
 */
export function encodeVarint(value: number | bigint): Uint8Array {
  const big = typeof value === "bigint" ? value : BigInt(value);
  if ((typeof value === "number" && !Number.isInteger(value)) || big < 0n || big > MAX_VARINT) {
    throw new RangeError(
      `varint value must be an integer in [0, 2^62-1]: current value is ${value}`,
    );
  }
  const length = big < 64n ? 1 : big < 16384n ? 2 : big < 1073741824n ? 4 : 8;
  const out = new Uint8Array(length);
  let rest = big;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  out[0] |= [0, 0x40, 0, 0x80, 0, 0, 0, 0xc0][length - 1];
  return out;
}

/** The number of bytes {@linkcode encodeVarint} uses for `value`. */
export function encodedVarintLength(value: number): 1 | 2 | 4 | 8 {
  return value < 64 ? 1 : value < 16384 ? 2 : value < 1073741824 ? 4 : 8;
}
