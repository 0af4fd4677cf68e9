import assert from "node:assert/strict";
import { encodeVarint, readVarint, readVarintBigInt } from "./varint.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

// RFC 9000 §A.1 (Sample Variable-Length Integer Decoding).
Deno.test("readVarint() decodes the RFC 9000 §A.1 examples", () => {
  assert.deepEqual(readVarintBigInt(hex("c2197c5eff14e88c"), 0), {
    value: 151288809941952652n,
    length: 8,
  });
  assert.deepEqual(readVarint(hex("9d7f3e7d"), 0), { value: 494878333, length: 4 });
  assert.deepEqual(readVarint(hex("7bbd"), 0), { value: 15293, length: 2 });
  assert.deepEqual(readVarint(hex("25"), 0), { value: 37, length: 1 });
  // "the two-byte sequence 0x40 0x25 also decodes to 37"
  assert.deepEqual(readVarint(hex("4025"), 0), { value: 37, length: 2 });
});

Deno.test("encodeVarint() writes the shortest form of the RFC 9000 §A.1 values", () => {
  assert.deepEqual(encodeVarint(151288809941952652n), hex("c2197c5eff14e88c"));
  assert.deepEqual(encodeVarint(494878333), hex("9d7f3e7d"));
  assert.deepEqual(encodeVarint(15293), hex("7bbd"));
  assert.deepEqual(encodeVarint(37), hex("25"));
});

Deno.test("varints at each length boundary round-trip", () => {
  for (const v of [0, 63, 64, 16383, 16384, 1073741823, 1073741824, 2 ** 40]) {
    const bytes = encodeVarint(v);
    assert.equal(bytes.length, v < 64 ? 1 : v < 16384 ? 2 : v < 1073741824 ? 4 : 8, `${v}`);
    assert.deepEqual(readVarint(bytes, 0), { value: v, length: bytes.length });
  }
  assert.deepEqual(encodeVarint((1n << 62n) - 1n), hex("ffffffffffffffff"));
  assert.throws(() => encodeVarint(1n << 62n), RangeError);
  assert.throws(() => encodeVarint(-1), RangeError);
});

Deno.test("readVarint() returns undefined on a truncated integer, at an offset", () => {
  assert.equal(readVarint(hex("7b"), 0), undefined);
  assert.equal(readVarint(hex("c2197c5eff14e8"), 0), undefined);
  assert.equal(readVarint(new Uint8Array(), 0), undefined);
  assert.deepEqual(readVarint(hex("ff7bbd"), 1), { value: 15293, length: 2 });
});
