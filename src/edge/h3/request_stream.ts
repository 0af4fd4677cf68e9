/**
 * One HTTP/3 request stream (RFC 9114 §4.1): HEADERS, then DATA, then optional trailers
 * in; HEADERS then DATA out. The request becomes a `Request` (body streamed with
 * backpressure), the handler's `Response` is framed back as its body is read.
 *
 * The runtime's QUIC streams cannot carry a stream error code: aborting a send stream ends
 * it with FIN (as if complete) and cancelling a receive stream sends STOP_SENDING with code
 * 0. So where RFC 9114 calls for a stream error, the request is answered with an HTTP status
 * (400, 431, 501, 503); and a response body that fails part-way closes the whole connection
 * with H3_INTERNAL_ERROR, the only signal that keeps a cut-off body from looking complete.
 * @module
 */
import {
  concat,
  encodeFrame,
  encodeFrameHeader,
  FrameParser,
  type FramePolicy,
  FrameType,
  H3Code,
  H3Error,
  RESERVED_HTTP2_FRAME_TYPES,
} from "./frames.ts";
import { MalformedRequest, requestHead, responseFields, responseHasNoContent } from "./message.ts";
import { encodeFieldSection, QpackError } from "./qpack.ts";
import { FieldSectionTooLarge, type QpackDecoder } from "./qpack_decoder.ts";

/** What a request stream needs from its connection. */
export interface RequestStreamContext {
  readonly decoder: QpackDecoder;
  /** Sends what the QPACK decoder owes the peer (section acknowledgments). */
  flushDecoderInstructions(): void;
  /** Largest decoded field section (name + value + 32 per line). */
  readonly maxFieldSectionSize: number;
  /** Time a stream may take to deliver its HEADERS frame. */
  readonly headerTimeoutMs: number;
  readonly remoteAddr: Deno.NetAddr;
  /** The application. */
  handler(
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response>;
  /** The response for a request refused before the application (400, 431, 501). */
  refusal(status: 400 | 431 | 501, message: string): Response;
  /** The response for a handler that threw. */
  failure(error: unknown): Response | Promise<Response>;
  /**
   * A connection error: the connection is closed with its code. `keep` (a response stream cut
   * short) stays referenced until then: the runtime ends a collected send stream with FIN,
   * which would make a cut-off body look complete.
   */
  connectionError(error: H3Error, keep?: object): void;
  /** A request refused or cut at the stream level, for metrics (HTTP/3 code name). */
  streamError(code: number): void;
}

/** Bytes above which a DATA payload is written apart from its frame header (no copy). */
const COPY_LIMIT = 16 * 1024;

/** Request-stream frame rules (RFC 9114 §4.1, §7.2): what may come in which phase. */
function requestPolicy(
  state: { phase: "head" | "body" | "trailers" },
  maxHeaders: number,
): FramePolicy {
  return (type) => {
    if (type === FrameType.HEADERS) {
      if (state.phase === "trailers") {
        throw new H3Error(H3Code.FRAME_UNEXPECTED, "HEADERS after trailers");
      }
      return { action: "buffer", limit: maxHeaders };
    }
    if (type === FrameType.DATA) {
      if (state.phase !== "body") {
        throw new H3Error(H3Code.FRAME_UNEXPECTED, "DATA outside the body");
      }
      return { action: "stream" };
    }
    if (
      type === FrameType.SETTINGS || type === FrameType.GOAWAY || type === FrameType.MAX_PUSH_ID ||
      type === FrameType.CANCEL_PUSH || type === FrameType.PUSH_PROMISE ||
      RESERVED_HTTP2_FRAME_TYPES.has(type)
    ) {
      throw new H3Error(
        H3Code.FRAME_UNEXPECTED,
        `frame 0x${type.toString(16)} on a request stream`,
      );
    }
    return { action: "skip" };
  };
}

/** Reads frames of one request stream. */
class RequestReader {
  readonly state: { phase: "head" | "body" | "trailers" } = { phase: "head" };
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #parser: FrameParser;
  #events: Generator<import("./frames.ts").FrameEvent> | undefined;
  ended = false;

  constructor(readable: ReadableStream<Uint8Array>, maxHeaders: number) {
    this.#reader = readable.getReader();
    this.#parser = new FrameParser(requestPolicy(this.state, maxHeaders));
  }

  /**
   * The next frame event, or `undefined` at the end of the stream. Throws H3Error (a frame
   * error) or the read error (the peer reset the stream, the connection closed).
   */
  async next(): Promise<import("./frames.ts").FrameEvent | undefined> {
    while (true) {
      if (this.#events) {
        const step = this.#events.next();
        if (!step.done) return step.value;
        this.#events = undefined;
      }
      if (this.ended) return undefined;
      const { value, done } = await this.#reader.read();
      if (done) {
        this.ended = true;
        // RFC 9114 §7.1: a frame cut by the end of the stream is a frame error.
        if (!this.#parser.atBoundary) {
          throw new H3Error(H3Code.FRAME_ERROR, "stream ended mid-frame");
        }
        return undefined;
      }
      this.#parser.push(value);
      this.#events = this.#parser.drain();
    }
  }

  /** Stops reading (STOP_SENDING when the peer has not finished). */
  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/**
 * Serves one request stream. Never throws: protocol errors become connection errors or
 * HTTP answers, and the stream is left finished either way.
 */
export async function serveRequestStream(
  stream: Deno.QuicBidirectionalStream,
  streamId: number,
  context: RequestStreamContext,
): Promise<void> {
  const maxHeaders = context.maxFieldSectionSize + 1024;
  const reader = new RequestReader(stream.readable, maxHeaders);
  const writer = stream.writable.getWriter();
  const abort = new AbortController();
  let fields;
  try {
    const headers = await withTimeout(readHeaders(reader), context.headerTimeoutMs);
    if (headers === "timeout" || headers === undefined) {
      // No head in time (or a stream closed without one): nothing to answer.
      reader.cancel();
      await writer.close().catch(() => {});
      return;
    }
    const section = context.decoder.decodeFieldSection(
      streamId,
      headers,
      context.maxFieldSectionSize,
    );
    if (section.blocked) {
      // SETTINGS_QPACK_BLOCKED_STREAMS is 0 (RFC 9204 §2.1.2).
      throw new H3Error(H3Code.QPACK_DECOMPRESSION_FAILED, "field section would block");
    }
    context.flushDecoderInstructions();
    fields = section.fields;
  } catch (error) {
    if (error instanceof FieldSectionTooLarge) {
      context.flushDecoderInstructions();
      context.streamError(H3Code.EXCESSIVE_LOAD);
      reader.cancel();
      await writeResponse(
        writer,
        "GET",
        context.refusal(431, "request header fields too large"),
        abort.signal,
        context,
      );
      return;
    }
    failStream(error, context, reader, writer);
    return;
  }
  let head;
  try {
    head = requestHead(fields);
  } catch (error) {
    if (!(error instanceof MalformedRequest)) throw error;
    context.streamError(H3Code.MESSAGE_ERROR);
    reader.cancel();
    await writeResponse(
      writer,
      "GET",
      context.refusal(error.status, error.message),
      abort.signal,
      context,
    );
    return;
  }
  reader.state.phase = "body";
  const hasBody = head.method !== "GET" && head.method !== "HEAD";
  const body = hasBody ? requestBody(reader, head.contentLength, abort, context) : null;
  if (!hasBody) void drainRequest(reader, head.contentLength, abort, context);
  const request = new Request(head.url, {
    method: head.method,
    headers: head.headers,
    body,
    signal: abort.signal,
  });
  const completed = Promise.withResolvers<void>();
  completed.promise.catch(() => {});
  let response: Response;
  try {
    response = await context.handler(request, {
      remoteAddr: context.remoteAddr,
      completed: completed.promise,
    });
  } catch (error) {
    response = await Promise.resolve(context.failure(error)).catch(() =>
      context.refusal(400, "request failed")
    );
  }
  const delivered = await writeResponse(writer, head.method, response, abort.signal, context);
  if (delivered) completed.resolve();
  else {
    abort.abort();
    completed.reject(new Error("response not delivered"));
  }
}

/** Reads up to the request's HEADERS frame; `undefined` if the stream ended first. */
async function readHeaders(reader: RequestReader): Promise<Uint8Array | undefined> {
  while (true) {
    const event = await reader.next();
    if (event === undefined) return undefined;
    if (event.kind === "frame") return event.payload;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A stream that failed before a request existed: connection error, or just stop. */
function failStream(
  error: unknown,
  context: RequestStreamContext,
  reader: RequestReader,
  writer: WritableStreamDefaultWriter<Uint8Array>,
): void {
  if (error instanceof H3Error) context.connectionError(error);
  else if (error instanceof QpackError) {
    context.connectionError(new H3Error(error.code, error.message));
  }
  // Otherwise the peer reset the stream or the connection is gone: nothing to say.
  reader.cancel();
  writer.close().catch(() => {});
}

/** A frame or read error after the head: connection error (frame errors) or client gone. */
function bodyFailure(error: unknown, context: RequestStreamContext, abort: AbortController): Error {
  if (error instanceof H3Error) context.connectionError(error);
  abort.abort();
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The request body: DATA payloads as they arrive (pulled: backpressure reaches the peer
 * through QUIC flow control), checked against `content-length` (RFC 9114 §4.1.2).
 */
function requestBody(
  reader: RequestReader,
  contentLength: number | undefined,
  abort: AbortController,
  context: RequestStreamContext,
): ReadableStream<Uint8Array> {
  let received = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        while (true) {
          const event = await reader.next();
          if (event === undefined) {
            if (contentLength !== undefined && received !== contentLength) {
              context.streamError(H3Code.MESSAGE_ERROR);
              throw new Error("request body shorter than content-length");
            }
            controller.close();
            return;
          }
          if (event.kind === "frame") {
            // Trailers: accepted and not forwarded.
            reader.state.phase = "trailers";
            continue;
          }
          received += event.chunk.length;
          if (contentLength !== undefined && received > contentLength) {
            context.streamError(H3Code.MESSAGE_ERROR);
            throw new Error("request body longer than content-length");
          }
          if (event.chunk.length === 0) continue;
          controller.enqueue(event.chunk.slice());
          return;
        }
      } catch (error) {
        controller.error(bodyFailure(error, context, abort));
      }
    },
    cancel() {
      reader.cancel();
    },
  }, { highWaterMark: 0 });
}

/**
 * For a request without a body (GET, HEAD): reads the rest of the stream so that a peer
 * that cancels the request (resets the stream) aborts it, and checks the frames.
 */
async function drainRequest(
  reader: RequestReader,
  contentLength: number | undefined,
  abort: AbortController,
  context: RequestStreamContext,
): Promise<void> {
  try {
    while (true) {
      const event = await reader.next();
      if (event === undefined) return;
      if (event.kind === "frame") reader.state.phase = "trailers";
      else if (contentLength === undefined && event.chunk.length > 0) {
        // A body on GET/HEAD is not forwarded.
        continue;
      }
    }
  } catch (error) {
    bodyFailure(error, context, abort);
  }
}

/**
 * Frames and writes a response; true when all of it (and FIN) reached the stream. A body
 * that fails part-way closes the connection (see the module note); a peer that stops the
 * stream cancels the body, so the upstream stops too.
 */
async function writeResponse(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  method: string,
  response: Response,
  signal: AbortSignal,
  context: RequestStreamContext,
): Promise<boolean> {
  const noContent = responseHasNoContent(method, response.status);
  const headers = encodeFrame(FrameType.HEADERS, encodeFieldSection(responseFields(response)));
  const body = noContent ? null : response.body;
  if (noContent) response.body?.cancel().catch(() => {});
  try {
    await writer.write(headers);
  } catch {
    await body?.cancel().catch(() => {});
    return false;
  }
  if (body) {
    const reader = body.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        // The body's source failed: the client must not take the cut-off body as complete.
        context.connectionError(
          new H3Error(H3Code.INTERNAL_ERROR, "response body failed"),
          writer,
        );
        return false;
      }
      if (chunk.done) break;
      const data = chunk.value;
      if (data.length === 0) continue;
      try {
        const header = encodeFrameHeader(FrameType.DATA, data.length);
        if (data.length <= COPY_LIMIT) await writer.write(concat([header, data]));
        else {
          await writer.write(header);
          await writer.write(data);
        }
      } catch {
        // The peer stopped the stream or the connection closed: the client is gone.
        await reader.cancel().catch(() => {});
        return false;
      }
      if (signal.aborted) {
        await reader.cancel().catch(() => {});
        return false;
      }
    }
  }
  try {
    await writer.close();
    return true;
  } catch {
    return false;
  }
}
