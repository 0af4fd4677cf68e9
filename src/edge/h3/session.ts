/**
 * One HTTP/3 connection (RFC 9114 §3-§6): the control streams and SETTINGS both ways, the
 * QPACK encoder and decoder streams, request streams handed to `request_stream.ts`, GOAWAY
 * when the listener drains, and connection errors closed with their code.
 * @module
 */
import {
  decodeIdPayload,
  decodeSettings,
  encodeFrame,
  encodeGoaway,
  encodeSettings,
  FrameParser,
  FrameType,
  H3Code,
  H3Error,
  RESERVED_HTTP2_FRAME_TYPES,
  Setting,
  StreamType,
} from "./frames.ts";
import {
  encodeFieldSection,
  QPACK_DECODER_STREAM_ERROR,
  QpackError,
  readPrefixedInteger,
} from "./qpack.ts";
import { QpackDecoder } from "./qpack_decoder.ts";
import { type RequestStreamContext, serveRequestStream } from "./request_stream.ts";
import { readVarint } from "./varint.ts";

/**
 * Delay between the end of the last request after GOAWAY and closing the connection: a
 * response counts as complete once its last bytes are queued, and closing the connection
 * discards what is still unsent (the runtime cannot wait for the peer's acknowledgment).
 */
const GOAWAY_CLOSE_DELAY_MS = 2000;

/** How long after a connection error its CONNECTION_CLOSE is sent (see `fail`). */
const ERROR_CLOSE_DELAY_MS = 20;

/** The dynamic table capacity sProx's decoder offers the peer's encoder. */
export const QPACK_TABLE_CAPACITY = 4096;

/** What a session is told to do with requests and what it reports. */
export interface SessionOptions {
  /** Largest decoded request field section (advertised as SETTINGS_MAX_FIELD_SECTION_SIZE). */
  readonly maxFieldSectionSize: number;
  readonly headerTimeoutMs: number;
  handler: RequestStreamContext["handler"];
  refusal: RequestStreamContext["refusal"];
  failure: RequestStreamContext["failure"];
  /** An HTTP/3 error, of the connection or of one stream (code from `H3Code`). */
  onError(code: number, scope: "connection" | "stream"): void;
}

/** Unidirectional streams of the peer that must stay open (RFC 9114 §6.2.1, RFC 9204 §4.2). */
type CriticalStream = "control" | "encoder" | "decoder";

/**
 * Serves HTTP/3 on an established QUIC connection.
 *
 * @example
 * ```ts
 * const session = new H3Session(await incoming.accept(), options);
 * session.start();
 * await session.finished;
 * ```
 */
export class H3Session {
  readonly #conn: Deno.QuicConn;
  readonly #options: SessionOptions;
  readonly #decoder = new QpackDecoder({ maxTableCapacity: QPACK_TABLE_CAPACITY });
  #control: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #decoderStream: Promise<WritableStreamDefaultWriter<Uint8Array> | undefined> | undefined;
  #opened = new Set<CriticalStream>();
  /** Lowest request stream id not yet accepted. */
  #nextStreamId = 0;
  /** The id sent in GOAWAY; requests at or above it are refused. */
  #goawayId: number | undefined;
  #closed = false;
  /** A connection error is being closed with. */
  #failing = false;
  #inFlight = 0;
  /** Settles when the connection is closed (by either side). */
  readonly finished: Promise<void>;

  constructor(conn: Deno.QuicConn, options: SessionOptions) {
    this.#conn = conn;
    this.#options = options;
    this.finished = conn.closed.then(() => {}, () => {}).finally(() => {
      this.#closed = true;
    });
  }

  /** Requests being served. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Opens the control stream with SETTINGS and starts accepting the peer's streams. */
  start(): void {
    void this.#openControl();
    void this.#acceptUnidirectional();
    void this.#acceptRequests();
  }

  async #openControl(): Promise<void> {
    try {
      const stream = await this.#conn.createUnidirectionalStream();
      this.#control = stream.getWriter();
      await this.#control.write(Uint8Array.of(StreamType.CONTROL));
      await this.#control.write(encodeSettings([
        [Setting.QPACK_MAX_TABLE_CAPACITY, QPACK_TABLE_CAPACITY],
        [Setting.QPACK_BLOCKED_STREAMS, 0],
        [Setting.MAX_FIELD_SECTION_SIZE, this.#options.maxFieldSectionSize],
      ]));
      if (this.#goawayId !== undefined) await this.#control.write(encodeGoaway(this.#goawayId));
    } catch {
      // The connection closed before its control stream could open.
    }
  }

  /**
   * Sends GOAWAY (RFC 9114 §5.2): requests already accepted finish; the peer opens no new
   * ones on this connection. The caller closes the connection once nothing is in flight.
   */
  goaway(): void {
    if (this.#goawayId !== undefined || this.#closed) return;
    this.#goawayId = this.#nextStreamId;
    this.#control?.write(encodeGoaway(this.#goawayId)).catch(() => {});
    this.#closeIfDrained();
  }

  /** After GOAWAY, the connection closes once its last request is done. */
  #closeIfDrained(): void {
    if (this.#goawayId === undefined || this.#inFlight > 0 || this.#closed) return;
    // A moment for GOAWAY and the last response to leave before CONNECTION_CLOSE.
    setTimeout(() => {
      if (this.#inFlight === 0) this.close();
    }, GOAWAY_CLOSE_DELAY_MS);
  }

  /**
   * Closes the connection without cutting a response: GOAWAY, then close once nothing is
   * in flight and the last response had time to leave.
   */
  closeGracefully(): void {
    this.goaway();
  }

  /** Closes the connection at once with `code` (H3_NO_ERROR by default). */
  close(code: number = H3Code.NO_ERROR, reason = ""): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch {
      // Already closed.
    }
  }

  /**
   * A connection error (RFC 9114 §8): counted, then the connection closes with its code, a
   * moment later ({@linkcode ERROR_CLOSE_DELAY_MS}): the runtime loses a close issued in the
   * same turn as the stream writes before it (the peer saw a reset, or nothing until its idle
   * timeout, instead of the code).
   */
  fail(error: H3Error, keep?: object): void {
    if (this.#closed || this.#failing) return;
    this.#failing = true;
    this.#options.onError(error.code, "connection");
    const reason = error.message.slice(0, 100);
    // `keep` (a response stream cut short) is held by this timer until the close: collected
    // earlier, the runtime would end it with FIN, as if complete.
    setTimeout(() => {
      void keep;
      this.close(error.code, reason);
    }, ERROR_CLOSE_DELAY_MS);
  }

  async #acceptRequests(): Promise<void> {
    const streams = this.#conn.incomingBidirectionalStreams.getReader();
    try {
      while (true) {
        const { value: stream, done } = await streams.read();
        if (done) return;
        const id = Number(stream.readable.id);
        this.#nextStreamId = Math.max(this.#nextStreamId, id + 4);
        if (this.#goawayId !== undefined && id >= this.#goawayId) {
          // After GOAWAY (a race with the client): refused unprocessed, safe to retry.
          this.#options.onError(H3Code.REQUEST_REJECTED, "stream");
          void this.#refuse(stream);
          continue;
        }
        this.#inFlight++;
        void serveRequestStream(stream, id, this.#streamContext()).catch(() => {}).finally(() => {
          this.#inFlight--;
          this.#closeIfDrained();
        });
      }
    } catch {
      // The connection closed.
    }
  }

  /** Answers 503 without reading the request (it was not processed; RFC 9114 §5.2). */
  async #refuse(stream: Deno.QuicBidirectionalStream): Promise<void> {
    stream.readable.cancel().catch(() => {});
    const writer = stream.writable.getWriter();
    const fields = encodeFieldSection([[":status", "503"], ["retry-after", "1"]]);
    await writer.write(encodeFrame(FrameType.HEADERS, fields)).catch(() => {});
    await writer.close().catch(() => {});
  }

  #streamContext(): RequestStreamContext {
    const options = this.#options;
    return {
      decoder: this.#decoder,
      flushDecoderInstructions: () => this.#flushDecoderInstructions(),
      maxFieldSectionSize: options.maxFieldSectionSize,
      headerTimeoutMs: options.headerTimeoutMs,
      remoteAddr: this.#conn.remoteAddr,
      handler: options.handler,
      refusal: options.refusal,
      failure: options.failure,
      connectionError: (error, keep) => this.fail(error, keep),
      streamError: (code) => options.onError(code, "stream"),
    };
  }

  #flushDecoderInstructions(): void {
    const bytes = this.#decoder.takeDecoderInstructions();
    if (!bytes) return;
    this.#decoderStream ??= (async () => {
      try {
        const stream = await this.#conn.createUnidirectionalStream();
        const writer = stream.getWriter();
        await writer.write(Uint8Array.of(StreamType.QPACK_DECODER));
        return writer;
      } catch {
        return undefined;
      }
    })();
    // Writes queue in order on the writer.
    this.#decoderStream.then((writer) => writer?.write(bytes)).catch(() => {});
  }

  async #acceptUnidirectional(): Promise<void> {
    const streams = this.#conn.incomingUnidirectionalStreams.getReader();
    try {
      while (true) {
        const { value: stream, done } = await streams.read();
        if (done) return;
        void this.#serveUnidirectional(stream).catch((error) => {
          if (error instanceof H3Error) this.fail(error);
        });
      }
    } catch {
      // The connection closed.
    }
  }

  /** Reads a peer's unidirectional stream: its type, then its content. */
  async #serveUnidirectional(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    let buffer = new Uint8Array(0);
    let type: number | undefined;
    let rest: Uint8Array = new Uint8Array(0);
    while (type === undefined) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch {
        return; // Reset by the peer before its type: ignored (RFC 9114 §6.2).
      }
      if (read.done) return;
      const joined = new Uint8Array(buffer.length + read.value.length);
      joined.set(buffer);
      joined.set(read.value, buffer.length);
      const varint = readVarint(joined, 0);
      if (varint) {
        type = varint.value;
        rest = joined.subarray(varint.length);
      } else buffer = joined;
    }
    const critical: Record<number, CriticalStream> = {
      [StreamType.CONTROL]: "control",
      [StreamType.QPACK_ENCODER]: "encoder",
      [StreamType.QPACK_DECODER]: "decoder",
    };
    if (type === StreamType.PUSH) {
      // Only servers push (RFC 9114 §6.2.2).
      throw new H3Error(H3Code.STREAM_CREATION_ERROR, "push stream from a client");
    }
    const kind = critical[type];
    if (kind === undefined) {
      // Unknown or reserved stream type: not read (RFC 9114 §6.2, §9).
      reader.cancel().catch(() => {});
      return;
    }
    if (this.#opened.has(kind)) {
      throw new H3Error(H3Code.STREAM_CREATION_ERROR, `second ${kind} stream`);
    }
    this.#opened.add(kind);
    const consume = kind === "control"
      ? this.#controlConsumer()
      : kind === "encoder"
      ? (chunk: Uint8Array) => {
        this.#decoder.receiveEncoderStream(chunk);
        this.#flushDecoderInstructions();
      }
      : this.#decoderStreamConsumer();
    try {
      if (rest.length > 0) consume(rest);
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        consume(value);
      }
    } catch (error) {
      if (error instanceof H3Error) throw error;
      if (error instanceof QpackError) throw new H3Error(error.code, error.message);
      if (this.#closed) return;
    }
    if (!this.#closed) {
      throw new H3Error(H3Code.CLOSED_CRITICAL_STREAM, `${kind} stream closed`);
    }
  }

  /** The peer's control stream (RFC 9114 §6.2.1): SETTINGS first, then GOAWAY and others. */
  #controlConsumer(): (chunk: Uint8Array) => void {
    let settingsSeen = false;
    const parser = new FrameParser((type) => {
      if (!settingsSeen && type !== FrameType.SETTINGS) {
        throw new H3Error(H3Code.MISSING_SETTINGS, "control stream must start with SETTINGS");
      }
      if (type === FrameType.SETTINGS) {
        if (settingsSeen) throw new H3Error(H3Code.FRAME_UNEXPECTED, "second SETTINGS");
        settingsSeen = true;
        return { action: "buffer", limit: 4096 };
      }
      if (
        type === FrameType.DATA || type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE ||
        RESERVED_HTTP2_FRAME_TYPES.has(type)
      ) {
        throw new H3Error(
          H3Code.FRAME_UNEXPECTED,
          `frame 0x${type.toString(16)} on the control stream`,
        );
      }
      if (
        type === FrameType.GOAWAY || type === FrameType.MAX_PUSH_ID ||
        type === FrameType.CANCEL_PUSH
      ) {
        return { action: "buffer", limit: 8 };
      }
      return { action: "skip" };
    });
    return (chunk) => {
      parser.push(chunk);
      for (const event of parser.drain()) {
        if (event.kind !== "frame") continue;
        if (event.type === FrameType.SETTINGS) decodeSettings(event.payload);
        // The client's GOAWAY names push ids (we never push); MAX_PUSH_ID and
        // CANCEL_PUSH likewise only need to be well-formed.
        else decodeIdPayload(event.payload);
      }
    };
  }

  /**
   * The peer's QPACK decoder stream (RFC 9204 §4.4). sProx's encoder never uses the dynamic
   * table, so an acknowledgment or an insert count increment is an error; cancellations are
   * fine.
   */
  #decoderStreamConsumer(): (chunk: Uint8Array) => void {
    let pending = new Uint8Array(0);
    const code = QPACK_DECODER_STREAM_ERROR;
    return (chunk) => {
      const bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      let at = 0;
      while (at < bytes.length) {
        const first = bytes[at];
        const prefix = first & 0x80 ? 7 : 6;
        const value = readPrefixedInteger(bytes, at, prefix, code);
        if (!value) break;
        if (first & 0x80) throw new H3Error(code, "acknowledgment of a section without references");
        if ((first & 0x40) === 0) throw new H3Error(code, "insert count increment without inserts");
        at = value.next;
      }
      pending = bytes.slice(at);
    };
  }
}
