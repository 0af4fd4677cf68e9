/**
 * HTTP/3 frames (RFC 9114 §7): the type and error code registries, encoders, and an
 * incremental parser that streams DATA payloads and buffers the other frames up to a limit.
 * @module
 */
import { encodedVarintLength, encodeVarint, readVarint } from "./varint.ts";

/** Frame types (RFC 9114 §7.2). */
export const FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** HTTP/2 frame types that HTTP/3 reserves; receiving one is H3_FRAME_UNEXPECTED (§7.2.8). */
export const RESERVED_HTTP2_FRAME_TYPES: ReadonlySet<number> = new Set([0x02, 0x06, 0x08, 0x09]);

/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2). */
export const StreamType = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
} as const;

/** Settings identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5). */
export const Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
} as const;

/** HTTP/2 settings that HTTP/3 reserves; receiving one is H3_SETTINGS_ERROR (§7.2.4.1). */
const RESERVED_HTTP2_SETTINGS = new Set([0x02, 0x03, 0x04, 0x05]);

/** HTTP/3 error codes (RFC 9114 §8.1). */
export const H3Code = {
  NO_ERROR: 0x100,
  GENERAL_PROTOCOL_ERROR: 0x101,
  INTERNAL_ERROR: 0x102,
  STREAM_CREATION_ERROR: 0x103,
  CLOSED_CRITICAL_STREAM: 0x104,
  FRAME_UNEXPECTED: 0x105,
  FRAME_ERROR: 0x106,
  EXCESSIVE_LOAD: 0x107,
  ID_ERROR: 0x108,
  SETTINGS_ERROR: 0x109,
  MISSING_SETTINGS: 0x10a,
  REQUEST_REJECTED: 0x10b,
  REQUEST_CANCELLED: 0x10c,
  REQUEST_INCOMPLETE: 0x10d,
  MESSAGE_ERROR: 0x10e,
  CONNECT_ERROR: 0x10f,
  VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
} as const;

const CODE_NAMES = new Map<number, string>(
  Object.entries(H3Code).map(([name, code]) => [
    code,
    name.startsWith("QPACK") ? name : `H3_${name}`,
  ]),
);

/** The registry name of an error code (`H3_FRAME_ERROR`), or `unknown`. */
export function errorCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? "unknown";
}

/** An HTTP/3 error: of the whole connection, or of one request stream. */
export class H3Error extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly scope: "connection" | "stream" = "connection",
  ) {
    super(message);
    this.name = "H3Error";
  }
}

/** The frame type and payload length, encoded (the payload follows). */
export function encodeFrameHeader(type: number, length: number): Uint8Array {
  const out = new Uint8Array(encodedVarintLength(type) + encodedVarintLength(length));
  const t = encodeVarint(type);
  out.set(t);
  out.set(encodeVarint(length), t.length);
  return out;
}

/**
 * A whole frame: type, length, payload.
 *
 * @example
 * ```ts
 * encodeFrame(FrameType.DATA, new TextEncoder().encode("hi")); // 00 02 68 69
 * ```
 */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const header = encodeFrameHeader(type, payload.length);
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** A SETTINGS frame carrying `settings` in order (RFC 9114 §7.2.4). */
export function encodeSettings(settings: Iterable<readonly [number, number]>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [id, value] of settings) parts.push(encodeVarint(id), encodeVarint(value));
  return encodeFrame(FrameType.SETTINGS, concat(parts));
}

/**
 * Reads a SETTINGS payload. Throws an {@linkcode H3Error}: H3_SETTINGS_ERROR for a repeated
 * identifier or a reserved HTTP/2 one, H3_FRAME_ERROR for a payload cut mid-pair.
 */
export function decodeSettings(payload: Uint8Array): Map<number, number> {
  const settings = new Map<number, number>();
  let at = 0;
  while (at < payload.length) {
    const id = readVarint(payload, at);
    const value = id && readVarint(payload, at + id.length);
    if (!id || !value) throw new H3Error(H3Code.FRAME_ERROR, "truncated SETTINGS frame");
    if (RESERVED_HTTP2_SETTINGS.has(id.value)) {
      throw new H3Error(
        H3Code.SETTINGS_ERROR,
        `reserved HTTP/2 setting 0x${id.value.toString(16)}`,
      );
    }
    if (settings.has(id.value)) {
      throw new H3Error(H3Code.SETTINGS_ERROR, `repeated setting 0x${id.value.toString(16)}`);
    }
    settings.set(id.value, value.value);
    at += id.length + value.length;
  }
  return settings;
}

/** A GOAWAY frame carrying a stream (or push) id (RFC 9114 §7.2.6). */
export function encodeGoaway(id: number): Uint8Array {
  return encodeFrame(FrameType.GOAWAY, encodeVarint(id));
}

/**
 * Reads the single varint payload of GOAWAY, MAX_PUSH_ID or CANCEL_PUSH; H3_FRAME_ERROR
 * when the payload is not exactly one varint.
 */
export function decodeIdPayload(payload: Uint8Array): number {
  const id = readVarint(payload, 0);
  if (!id || id.length !== payload.length) {
    throw new H3Error(H3Code.FRAME_ERROR, "malformed identifier payload");
  }
  return id.value;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * What the parser does with a frame, decided when its header arrives: `buffer` it whole (up
 * to `limit` bytes: more is an error), `stream` its payload as it arrives (DATA), or `skip`
 * it (unknown and reserved types, RFC 9114 §9). The decision may throw an {@linkcode H3Error}
 * (a frame not allowed here).
 */
export type FramePolicy = (
  type: number,
  length: number,
) => { readonly action: "buffer"; readonly limit: number } | {
  readonly action: "stream" | "skip";
};

/** What the parser yields. */
export type FrameEvent =
  | { readonly kind: "frame"; readonly type: number; readonly payload: Uint8Array }
  | { readonly kind: "data"; readonly chunk: Uint8Array };

/**
 * An incremental frame parser for one stream.
 *
 * @example
 * ```ts
 * const parser = new FrameParser(() => ({ action: "buffer", limit: 16384 }));
 * parser.push(chunk);
 * for (const event of parser.drain()) console.log(event);
 * ```
 */
export class FrameParser {
  #policy: FramePolicy;
  #buffer: Uint8Array = new Uint8Array(0);
  /** The frame whose payload is being streamed, buffered or skipped. */
  #current:
    | { type: number; remaining: number; action: "stream" | "skip" }
    | { type: number; remaining: number; action: "buffer"; parts: Uint8Array[] }
    | undefined;

  constructor(policy: FramePolicy) {
    this.#policy = policy;
  }

  /** Whether the parser sits between frames (the stream may end here). */
  get atBoundary(): boolean {
    return this.#current === undefined && this.#buffer.length === 0;
  }

  /** Adds bytes read from the stream. */
  push(chunk: Uint8Array): void {
    if (this.#buffer.length === 0) this.#buffer = chunk;
    else this.#buffer = concat([this.#buffer, chunk]);
  }

  /** Yields every event the bytes so far complete. Throws {@linkcode H3Error}. */
  *drain(): Generator<FrameEvent> {
    while (true) {
      const current = this.#current;
      if (current === undefined) {
        const type = readVarint(this.#buffer, 0);
        const length = type && readVarint(this.#buffer, type.length);
        if (!type || !length) {
          // A frame header is at most 16 bytes; anything longer that still fails is garbage
          // no reader could make progress on, which cannot happen with varints.
          return;
        }
        this.#buffer = this.#buffer.subarray(type.length + length.length);
        const decision = this.#policy(type.value, length.value);
        if (decision.action === "buffer") {
          if (length.value > decision.limit) {
            throw new H3Error(
              type.value === FrameType.HEADERS ? H3Code.EXCESSIVE_LOAD : H3Code.FRAME_ERROR,
              `frame 0x${
                type.value.toString(16)
              } of ${length.value} bytes is over ${decision.limit}`,
            );
          }
          this.#current = {
            type: type.value,
            remaining: length.value,
            action: "buffer",
            parts: [],
          };
        } else {
          this.#current = { type: type.value, remaining: length.value, action: decision.action };
        }
        continue;
      }
      if (current.remaining > 0) {
        if (this.#buffer.length === 0) return;
        const take = Math.min(current.remaining, this.#buffer.length);
        const piece = this.#buffer.subarray(0, take);
        this.#buffer = this.#buffer.subarray(take);
        current.remaining -= take;
        if (current.action === "stream") yield { kind: "data", chunk: piece };
        else if (current.action === "buffer") current.parts.push(piece);
        if (current.remaining > 0) return;
      }
      this.#current = undefined;
      if (current.action === "buffer") {
        yield { kind: "frame", type: current.type, payload: concat(current.parts) };
      }
    }
  }
}
