import assert from "node:assert/strict";
import {
  encodeFieldSection,
  QPACK_DECOMPRESSION_FAILED,
  QPACK_ENCODER_STREAM_ERROR,
  QpackError,
} from "./qpack.ts";
import { FieldSectionTooLarge, QpackDecoder } from "./qpack_decoder.ts";
import { STATIC_TABLE } from "./qpack_static_table.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array | undefined) =>
  b === undefined ? "none" : [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("the static table has the 99 entries of RFC 9204 Appendix A", () => {
  assert.equal(STATIC_TABLE.length, 99);
  assert.deepEqual(STATIC_TABLE[0], [":authority", ""]);
  assert.deepEqual(STATIC_TABLE[17], [":method", "GET"]);
  assert.deepEqual(STATIC_TABLE[25], [":status", "200"]);
  assert.deepEqual(STATIC_TABLE[52], ["content-type", "text/html; charset=utf-8"]);
  assert.deepEqual(STATIC_TABLE[71], [":status", "500"]);
  assert.deepEqual(STATIC_TABLE[98], ["x-frame-options", "sameorigin"]);
});

// RFC 9204 B.1: Literal Field Line with Name Reference.
Deno.test("RFC 9204 B.1: a literal with a static name reference, both ways", () => {
  const wire = hex("0000 510b 2f69 6e64 6578 2e68 746d 6c");
  assert.deepEqual(encodeFieldSection([[":path", "/index.html"]], { huffman: false }), wire);
  const decoder = new QpackDecoder({ maxTableCapacity: 220 });
  const section = decoder.decodeFieldSection(0, wire);
  assert.deepEqual(section, {
    blocked: false,
    fields: [[":path", "/index.html"]],
    requiredInsertCount: 0,
  });
  // A section without dynamic references is not acknowledged.
  assert.equal(decoder.takeDecoderInstructions(), undefined);
});

// RFC 9204 B.2 to B.5, in order, on one decoder.
Deno.test("RFC 9204 B.2-B.5: dynamic table inserts, duplicate, cancellation, eviction", () => {
  const decoder = new QpackDecoder({ maxTableCapacity: 220 });

  // B.2 Dynamic Table.
  decoder.receiveEncoderStream(hex(
    "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468",
  ));
  assert.equal(decoder.insertCount, 2);
  assert.equal(decoder.tableSize, 106);
  assert.deepEqual(decoder.decodeFieldSection(4, hex("0381 10 11")), {
    blocked: false,
    fields: [[":authority", "www.example.com"], [":path", "/sample/path"]],
    requiredInsertCount: 2,
  });
  assert.equal(toHex(decoder.takeDecoderInstructions()), "84"); // Section Acknowledgment (4)

  // B.3 Speculative Insert.
  decoder.receiveEncoderStream(hex("4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565"));
  assert.equal(decoder.tableSize, 160);
  assert.equal(toHex(decoder.takeDecoderInstructions()), "01"); // Insert Count Increment (1)

  // B.4 Duplicate Instruction, Stream Cancellation: the section arrives before the insert.
  const stream8 = hex("0500 80 c1 81");
  assert.deepEqual(decoder.decodeFieldSection(8, stream8), {
    blocked: true,
    requiredInsertCount: 4,
  });
  decoder.cancelStream(8);
  assert.equal(toHex(decoder.takeDecoderInstructions()), "48"); // Stream Cancellation (8)
  decoder.receiveEncoderStream(hex("02"));
  assert.equal(decoder.insertCount, 4);
  assert.equal(decoder.tableSize, 217);
  // Once the insert is there the same section decodes.
  const late = decoder.decodeFieldSection(8, stream8);
  assert.deepEqual(late.blocked === false && late.fields, [
    [":authority", "www.example.com"],
    [":path", "/"],
    ["custom-key", "custom-value"],
  ]);

  // B.5 Dynamic Table Insert, Eviction (relative index 1 = absolute 2).
  decoder.receiveEncoderStream(hex("810d 6375 7374 6f6d 2d76 616c 7565 32"));
  assert.equal(decoder.insertCount, 5);
  assert.equal(decoder.tableSize, 215);
  // Entry 4 is the new one: Required Insert Count 5 (encoded 6), Base 4, post-base index 0.
  const evicted = decoder.decodeFieldSection(12, hex("0680 10"));
  assert.deepEqual(evicted.blocked === false && evicted.fields, [["custom-key", "custom-value2"]]);
  // Entry 0 was evicted: Base 5, relative index 4 = absolute 0.
  assert.throws(() => decoder.decodeFieldSection(16, hex("0600 84")), QpackError);
  // Entry 1 is still there.
  const kept = decoder.decodeFieldSection(16, hex("0600 83"));
  assert.deepEqual(kept.blocked === false && kept.fields, [[":path", "/sample/path"]]);
});

Deno.test("an instruction split across encoder stream chunks is applied once complete", () => {
  const decoder = new QpackDecoder({ maxTableCapacity: 220 });
  const bytes = hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d");
  for (const b of bytes) decoder.receiveEncoderStream(Uint8Array.of(b));
  assert.equal(decoder.insertCount, 1);
  assert.equal(decoder.tableSize, 57);
});

Deno.test("encodeFieldSection() output decodes to the same fields (Huffman on)", () => {
  const fields: [string, string][] = [
    [":status", "200"],
    [":status", "206"],
    ["content-type", "video/mp2t"],
    ["x-request-id", "3f2a-Ü-\xff"],
    ["access-control-allow-origin", "*"],
    ["cache-control", "max-age=604800"],
    ["content-length", "1234567"],
  ];
  const wire = encodeFieldSection(fields);
  // :status 200 is static index 25: one byte 0xc0|25.
  assert.equal(wire[2], 0xd9);
  const section = new QpackDecoder({ maxTableCapacity: 0 }).decodeFieldSection(0, wire);
  assert.deepEqual(section.blocked === false && section.fields, fields);
});

Deno.test("malformed sections and encoder instructions fail with their QPACK codes", () => {
  const decoder = new QpackDecoder({ maxTableCapacity: 0 });
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof QpackError) return error.code;
      throw error;
    }
    return "no error";
  };
  // Static index 99 is past the table.
  assert.equal(
    code(() => decoder.decodeFieldSection(0, hex("0000 ff24"))),
    QPACK_DECOMPRESSION_FAILED,
  );
  // A string that runs past the end.
  assert.equal(
    code(() => decoder.decodeFieldSection(0, hex("0000 510b 2f69"))),
    QPACK_DECOMPRESSION_FAILED,
  );
  // Prefix cut short.
  assert.equal(code(() => decoder.decodeFieldSection(0, hex("00"))), QPACK_DECOMPRESSION_FAILED);
  // A Required Insert Count with a zero-capacity table.
  assert.equal(
    code(() => decoder.decodeFieldSection(0, hex("0200 80"))),
    QPACK_DECOMPRESSION_FAILED,
  );
  // A capacity above the advertised maximum (0).
  assert.equal(code(() => decoder.receiveEncoderStream(hex("3fbd01"))), QPACK_ENCODER_STREAM_ERROR);
  // An insert into a zero-capacity table.
  assert.equal(
    code(() => decoder.receiveEncoderStream(hex("c00f 7777 772e 6578 616d 706c 652e 636f 6d"))),
    QPACK_ENCODER_STREAM_ERROR,
  );
  // A huge integer.
  assert.equal(
    code(() => decoder.decodeFieldSection(0, hex("0000 ffffffffffffff7f"))),
    QPACK_DECOMPRESSION_FAILED,
  );
});

Deno.test("decodeFieldSection() stops at the field section size limit", () => {
  const decoder = new QpackDecoder({ maxTableCapacity: 0 });
  const wire = encodeFieldSection([["x-a", "1".repeat(100)], ["x-b", "2".repeat(100)]]);
  // First line: 3 + 100 + 32 = 135 bytes; both: 270.
  assert.throws(() => decoder.decodeFieldSection(0, wire, 200), FieldSectionTooLarge);
  const fits = decoder.decodeFieldSection(0, wire, 270);
  assert.equal(fits.blocked === false && fits.fields.length, 2);
});
