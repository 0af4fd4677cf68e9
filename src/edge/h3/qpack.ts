/**
 * QPACK (RFC 9204) primitives and the encoder. sProx's encoder uses the static table and
 * literals only (it never inserts into the peer's dynamic table, which RFC 9204 §2.1.1 allows
 * whatever capacity the peer offers); the decoder (`qpack_decoder.ts`) also reads the
 * dynamic table the peer builds.
 * @module
 */
import { encodeHuffman, huffmanLength } from "./huffman.ts";
import { STATIC_NAME_INDEX, STATIC_PAIR_INDEX } from "./qpack_static_table.ts";

/** QPACK error codes (RFC 9204 §6). */
export const QPACK_DECOMPRESSION_FAILED = 0x200;
/** The peer's encoder stream is malformed. */
export const QPACK_ENCODER_STREAM_ERROR = 0x201;
/** The peer's decoder stream is malformed. */
export const QPACK_DECODER_STREAM_ERROR = 0x202;

/** A QPACK failure, carrying the connection error code it maps to. */
export class QpackError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "QpackError";
  }
}

/** One field line: a lower-case name and its value. */
export type FieldLine = readonly [name: string, value: string];

/** Largest integer a prefixed integer may carry here (no QPACK field needs more). */
const MAX_INTEGER = 2 ** 32;

/**
 * Writes a prefixed integer (RFC 7541 §5.1) with an `prefixBits`-bit prefix; `flags` are the
 * bits above the prefix in the first byte.
 */
export function writePrefixedInteger(
  out: number[],
  value: number,
  prefixBits: number,
  flags: number,
): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** A value read from a buffer and the offset after it. */
export interface Read<T> {
  readonly value: T;
  readonly next: number;
}

/**
 * Reads a prefixed integer at `offset`; `undefined` when the buffer ends first. Throws a
 * {@linkcode QpackError} with `code` for an integer past 2^32.
 */
export function readPrefixedInteger(
  bytes: Uint8Array,
  offset: number,
  prefixBits: number,
  code: number,
): Read<number> | undefined {
  if (offset >= bytes.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = bytes[offset] & max;
  let at = offset + 1;
  if (value < max) return { value, next: at };
  let shift = 1;
  while (true) {
    if (at >= bytes.length) return undefined;
    const b = bytes[at++];
    value += (b & 0x7f) * shift;
    if (value > MAX_INTEGER) throw new QpackError(code, "integer too large");
    if ((b & 0x80) === 0) return { value, next: at };
    shift *= 128;
  }
}

/**
 * A field string as bytes: one byte per character when every character is below 256 (the
 * `ByteString` of `Headers`), UTF-8 otherwise.
 */
export function latin1ToBytes(text: string): Uint8Array {
  // deno-lint-ignore no-control-regex
  if (!/^[\x00-\xff]*$/.test(text)) return new TextEncoder().encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Writes a string literal whose length has a `prefixBits`-bit prefix with the Huffman flag
 * just above it, Huffman-coding the string when that is shorter (and `huffman` allows).
 */
export function writeString(
  out: number[],
  text: string,
  prefixBits: number,
  flags: number,
  huffman = true,
): void {
  const raw = latin1ToBytes(text);
  const huffmanFlag = 1 << prefixBits;
  if (huffman && huffmanLength(raw) < raw.length) {
    const coded = encodeHuffman(raw);
    writePrefixedInteger(out, coded.length, prefixBits, flags | huffmanFlag);
    for (const b of coded) out.push(b);
  } else {
    writePrefixedInteger(out, raw.length, prefixBits, flags);
    for (const b of raw) out.push(b);
  }
}

/**
 * Encodes a field section with the static table and literals (Required Insert Count 0,
 * Base 0; RFC 9204 §4.5). Names must already be lower-case.
 *
 * @example
 * ```ts
 * encodeFieldSection([[":status", "200"], ["content-type", "video/mp2t"]]);
 * ```
 */
export function encodeFieldSection(
  fields: Iterable<FieldLine>,
  options: { huffman?: boolean } = {},
): Uint8Array {
  const huffman = options.huffman ?? true;
  const out: number[] = [0x00, 0x00];
  for (const [name, value] of fields) {
    const exact = STATIC_PAIR_INDEX.get(`${name}\0${value}`);
    if (exact !== undefined) {
      // Indexed Field Line, static (§4.5.2): 1 T=1 index(6+).
      writePrefixedInteger(out, exact, 6, 0xc0);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      // Literal Field Line with Name Reference, static (§4.5.4): 01 N=0 T=1 index(4+).
      writePrefixedInteger(out, nameIndex, 4, 0x50);
    } else {
      // Literal Field Line with Literal Name (§4.5.6): 001 N=0 H name-length(3+).
      writeString(out, name, 3, 0x20, huffman);
    }
    writeString(out, value, 7, 0x00, huffman);
  }
  return Uint8Array.from(out);
}
