/**
 * A small HTTP/3 client over the runtime's QUIC, built from sProx's own codecs: for protocol
 * tests that send exact (often malformed) frames and read exact answers. End-to-end tests
 * use clients nobody here wrote (Chromium, ngtcp2).
 * @module
 */
import {
  concat,
  decodeIdPayload,
  decodeSettings,
  encodeFrame,
  encodeSettings,
  type FrameEvent,
  FrameParser,
  FrameType,
} from "../../src/edge/h3/frames.ts";
import { encodeFieldSection, type FieldLine } from "../../src/edge/h3/qpack.ts";
import { QpackDecoder } from "../../src/edge/h3/qpack_decoder.ts";
import { withTimeout } from "./timeout.ts";

/** A response read off a request stream. */
export interface H3Response {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** An HTTP/3 connection to a test server. */
export interface H3Client {
  readonly conn: Deno.QuicConn;
  /** The server's SETTINGS, once its control stream delivered them. */
  readonly settings: Promise<Map<number, number>>;
  /** GOAWAY ids the server sent, in order. */
  readonly goaways: number[];
  /** Resolves with the close code and reason once the connection closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends a request (HEADERS, then a DATA frame when `body` is given) and reads the response. */
  request(fields: FieldLine[], options?: { body?: Uint8Array }): Promise<H3Response>;
  /** Opens a request stream carrying exactly `bytes` (then FIN unless `fin` is false). */
  raw(bytes: Uint8Array, options?: { fin?: boolean }): Promise<Deno.QuicBidirectionalStream>;
  /** Opens a unidirectional stream carrying exactly `bytes` (left open). */
  uni(bytes: Uint8Array): Promise<void>;
  close(): void;
}

/** `GET https://127.0.0.1:<port><path>` as request fields. */
export function getFields(port: number, path: string, method = "GET"): FieldLine[] {
  return [
    [":method", method],
    [":scheme", "https"],
    [":authority", `127.0.0.1:${port}`],
    [":path", path],
  ];
}

/**
 * Connects, opens the client control stream with SETTINGS (unless `control` is false) and
 * reads the server's control stream.
 */
export async function connectH3(
  port: number,
  ca: string,
  options: { control?: boolean } = {},
): Promise<H3Client> {
  const conn = await withTimeout(
    Promise.resolve(Deno.connectQuic({
      hostname: "127.0.0.1",
      port,
      alpnProtocols: ["h3"],
      caCerts: [ca],
      serverName: "localhost",
    })),
    10_000,
    "the QUIC handshake",
  );
  const closed = conn.closed.then(
    (info) => ({ code: info.closeCode, reason: info.reason }),
    (error) => ({ code: -1, reason: String(error) }),
  );
  const goaways: number[] = [];
  const settings = Promise.withResolvers<Map<number, number>>();
  settings.promise.catch(() => {});
  void (async () => {
    const streams = conn.incomingUnidirectionalStreams.getReader();
    while (true) {
      const { value, done } = await streams.read();
      if (done) return;
      const reader = value.getReader();
      const first = await reader.read();
      if (first.done || first.value[0] !== 0x00) continue;
      const parser = new FrameParser(() => ({ action: "buffer", limit: 1 << 16 }));
      parser.push(first.value.subarray(1));
      while (true) {
        for (const event of parser.drain()) {
          if (event.kind !== "frame") continue;
          if (event.type === FrameType.SETTINGS) settings.resolve(decodeSettings(event.payload));
          if (event.type === FrameType.GOAWAY) goaways.push(decodeIdPayload(event.payload));
        }
        const next = await reader.read();
        if (next.done) break;
        parser.push(next.value);
      }
    }
  })().catch(() => {});
  // Streams the client leaves open are held here until the connection closes: the runtime
  // finishes a send stream whose object is collected, and a peer seeing the control stream
  // end closes the connection with H3_CLOSED_CRITICAL_STREAM (RFC 9114 §6.2.1).
  // (Held through the pending close, so a test that stops using the client keeps them.)
  const held: WritableStreamDefaultWriter<Uint8Array>[] = [];
  void closed.then(() => held.splice(0));
  if (options.control !== false) {
    const control = (await conn.createUnidirectionalStream()).getWriter();
    held.push(control);
    await control.write(concat([Uint8Array.of(0x00), encodeSettings([])]));
  }
  const decoder = new QpackDecoder({ maxTableCapacity: 0 });
  const raw = async (bytes: Uint8Array, o: { fin?: boolean } = {}) => {
    const stream = await conn.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(bytes);
    if (o.fin !== false) await writer.close();
    else writer.releaseLock();
    return stream;
  };
  return {
    conn,
    settings: settings.promise,
    goaways,
    closed,
    async request(fields, o = {}) {
      const parts = [encodeFrame(FrameType.HEADERS, encodeFieldSection(fields))];
      if (o.body) parts.push(encodeFrame(FrameType.DATA, o.body));
      const stream = await raw(concat(parts));
      return await readResponse(stream.readable, decoder);
    },
    raw,
    async uni(bytes) {
      const stream = await conn.createUnidirectionalStream();
      const writer = stream.getWriter();
      held.push(writer);
      await writer.write(bytes);
    },
    close: () => {
      try {
        conn.close({ closeCode: 0x100, reason: "" });
      } catch {
        // Already closed.
      }
    },
  };
}

/** Reads HEADERS and DATA frames of a response stream to its end. */
export async function readResponse(
  readable: ReadableStream<Uint8Array>,
  decoder = new QpackDecoder({ maxTableCapacity: 0 }),
): Promise<H3Response> {
  const parser = new FrameParser((type) =>
    type === FrameType.DATA ? { action: "stream" } : { action: "buffer", limit: 1 << 20 }
  );
  const events: FrameEvent[] = [];
  const reader = readable.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
    events.push(...parser.drain());
  }
  const head = events.find((e) => e.kind === "frame" && e.type === FrameType.HEADERS);
  if (!head || head.kind !== "frame") throw new Error("response without HEADERS");
  const section = decoder.decodeFieldSection(0, head.payload);
  if (section.blocked) throw new Error("blocked response section");
  const headers = new Headers();
  let status = 0;
  for (const [name, value] of section.fields) {
    if (name === ":status") status = Number(value);
    else headers.append(name, value);
  }
  const body = concat(events.flatMap((e) => e.kind === "data" ? [e.chunk] : []));
  return { status, headers, body };
}
