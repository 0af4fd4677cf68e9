import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { ProxyError } from "../../../errors/mod.ts";
import { blankBox, childBoxes, readBoxHeader, readFullBox } from "./boxes.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);
const invalid = (e: unknown) => e instanceof ProxyError && e.reason === "segment_invalid";

Deno.test("readBoxHeader() reads 32-bit, largesize, size-0 and uuid headers", () => {
  assertEquals(readBoxHeader(bytes(0, 0, 0, 12, 0x66, 0x72, 0x65, 0x65, 1, 2, 3, 4), 0, 12), {
    type: "free",
    start: 0,
    headerSize: 8,
    end: 12,
  });
  const large = bytes(0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0, 0, 0, 1, 0, 0, 0, 0);
  assertEquals(readBoxHeader(large, 0, 16), {
    type: "mdat",
    start: 0,
    headerSize: 16,
    end: 0x1_0000_0000,
  });
  const open = bytes(9, 9, 0, 0, 0, 0, 0x6d, 0x64, 0x61, 0x74);
  assertEquals(readBoxHeader(open, 2, 10)?.end, 10);
  assertEquals(readBoxHeader(open, 2, 10, true)?.end, Infinity);
  const uuid = new Uint8Array(24);
  uuid.set([0, 0, 0, 24, 0x75, 0x75, 0x69, 0x64]);
  assertEquals(readBoxHeader(uuid, 0, 24)?.headerSize, 24);
});

Deno.test("readBoxHeader() wants more bytes for a partial header and refuses a short size", () => {
  assertEquals(readBoxHeader(bytes(0, 0, 0, 12, 0x66, 0x72, 0x65), 0, 7), null);
  assertEquals(readBoxHeader(bytes(0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0, 0), 0, 10), null);
  throws(() => readBoxHeader(bytes(0, 0, 0, 7, 0x66, 0x72, 0x65, 0x65), 0, 8), invalid);
  throws(
    () => readBoxHeader(bytes(0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0, 0, 0, 0, 0, 0, 0, 8), 0, 16),
    invalid,
  );
});

Deno.test("childBoxes() lists boxes end to end and refuses one that overruns", () => {
  const two = bytes(0, 0, 0, 8, 0x61, 0x61, 0x61, 0x61, 0, 0, 0, 9, 0x62, 0x62, 0x62, 0x62, 7);
  assertEquals(childBoxes(two, 0, 17).map((b) => [b.type, b.start, b.end]), [
    ["aaaa", 0, 8],
    ["bbbb", 8, 17],
  ]);
  throws(() => childBoxes(two, 0, 16), invalid);
});

Deno.test("readFullBox() reads version and flags; blankBox() keeps the size, zeroes the body", () => {
  const senc = bytes(0, 0, 0, 16, 0x73, 0x65, 0x6e, 0x63, 1, 0, 0, 2, 0xaa, 0xbb, 0xcc, 0xdd);
  const box = readBoxHeader(senc, 0, 16)!;
  assertEquals(readFullBox(senc, box), { version: 1, flags: 2, body: 12 });
  blankBox(senc, box);
  assertEquals(senc, bytes(0, 0, 0, 16, 0x66, 0x72, 0x65, 0x65, 0, 0, 0, 0, 0, 0, 0, 0));
  const large = bytes(0, 0, 0, 1, 0x73, 0x65, 0x6e, 0x63, 0, 0, 0, 0, 0, 0, 0, 18, 5, 5);
  blankBox(large, readBoxHeader(large, 0, 18)!);
  assertEquals(large, bytes(0, 0, 0, 1, 0x66, 0x72, 0x65, 0x65, 0, 0, 0, 0, 0, 0, 0, 18, 0, 0));
});
