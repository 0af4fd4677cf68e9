import assert from "node:assert/strict";
import {
  decodeIdPayload,
  decodeSettings,
  encodeFrame,
  encodeGoaway,
  encodeSettings,
  errorCodeName,
  type FrameEvent,
  FrameParser,
  FrameType,
  H3Code,
  H3Error,
} from "./frames.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

const bufferAll = () => ({ action: "buffer" as const, limit: 1024 });
const streamData = (type: number) =>
  type === FrameType.DATA
    ? { action: "stream" as const }
    : type === FrameType.HEADERS || type === FrameType.SETTINGS
    ? { action: "buffer" as const, limit: 64 }
    : { action: "skip" as const };

function parseAll(bytes: Uint8Array, policy = streamData, step = bytes.length): FrameEvent[] {
  const parser = new FrameParser(policy);
  const events: FrameEvent[] = [];
  for (let i = 0; i < bytes.length; i += step) {
    parser.push(bytes.subarray(i, i + step));
    events.push(...parser.drain());
  }
  assert.ok(parser.atBoundary, "the parser ends between frames");
  return events;
}

// RFC 9114 §7.1: Type (i), Length (i), Frame Payload (..).
Deno.test("encodeFrame() lays out type, length and payload (RFC 9114 §7.1)", () => {
  assert.deepEqual(
    encodeFrame(FrameType.DATA, new TextEncoder().encode("hello")),
    hex("00 05 68656c6c6f"),
  );
  assert.deepEqual(encodeFrame(FrameType.HEADERS, hex("0000d9")), hex("01 03 0000d9"));
  // A payload of 64 bytes needs a two-byte length.
  assert.deepEqual(encodeFrame(FrameType.DATA, new Uint8Array(64)).subarray(0, 3), hex("00 4040"));
  // §7.2.6 GOAWAY: one varint.
  assert.deepEqual(encodeGoaway(4), hex("07 01 04"));
  assert.deepEqual(encodeGoaway(16384), hex("07 04 80004000"));
});

// RFC 9114 §7.2.4: Identifier (i), Value (i) pairs.
Deno.test("encodeSettings()/decodeSettings() (RFC 9114 §7.2.4, RFC 9204 §5)", () => {
  const frame = encodeSettings([[0x01, 4096], [0x06, 32768], [0x07, 0]]);
  assert.deepEqual(frame, hex("04 0a 01 5000 06 80008000 07 00"));
  assert.deepEqual(
    decodeSettings(frame.subarray(2)),
    new Map([[0x01, 4096], [0x06, 32768], [0x07, 0]]),
  );
  // A GREASE setting (0x1f * N + 0x21) is kept like any unknown one.
  assert.deepEqual(decodeSettings(hex("21 00")), new Map([[0x21, 0]]));
  const code = (payload: string) => {
    try {
      decodeSettings(hex(payload));
      return "none";
    } catch (error) {
      return errorCodeName((error as H3Error).code);
    }
  };
  assert.equal(code("01 00 01 00"), "H3_SETTINGS_ERROR"); // repeated
  assert.equal(code("02 00"), "H3_SETTINGS_ERROR"); // HTTP/2 SETTINGS_ENABLE_PUSH
  assert.equal(code("05 00"), "H3_SETTINGS_ERROR"); // HTTP/2 SETTINGS_MAX_FRAME_SIZE
  assert.equal(code("01"), "H3_FRAME_ERROR"); // cut mid-pair
  assert.equal(code("06 80"), "H3_FRAME_ERROR"); // cut mid-varint
});

Deno.test("decodeIdPayload() takes exactly one varint", () => {
  assert.equal(decodeIdPayload(hex("4004")), 4);
  assert.throws(() => decodeIdPayload(hex("04 00")), H3Error);
  assert.throws(() => decodeIdPayload(new Uint8Array()), H3Error);
});

Deno.test("FrameParser streams DATA, buffers HEADERS, skips unknown frames, at any split", () => {
  const bytes = hex(
    "01 03 0000d9" + // HEADERS
      "21 02 abcd" + // reserved (GREASE) type 0x21: skipped
      "00 05 68656c6c6f" + // DATA "hello"
      "00 00" + // empty DATA
      "01 02 0000", // trailing HEADERS
  );
  for (const step of [1, 2, 3, 7, bytes.length]) {
    const events = parseAll(bytes, streamData, step);
    const headers = events.filter((e) => e.kind === "frame");
    assert.deepEqual(headers, [
      { kind: "frame", type: 1, payload: hex("0000d9") },
      { kind: "frame", type: 1, payload: hex("0000") },
    ], `step ${step}`);
    const data = events.filter((e) => e.kind === "data").map((e) =>
      e.kind === "data" ? [...e.chunk] : []
    ).flat();
    assert.equal(new TextDecoder().decode(Uint8Array.from(data)), "hello", `step ${step}`);
    assert.equal(
      events.findIndex((e) => e.kind === "data") > events.findIndex((e) => e.kind === "frame"),
      true,
    );
  }
});

Deno.test("FrameParser refuses a frame over its limit before buffering it", () => {
  const parser = new FrameParser(streamData);
  // HEADERS of 65 bytes, limit 64: only the header has arrived.
  parser.push(hex("01 4041"));
  assert.throws(() => [...parser.drain()], (e: H3Error) => e.code === H3Code.EXCESSIVE_LOAD);
  const settings = new FrameParser(streamData);
  settings.push(hex("04 4041"));
  assert.throws(() => [...settings.drain()], (e: H3Error) => e.code === H3Code.FRAME_ERROR);
});

Deno.test("FrameParser reports a stream cut mid-frame (not at a boundary)", () => {
  const parser = new FrameParser(bufferAll);
  parser.push(hex("01 05 0000"));
  assert.deepEqual([...parser.drain()], []);
  assert.equal(parser.atBoundary, false);
  const half = new FrameParser(bufferAll);
  half.push(hex("01"));
  assert.deepEqual([...half.drain()], []);
  assert.equal(half.atBoundary, false);
});

Deno.test("a policy that throws stops the parser with that error", () => {
  const parser = new FrameParser((type) => {
    if (type === 0x02) throw new H3Error(H3Code.FRAME_UNEXPECTED, "HTTP/2 PRIORITY");
    return { action: "skip" };
  });
  parser.push(hex("02 00"));
  assert.throws(() => [...parser.drain()], (e: H3Error) => e.code === 0x105);
  assert.equal(errorCodeName(0x105), "H3_FRAME_UNEXPECTED");
  assert.equal(errorCodeName(0x200), "QPACK_DECOMPRESSION_FAILED");
  assert.equal(errorCodeName(0x999), "unknown");
});
