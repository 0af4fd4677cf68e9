import assert from "node:assert/strict";
import { decodeHuffman, encodeHuffman, huffmanCode, HuffmanError } from "./huffman.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("the canonical codes match RFC 7541 Appendix B", () => {
  // Rows of the table: (symbol, code as hex aligned to the LSB, length).
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [10, 0x3ffffffc, 30],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [97, 0x3, 5],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [200, 0x3ffffe2, 26],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  for (const [symbol, code, length] of rows) {
    assert.deepEqual(huffmanCode(symbol), { code, length }, `symbol ${symbol}`);
  }
});

// RFC 7541 §C.4 and §C.6 (Huffman-coded literals).
const EXAMPLES: [string, string][] = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["private", "aec3 771a 4b"],
  ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
];

Deno.test("decodeHuffman() and encodeHuffman() agree with RFC 7541 Appendix C", () => {
  for (const [plain, coded] of EXAMPLES) {
    assert.equal(text(decodeHuffman(hex(coded))), plain);
    assert.deepEqual(encodeHuffman(bytes(plain)), hex(coded), plain);
  }
});

Deno.test("every byte value round-trips", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(decodeHuffman(encodeHuffman(all)), all);
  assert.deepEqual(decodeHuffman(new Uint8Array()), new Uint8Array());
});

Deno.test("decodeHuffman() refuses bad padding and EOS (RFC 7541 §5.2)", () => {
  // "0" is 00000 (5 bits); padding with zeros instead of ones.
  assert.throws(() => decodeHuffman(hex("00")), HuffmanError);
  // A whole byte of padding after a complete code: more than 7 bits.
  assert.throws(() => decodeHuffman(hex("07ff")), HuffmanError);
  // The EOS code itself (30 ones) followed by padding.
  assert.throws(() => decodeHuffman(hex("ffffffff")), HuffmanError);
  // "0" then three bits of ones: valid.
  assert.equal(text(decodeHuffman(hex("07"))), "0");
});
