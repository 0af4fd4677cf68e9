/**
 * The QPACK decoder (RFC 9204): the dynamic table the peer's encoder builds through its
 * encoder stream, field sections that refer to it or to the static table, and the decoder
 * stream instructions that acknowledge them.
 *
 * Field sections that would block (Required Insert Count above the inserts received) are
 * reported as such; sProx advertises `SETTINGS_QPACK_BLOCKED_STREAMS = 0`, so the session
 * treats one as a connection error (RFC 9204 §2.1.2).
 * @module
 */
import { decodeHuffman, HuffmanError } from "./huffman.ts";
import {
  type FieldLine,
  QPACK_DECOMPRESSION_FAILED,
  QPACK_ENCODER_STREAM_ERROR,
  QpackError,
  type Read,
  readPrefixedInteger,
  writePrefixedInteger,
} from "./qpack.ts";
import { STATIC_TABLE } from "./qpack_static_table.ts";

/** Per-entry overhead counted in the table size (RFC 9204 §3.2.1). */
const ENTRY_OVERHEAD = 32;

/** Field bytes as a string, one character per byte (HTTP fields are octets, not UTF-8). */
export function bytesToLatin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** Reads a string literal whose length has a `prefixBits`-bit prefix, the H flag above it. */
function readString(
  bytes: Uint8Array,
  offset: number,
  prefixBits: number,
  code: number,
): Read<string> | undefined {
  if (offset >= bytes.length) return undefined;
  const huffman = (bytes[offset] & (1 << prefixBits)) !== 0;
  const length = readPrefixedInteger(bytes, offset, prefixBits, code);
  if (!length) return undefined;
  const end = length.next + length.value;
  if (end > bytes.length) return undefined;
  const raw = bytes.subarray(length.next, end);
  try {
    return { value: bytesToLatin1(huffman ? decodeHuffman(raw) : raw), next: end };
  } catch (error) {
    if (error instanceof HuffmanError) throw new QpackError(code, error.message);
    throw error;
  }
}

/** A decoded field section. */
export type DecodedSection =
  | {
    readonly blocked: false;
    readonly fields: FieldLine[];
    /** The section's Required Insert Count (non-zero sections are acknowledged). */
    readonly requiredInsertCount: number;
  }
  | { readonly blocked: true; readonly requiredInsertCount: number };

/** Thrown when a decoded field section exceeds the size limit (§4.2.2 of RFC 9114). */
export class FieldSectionTooLarge extends Error {
  constructor(readonly size: number) {
    super(`field section of ${size} bytes is over the limit`);
    this.name = "FieldSectionTooLarge";
  }
}

/**
 * The decoding half of one connection's QPACK state.
 *
 * @example
 * ```ts
 * const decoder = new QpackDecoder({ maxTableCapacity: 4096 });
 * decoder.receiveEncoderStream(bytesFromEncoderStream);
 * const section = decoder.decodeFieldSection(0, headersFramePayload);
 * const acknowledgments = decoder.takeDecoderInstructions();
 * ```
 */
export class QpackDecoder {
  readonly maxTableCapacity: number;
  #capacity = 0;
  #size = 0;
  /** Entries in insertion order; `#dropped` of them have been evicted before `#entries[0]`. */
  #entries: FieldLine[] = [];
  #dropped = 0;
  /** Total number of insertions (the Insert Count of RFC 9204 §3.2.4). */
  #inserts = 0;
  /** Inserts the encoder knows we received (acknowledged by sections or increments). */
  #acknowledged = 0;
  #pendingEncoder = new Uint8Array(0);
  #instructions: number[] = [];

  constructor(options: { maxTableCapacity: number }) {
    this.maxTableCapacity = options.maxTableCapacity;
  }

  /** The number of entries inserted so far. */
  get insertCount(): number {
    return this.#inserts;
  }

  /** The current dynamic table size in bytes (entry sizes per RFC 9204 §3.2.1). */
  get tableSize(): number {
    return this.#size;
  }

  /**
   * Applies encoder stream bytes (RFC 9204 §4.3); an instruction split across calls is kept
   * until its end arrives. Throws a {@linkcode QpackError} (`QPACK_ENCODER_STREAM_ERROR`).
   */
  receiveEncoderStream(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#pendingEncoder.length > 0) {
      bytes = new Uint8Array(this.#pendingEncoder.length + chunk.length);
      bytes.set(this.#pendingEncoder);
      bytes.set(chunk, this.#pendingEncoder.length);
    }
    let at = 0;
    while (at < bytes.length) {
      const next = this.#encoderInstruction(bytes, at);
      if (next === undefined) break;
      at = next;
    }
    // Bound what a peer can make us buffer: one instruction never needs more than this.
    const rest = bytes.length - at;
    if (rest > 2 * this.maxTableCapacity + 64) {
      throw new QpackError(QPACK_ENCODER_STREAM_ERROR, "encoder instruction too long");
    }
    this.#pendingEncoder = bytes.slice(at);
  }

  /** Applies one instruction at `at`; returns the offset after it, or `undefined` if partial. */
  #encoderInstruction(bytes: Uint8Array, at: number): number | undefined {
    const code = QPACK_ENCODER_STREAM_ERROR;
    const first = bytes[at];
    if (first & 0x80) {
      // Insert with Name Reference: 1 T index(6+) value.
      const index = readPrefixedInteger(bytes, at, 6, code);
      if (!index) return undefined;
      const value = readString(bytes, index.next, 7, code);
      if (!value) return undefined;
      const name = first & 0x40
        ? this.#staticEntry(index.value, code)[0]
        : this.#entry(this.#inserts - 1 - index.value, code)[0];
      this.#insert([name, value.value]);
      return value.next;
    }
    if (first & 0x40) {
      // Insert with Literal Name: 01 H name-length(5+) name value.
      const name = readString(bytes, at, 5, code);
      if (!name) return undefined;
      const value = readString(bytes, name.next, 7, code);
      if (!value) return undefined;
      this.#insert([name.value, value.value]);
      return value.next;
    }
    if (first & 0x20) {
      // Set Dynamic Table Capacity: 001 capacity(5+).
      const capacity = readPrefixedInteger(bytes, at, 5, code);
      if (!capacity) return undefined;
      if (capacity.value > this.maxTableCapacity) {
        throw new QpackError(code, "dynamic table capacity over the advertised maximum");
      }
      this.#capacity = capacity.value;
      this.#evict(this.#capacity);
      return capacity.next;
    }
    // Duplicate: 000 index(5+).
    const index = readPrefixedInteger(bytes, at, 5, code);
    if (!index) return undefined;
    this.#insert(this.#entry(this.#inserts - 1 - index.value, code));
    return index.next;
  }

  #insert(entry: FieldLine): void {
    const size = entry[0].length + entry[1].length + ENTRY_OVERHEAD;
    if (size > this.#capacity) {
      throw new QpackError(QPACK_ENCODER_STREAM_ERROR, "entry larger than the table capacity");
    }
    this.#evict(this.#capacity - size);
    this.#entries.push(entry);
    this.#size += size;
    this.#inserts++;
  }

  /** Evicts the oldest entries until the table holds at most `room` bytes. */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size > room && drop < this.#entries.length) {
      const [name, value] = this.#entries[drop++];
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
    }
    if (drop > 0) {
      this.#entries = this.#entries.slice(drop);
      this.#dropped += drop;
    }
  }

  #staticEntry(index: number, code: number): FieldLine {
    const entry = STATIC_TABLE[index];
    if (!entry) throw new QpackError(code, `static table index ${index} out of range`);
    return entry;
  }

  /** The entry with absolute index `absolute` (RFC 9204 §3.2.4). */
  #entry(absolute: number, code: number): FieldLine {
    const entry = absolute >= this.#dropped ? this.#entries[absolute - this.#dropped] : undefined;
    if (!entry) throw new QpackError(code, `dynamic table index ${absolute} not available`);
    return entry;
  }

  /** Decodes the Required Insert Count of a section prefix (RFC 9204 §4.5.1.1). */
  #requiredInsertCount(encoded: number): number {
    if (encoded === 0) return 0;
    const maxEntries = Math.floor(this.maxTableCapacity / 32);
    const fullRange = 2 * maxEntries;
    const fail = () => new QpackError(QPACK_DECOMPRESSION_FAILED, "bad Required Insert Count");
    if (encoded > fullRange) throw fail();
    const maxValue = this.#inserts + maxEntries;
    const maxWrapped = Math.floor(maxValue / fullRange) * fullRange;
    let required = maxWrapped + encoded - 1;
    if (required > maxValue) {
      if (required <= fullRange) throw fail();
      required -= fullRange;
    }
    if (required === 0) throw fail();
    return required;
  }

  /**
   * Decodes the field section carried by a HEADERS frame of stream `streamId`. Returns
   * `blocked` when it refers to inserts not received yet. Throws a {@linkcode QpackError}
   * (`QPACK_DECOMPRESSION_FAILED`) on a malformed section, and
   * {@linkcode FieldSectionTooLarge} past `maxSize` (name + value + 32 per line).
   */
  decodeFieldSection(
    streamId: number,
    bytes: Uint8Array,
    maxSize = Infinity,
  ): DecodedSection {
    const code = QPACK_DECOMPRESSION_FAILED;
    const truncated = () => new QpackError(code, "truncated field section");
    const encodedRic = readPrefixedInteger(bytes, 0, 8, code);
    if (!encodedRic) throw truncated();
    const required = this.#requiredInsertCount(encodedRic.value);
    const deltaBase = readPrefixedInteger(bytes, encodedRic.next, 7, code);
    if (!deltaBase) throw truncated();
    if (required > this.#inserts) return { blocked: true, requiredInsertCount: required };
    const negative = (bytes[encodedRic.next] & 0x80) !== 0;
    if (negative && deltaBase.value >= required) {
      throw new QpackError(code, "negative Base below zero");
    }
    const base = negative ? required - deltaBase.value - 1 : required + deltaBase.value;
    const dynamic = (absolute: number): FieldLine => {
      if (absolute >= required) throw new QpackError(code, "reference past Required Insert Count");
      return this.#entry(absolute, code);
    };
    const fields: FieldLine[] = [];
    let size = 0;
    let at = deltaBase.next;
    while (at < bytes.length) {
      const first = bytes[at];
      let line: FieldLine;
      if (first & 0x80) {
        // Indexed Field Line: 1 T index(6+).
        const index = readPrefixedInteger(bytes, at, 6, code);
        if (!index) throw truncated();
        line = first & 0x40
          ? this.#staticEntry(index.value, code)
          : dynamic(base - 1 - index.value);
        at = index.next;
      } else if (first & 0x40) {
        // Literal Field Line with Name Reference: 01 N T index(4+) value.
        const index = readPrefixedInteger(bytes, at, 4, code);
        if (!index) throw truncated();
        const name = first & 0x10
          ? this.#staticEntry(index.value, code)[0]
          : dynamic(base - 1 - index.value)[0];
        const value = readString(bytes, index.next, 7, code);
        if (!value) throw truncated();
        line = [name, value.value];
        at = value.next;
      } else if (first & 0x20) {
        // Literal Field Line with Literal Name: 001 N H name-length(3+) name value.
        const name = readString(bytes, at, 3, code);
        if (!name) throw truncated();
        const value = readString(bytes, name.next, 7, code);
        if (!value) throw truncated();
        line = [name.value, value.value];
        at = value.next;
      } else if (first & 0x10) {
        // Indexed Field Line with Post-Base Index: 0001 index(4+).
        const index = readPrefixedInteger(bytes, at, 4, code);
        if (!index) throw truncated();
        line = dynamic(base + index.value);
        at = index.next;
      } else {
        // Literal Field Line with Post-Base Name Reference: 0000 N index(3+) value.
        const index = readPrefixedInteger(bytes, at, 3, code);
        if (!index) throw truncated();
        const value = readString(bytes, index.next, 7, code);
        if (!value) throw truncated();
        line = [dynamic(base + index.value)[0], value.value];
        at = value.next;
      }
      size += line[0].length + line[1].length + ENTRY_OVERHEAD;
      if (size > maxSize) throw new FieldSectionTooLarge(size);
      fields.push(line);
    }
    if (required > 0) {
      // Section Acknowledgment (RFC 9204 §4.4.1): 1 stream-id(7+).
      writePrefixedInteger(this.#instructions, streamId, 7, 0x80);
      this.#acknowledged = Math.max(this.#acknowledged, required);
    }
    return { blocked: false, fields, requiredInsertCount: required };
  }

  /** Records a Stream Cancellation (RFC 9204 §4.4.2) for a stream reset before decoding. */
  cancelStream(streamId: number): void {
    writePrefixedInteger(this.#instructions, streamId, 6, 0x40);
  }

  /**
   * The decoder stream bytes owed to the peer: acknowledgments and cancellations recorded
   * so far, then an Insert Count Increment (RFC 9204 §4.4.3) for inserts not yet
   * acknowledged. `undefined` when nothing is owed.
   */
  takeDecoderInstructions(): Uint8Array | undefined {
    const increment = this.#inserts - this.#acknowledged;
    if (increment > 0) {
      writePrefixedInteger(this.#instructions, increment, 6, 0x00);
      this.#acknowledged = this.#inserts;
    }
    if (this.#instructions.length === 0) return undefined;
    const out = Uint8Array.from(this.#instructions);
    this.#instructions = [];
    return out;
  }
}
