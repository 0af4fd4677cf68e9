/**
 * HTTP/3 (RFC 9114) with QPACK (RFC 9204) over the runtime's QUIC transport: the codecs
 * (varints, frames, Huffman, QPACK) are pure; `session.ts` and `request_stream.ts` turn a
 * QUIC connection's streams into `Request`s for the application and its `Response`s back
 * into frames; `endpoint.ts` is the UDP socket.
 * @module
 */
export { type QuicBindOptions, QuicSocket } from "./endpoint.ts";
export { H3Session, type SessionOptions } from "./session.ts";
export { errorCodeName, H3Code } from "./frames.ts";
